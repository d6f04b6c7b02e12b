/**
 * Typed tasks end to end on the real Redis: `machinery worker` runs the example tasks with Go's
 * parameter types and int64 arithmetic, and `machinery send … --wait` sees what a Go worker
 * gives: `reflect` failures, exact 64-bit results with Go's type names.
 */
import { after, before, describe, it } from "node:test";
import assert from "node:assert/strict";
import { type Child, cli, startWorker, stopWorker } from "./cli_support.ts";
import {
  deleteRedisKeys,
  REDIS_URL,
  redisSkipReason,
  uniqueName,
} from "./integration/redis_support.ts";

const TIMEOUT = 60_000;
const redisSkip = await redisSkipReason();
/** Bun 1.3's node:test ignores the `skip` option but honours `describe.skip`. */
const describeRedis = redisSkip ? describe.skip : describe;

describeRedis("typed tasks through the CLI on Redis", () => {
  const queue = uniqueName("cli_typed");
  const delayedKey = `${queue}_delayed`;
  const env = {
    BROKER: REDIS_URL,
    RESULT_BACKEND: REDIS_URL,
    DEFAULT_QUEUE: queue,
    REDIS_DELAYED_TASKS_KEY: delayedKey,
    RESULTS_EXPIRE_IN: "300",
  };
  const uuids: string[] = [];
  let worker: Child;

  /** `send TASK --arg … --wait`; remembers the UUID for the clean-up. */
  async function send(task: string, ...args: string[]) {
    const argv = ["send", task, ...args.flatMap((a) => ["--arg", a]), "--wait"];
    const run = await cli(argv, env);
    uuids.push(run.stdout.split("\n")[0]);
    return run;
  }

  // Bun runs the hooks of a skipped suite: they check the skip themselves.
  before(async () => {
    if (redisSkip) return;
    worker = await startWorker(["--tasks", "tests/fixtures/cli_tasks_typed.ts"], env);
  }, { timeout: TIMEOUT });

  after(async () => {
    if (redisSkip) return;
    if (worker) await stopWorker(worker);
    await deleteRedisKeys([delayedKey, ...uuids], [queue]);
  }, { timeout: TIMEOUT });

  it("an ill-typed call fails with Go's reflect text", { timeout: TIMEOUT }, async () => {
    const cases: [string, string[], string][] = [
      ["add", ["int64:1", "string:x"], "reflect: cannot use string as type int64 in Call"],
      ["sum_ints", ["int64:1"], "reflect: Call using int64 as type []int64"],
      ["split", [], "reflect: Call with too few input arguments"],
      ["split", ["string:a", "string:b"], "reflect: Call with too many input arguments"],
    ];
    for (const [task, args, error] of cases) {
      const { code, stdout, stderr } = await send(task, ...args);
      assert.equal(code, 1, `${task}: ${stderr}`);
      assert.equal(stdout.trimEnd().split("\n").length, 1, stdout);
      assert.ok(stderr.includes(`failed: ${error}\n`), `${task}: ${stderr}`);
    }
  });

  it("int64 results are exact and wrap as in Go", { timeout: TIMEOUT }, async () => {
    const cases: [string, string[], string][] = [
      ["multiply", ["int64:3037000499", "int64:3037000499"], "[9223372030926249001]"],
      ["multiply", ["int64:4294967296", "int64:4294967296"], "[0]"],
      ["add", ["int64:9223372036854775807", "int64:1"], "[-9223372036854775808]"],
      ["sum_ints", ["[]int64:[9007199254740993,1]"], "[9007199254740994]"],
    ];
    for (const [task, args, results] of cases) {
      const { code, stdout, stderr } = await send(task, ...args);
      assert.equal(code, 0, `${task}: ${stderr}`);
      assert.equal(stdout.split("\n")[1], results, task);
    }
  });

  it("the stored state carries Go's type name and digits", { timeout: TIMEOUT }, async () => {
    const sent = await send("multiply", "int64:3037000499", "int64:3037000499");
    assert.equal(sent.code, 0, sent.stderr);
    const uuid = sent.stdout.split("\n")[0];
    const state = await cli(["state", uuid], env);
    assert.equal(state.code, 0, state.stderr);
    assert.ok(
      state.stdout.includes(`"Results":[{"Type":"int64","Value":9223372030926249001}]`),
      state.stdout,
    );
    const wrapped = await send("add", "int64:9223372036854775807", "int64:1");
    const wrappedState = await cli(["state", wrapped.stdout.split("\n")[0]], env);
    assert.ok(
      wrappedState.stdout.includes(`"Results":[{"Type":"int64","Value":-9223372036854775808}]`),
      wrappedState.stdout,
    );
  });

  it("a --tasks module declares types, and replacing a built-in is logged", {
    timeout: TIMEOUT,
  }, async () => {
    assert.match(
      worker.stderr(),
      /WARNING:? The tasks module "tests\/fixtures\/cli_tasks_typed\.ts" replaces the built-in task "HelloWorld"\n/,
    );
    assert.doesNotMatch(worker.stderr(), /replaces the built-in task "(?!HelloWorld)/);
    const ok = await send("repeat", "string:ab", "int64:1", "int64:2");
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(ok.stdout.split("\n")[1], '["ababab"]');
    const bad = await send("repeat", "string:ab", "string:2");
    assert.equal(bad.code, 1, bad.stderr);
    assert.ok(
      bad.stderr.includes("failed: reflect: cannot use string as type int64 in Call\n"),
      bad.stderr,
    );
    const hello = await send("HelloWorld", "string:you");
    assert.equal(hello.stdout.split("\n")[1], '["Hello, you"]');
  });
});
