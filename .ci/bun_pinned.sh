#!/usr/bin/env bash
# Under Bun, a fresh clone resolves exactly the driver versions deno.lock records: before
# `deno install` Bun resolves no driver at all (bunfig.toml turns auto-install off, so it cannot
# fetch newer majors of its own), and after it every driver has deno.lock's version.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CLONE=$(mktemp -d)
trap 'rm -rf "$CLONE"' EXIT
git clone --quiet "$ROOT" "$CLONE/repo"
cd "$CLONE/repo"

echo "== before deno install"
if bun .ci/bun_versions.mjs | tee "$CLONE/before.log" | grep -v "not resolved"; then
  echo "FAILED: Bun resolved drivers the clone has not installed (auto-install is on)" >&2
  exit 1
fi
echo "== deno install"
deno install >/dev/null 2>&1
bun .ci/bun_versions.mjs
