#!/usr/bin/env bash
# The npm package, proven from its packed artifact: builds dist/npm, packs it, and in fresh
# temporary projects that hold nothing else from the repository
#   - Node: npm install <tarball>, HelloWorld on the memory engine and on Redis, a TypeScript
#     program type-checked against the package's .d.ts (tsc --noEmit), `npx machinery demo`, and
#     the conformance suite's memory and Redis scenarios run by node:test on the installed package;
#   - Bun: bun add <tarball> and the same HelloWorld.
# Needs deno, bun, node and npm on PATH, the npm registry, and Redis on 127.0.0.1:6379
# (REDIS_URL). Each step prints "ok: <step>"; the first failure ends the run with status 1.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
REDIS=${REDIS_URL:-redis://127.0.0.1:6379}
EXPECTED='["Hi, i'"'"'m worker@localhost"]'
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

ok() { echo "ok: $*"; }
fail() {
  echo "FAILED: $*" >&2
  exit 1
}
# Runs a HelloWorld and checks that its one line of stdout is machinery's.
expect_hello() {
  local label=$1
  shift
  local out
  out=$("$@" 2>"$WORK/hello.err") || fail "$label: exit $?: $(cat "$WORK/hello.err")"
  [ "$out" = "$EXPECTED" ] || fail "$label printed '$out', expected '$EXPECTED'"
  ok "$label prints $out"
}

deno task build:npm
TARBALL=$(cd dist/npm && npm pack --silent --pack-destination "$WORK")
TARBALL=$WORK/$TARBALL
ok "packed $(basename "$TARBALL")"

# --- Node --------------------------------------------------------------------------------------
NODE_PROJECT=$WORK/node
mkdir -p "$NODE_PROJECT" && cd "$NODE_PROJECT"
echo '{ "name": "node-check", "private": true, "type": "module" }' >package.json
npm install --no-audit --no-fund --silent "$TARBALL" typescript@5.9 @types/node@20
cp "$ROOT/tests/package/hello.mjs" .
expect_hello "node $(node --version) memory" node hello.mjs
expect_hello "node $(node --version) redis" node hello.mjs "$REDIS" "$REDIS"

# Strict, and the package's own .d.ts checked too (skipLibCheck off). @types/node is there as in
# any Node TypeScript project: the drivers' types (ioredis, amqplib) need it.
cat >typed.ts <<'EOF'
import { MemoryBackend, MemoryBroker, Server, type Signature } from "@machinery/machinery";
import { RedisBroker } from "@machinery/machinery/redis";
import { AMQPBroker } from "@machinery/machinery/amqp";
import { MemcacheBackend } from "@machinery/machinery/memcache";
import { MongoDBBackend } from "@machinery/machinery/mongodb";
import { encodeSignature } from "@machinery/machinery/wire";

const server = new Server({ broker: new MemoryBroker(), backend: new MemoryBackend() });
const add = server.registerTask("add", (a: number, b: number) => a + b);
const signature: Signature = add.signature(1, 2);
// @ts-expect-error: the handle types the arguments
add.signature("1", 2);
const bytes: string = encodeSignature(signature);
const adapters: unknown[] = [RedisBroker, AMQPBroker, MemcacheBackend, MongoDBBackend];
console.log(bytes.length, adapters.length);
EOF
cat >tsconfig.json <<'EOF'
{
  "compilerOptions": {
    "target": "ES2022",
    "module": "NodeNext",
    "moduleResolution": "NodeNext",
    "strict": true,
    "noEmit": true,
    "skipLibCheck": false,
    "types": ["node"]
  },
  "files": ["typed.ts"]
}
EOF
npx tsc --noEmit -p tsconfig.json || fail "typed.ts does not type-check against the package"
ok "tsc --noEmit: typed.ts type-checks against the package's .d.ts"

npx machinery demo --long-running-seconds 1 >demo.out 2>demo.err ||
  fail "npx machinery demo: exit $?: $(tail -5 demo.err)"
grep -qxF '(1 + 1) * (2 + 2) * (5 + 6) = 88' demo.out || fail "demo printed: $(cat demo.out)"
grep -qxF 'Long running task returned = []' demo.out || fail "demo printed: $(cat demo.out)"
ok "npx machinery demo prints machinery's lines and exits 0"

# The suite compiled to JavaScript, its src/ and mod.js pointing into the installed package.
(cd "$ROOT" && deno run -A tests/package/build_conformance.ts "$NODE_PROJECT")
rm -rf src mod.js mod.d.ts
ln -s node_modules/@machinery/machinery/src src
ln -s node_modules/@machinery/machinery/mod.js mod.js
REQUIRE_SERVICES=1 node --test --test-reporter=spec tests/conformance/memory_test.js \
  tests/conformance/redis_test.js >conformance.log 2>&1 ||
  { tail -60 conformance.log; fail "the conformance suite on Node"; }
grep -E '^ℹ (tests|pass|fail)' conformance.log
ok "conformance memory + Redis scenarios pass on node $(node --version) against the package"

# --- Bun ---------------------------------------------------------------------------------------
BUN_PROJECT=$WORK/bun
mkdir -p "$BUN_PROJECT" && cd "$BUN_PROJECT"
echo '{ "name": "bun-check", "private": true, "type": "module" }' >package.json
bun add --silent "$TARBALL"
cp "$ROOT/tests/package/hello.mjs" .
expect_hello "bun $(bun --version) memory" bun hello.mjs
expect_hello "bun $(bun --version) redis" bun hello.mjs "$REDIS" "$REDIS"
