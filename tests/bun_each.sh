#!/usr/bin/env bash
# Runs every test file under Bun, one process per file. Bun's node:test cannot register a file's
# suites after a top-level await while another file's tests are running, so files that first ask
# whether a server answers must each get their own process. Extra arguments go to `bun test`;
# with JUNIT_DIR set, each file writes a JUnit report there.
set -u
cd "$(dirname "$0")/.."
status=0
for file in $(find tests -name '*_test.ts' | sort); do
  report=()
  if [ -n "${JUNIT_DIR:-}" ]; then
    report=(--reporter=junit --reporter-outfile="$JUNIT_DIR/$(echo "$file" | tr '/' '_').xml")
  fi
  echo "== bun test $file" >&2
  bun test "$file" "${report[@]}" "$@" || status=1
done
exit $status
