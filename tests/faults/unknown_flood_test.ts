/**
 * Fault scenario: 15,000 distinct unknown tasks on Redis. Each is given back with a growing
 * delay (1 s, 2 s, 4 s, 8 s …) whose count travels in the message, so the delays hold for any
 * number of messages (a per-process map of 10,000 entries used to be cleared, and every delay
 * dropped to 1 s). Redis commands are counted with `INFO commandstats` on a redis-server of
 * the test's own, over a window that starts once every message was given back four times: the
 * next delay is 8 s, so in the 6 s window no message may come back more than once.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { newTaskUUID } from "../../mod.ts";
import { waitFor } from "../helpers.ts";
import {
  type Child,
  describeFault,
  killAll,
  recordRow,
  signal,
  skipReason,
  startWorker,
} from "./support.ts";
import { commandCalls, ownRedisSkipReason, startOwnRedis } from "./own_redis.ts";

const SCENARIO = "15,000 unknown tasks";
const TASKS = 15_000;
const WINDOW_MS = 6_000;
/** Commands per message given back: the script call and what it runs, plus a share of each
 * fetch and delayed move (measured: about 9). */
const COMMANDS_PER_REQUEUE = 12;

const skip = (await skipReason("redis")) || ownRedisSkipReason();

describeFault(SCENARIO, "redis", skip, () => {
  it("keeps each message's back-off: at most one requeue each in a 6 s window", {
    timeout: 120_000,
  }, async () => {
    const children: Child[] = [];
    const redis = await startOwnRedis();
    const queue = "faults_unknown";
    const keyPrefix = `${queue}:`;
    const requeued = `${keyPrefix}requeued`;
    try {
      const bodies = Array.from(
        { length: TASKS },
        (_, i) => `{"UUID":"${newTaskUUID()}","Name":"no_such_task_${i}","Args":[]}`,
      );
      for (let i = 0; i < bodies.length; i += 1000) {
        await redis.client.rpush(queue, ...bodies.slice(i, i + 1000));
      }
      const worker = await startWorker({
        BROKER_URL: redis.url,
        BACKEND_URL: redis.url,
        QUEUE: queue,
        KEY_PREFIX: keyPrefix,
        CONCURRENCY: "50",
      });
      children.push(worker);
      const zadds = async () => (await commandCalls(redis.client)).get("zadd") ?? 0;
      await waitFor(
        async () => (await zadds()) >= 4 * TASKS,
        "every message given back four times",
        60_000,
      );
      const before = await commandCalls(redis.client);
      await new Promise((r) => setTimeout(r, WINDOW_MS)); // the measuring window
      const after = await commandCalls(redis.client);
      const delta = (name: string) => (after.get(name) ?? 0) - (before.get(name) ?? 0);
      let total = 0;
      for (const name of after.keys()) if (name !== "info") total += delta(name);
      const requeues = delta("zadd");
      const rss = worker.peakRssMiB();

      signal(worker, "SIGTERM");
      const exit = await worker.exited;
      assert.equal(exit.code, 0, worker.stderr());
      const held = (await redis.client.llen(queue)) + (await redis.client.zcard(requeued));
      // The count is in the message: a member due later carries 4 or more.
      const [member] = await redis.client.zrange(requeued, -1, -1);
      const count = Number(/"machinery_ts_requeues":(\d+)/.exec(member ?? "")?.[1] ?? 0);

      recordRow({
        scenario: SCENARIO,
        broker: "redis",
        tasks: TASKS,
        lost: TASKS - held,
        duplicated: 0,
        badInputs: 0,
        outcome: `${requeues} requeues, ${total} Redis commands in ${WINDOW_MS / 1000} s`,
        peakRssMiB: rss,
      });
      assert.equal(held, TASKS, "every unknown task is still held");
      assert.ok(requeues <= TASKS * 1.05, `${requeues} requeues in the window`);
      assert.ok(
        total <= TASKS * COMMANDS_PER_REQUEUE,
        `${total} Redis commands in the window (${requeues} requeues)`,
      );
      assert.ok(count >= 4, `the back-off count in the message is ${count}`);
    } finally {
      await killAll(children);
      await redis.stop();
    }
  });
});
