/**
 * Fault scenario 3, graceful shutdown, with the real command line (`cli.ts worker`):
 * - SIGTERM while 50 long tasks (3 s) run: they finish, tasks sent after the signal are not
 *   taken (they stay PENDING, in the queue), and the process exits 0 within the drain time
 *   (what is left of the tasks, plus 5 s).
 * - A second signal aborts: the process exits 1 at once, and the 50 aborted tasks are
 *   delivered again to the next worker, which completes them.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { type Broker, newSignature, Server, type Signature, silentLogger } from "../../mod.ts";
import { RedisBackend, RedisBroker } from "../../src/redis/mod.ts";
import { AMQPBroker } from "../../src/amqp/mod.ts";
import { waitFor } from "../helpers.ts";
import { deleteAMQP, uniqueName, withChannel } from "../integration/amqp_support.ts";
import {
  AMQP_URL,
  type Child,
  countStates,
  deleteKeys,
  deletePrefix,
  describeFault,
  killAll,
  recordRow,
  REDIS_URL,
  redisClient,
  runCounts,
  signal,
  skipReason,
  startScript,
  TASKS_MODULE,
  waitForOutput,
} from "./support.ts";

const SCENARIO = "graceful shutdown";
const LONG = 50;
const LATE = 10;
const TASK_MS = 3_000;
const DRAIN_MARGIN_MS = 5_000;

function longTask(ms: number): Signature {
  return newSignature("long", [{ name: "", type: "int64", value: ms }]);
}

for (const kind of ["redis", "amqp"] as const) {
  const skip = await skipReason(kind);
  describeFault(SCENARIO, kind, skip, () => {
    it("SIGTERM drains and exits 0; a second signal aborts and the tasks come back", {
      timeout: 150_000,
    }, async () => {
      const queue = uniqueName(`faults_shutdown_${kind}`);
      const exchange = `${queue}_exchange`;
      const runsKey = `${queue}:runs`;
      const delayedKey = `${queue}:delayed_tasks`;
      const config = {
        defaultQueue: queue,
        resultsExpireIn: 600,
        redis: { delayedTasksKey: delayedKey },
        amqp: { exchange, bindingKey: queue },
      };
      const env = {
        BROKER: kind === "redis" ? REDIS_URL : AMQP_URL,
        RESULT_BACKEND: REDIS_URL,
        DEFAULT_QUEUE: queue,
        RESULTS_EXPIRE_IN: "600",
        REDIS_DELAYED_TASKS_KEY: delayedKey,
        AMQP_EXCHANGE: exchange,
        AMQP_BINDING_KEY: queue,
        AMQP_PREFETCH_COUNT: "0",
        FAULTS_COUNTER_URL: REDIS_URL,
        FAULTS_RUNS_KEY: runsKey,
      };
      const broker: Broker = kind === "redis"
        ? new RedisBroker(REDIS_URL, { config })
        : new AMQPBroker(AMQP_URL, {
          config: { defaultQueue: queue, amqp: { exchange, bindingKey: queue } },
          logger: silentLogger,
        });
      const server = new Server({
        config,
        broker,
        backend: new RedisBackend(REDIS_URL, { config }),
        logger: silentLogger,
      });
      const redis = redisClient();
      const children: Child[] = [];
      const worker = async (extra: Record<string, string> = {}) => {
        const child = startScript(
          "cli.ts",
          ["worker", "--concurrency", "60", "--tasks", TASKS_MODULE],
          { ...env, ...extra },
        );
        children.push(child);
        await waitForOutput(child, "Waiting for tasks on", 30_000);
        return child;
      };
      const queued = async () =>
        kind === "redis"
          ? await redis.llen(queue)
          : await withChannel(async (ch) => (await ch.checkQueue(queue)).messageCount);
      const long = Array.from({ length: LONG }, () => longTask(TASK_MS));
      const late = Array.from({ length: LATE }, () => longTask(0));
      const aborted = Array.from({ length: LONG }, () => longTask(60_000));
      const uuids = (sigs: Signature[]) => sigs.map((s) => s.uuid);
      const allUUIDs = [...uuids(long), ...uuids(late), ...uuids(aborted)];
      try {
        // 1. The first signal drains.
        const first = await worker();
        await Promise.all(long.map((sig) => server.sendTask(sig)));
        await waitFor(
          async () => (await countStates(redis, uuids(long))).get("STARTED") === LONG,
          `${LONG} long tasks STARTED`,
          30_000,
        );
        const signalled = Date.now();
        signal(first, "SIGTERM");
        await waitForOutput(first, "Waiting for running tasks to finish", 10_000);
        await Promise.all(late.map((sig) => server.sendTask(sig)));
        const { code } = await first.exited;
        const drainMs = Date.now() - signalled;
        assert.equal(code, 0, first.stderr());
        assert.ok(
          drainMs < TASK_MS + DRAIN_MARGIN_MS,
          `the worker took ${drainMs} ms to drain (limit ${TASK_MS + DRAIN_MARGIN_MS} ms)`,
        );
        const afterDrain = await countStates(redis, uuids(long));
        assert.equal(afterDrain.get("SUCCESS"), LONG, JSON.stringify([...afterDrain]));
        const lateStates = await countStates(redis, uuids(late));
        assert.equal(lateStates.get("PENDING"), LATE, "nothing new was taken after the signal");
        assert.equal(await queued(), LATE, "the late tasks wait in the queue");

        // 2. A second signal aborts; the next worker gets the aborted tasks again.
        const second = await worker();
        await waitFor(
          async () => (await countStates(redis, uuids(late))).get("SUCCESS") === LATE,
          "the late tasks done by the next worker",
          30_000,
        );
        await Promise.all(aborted.map((sig) => server.sendTask(sig)));
        await waitFor(
          async () => (await countStates(redis, uuids(aborted))).get("STARTED") === LONG,
          `${LONG} long tasks STARTED again`,
          30_000,
        );
        const signalledAgain = Date.now();
        signal(second, "SIGTERM");
        await waitForOutput(second, "Waiting for running tasks to finish", 10_000);
        signal(second, "SIGTERM");
        const abortedExit = await second.exited;
        const abortMs = Date.now() - signalledAgain;
        assert.equal(abortedExit.code, 1, second.stderr());
        assert.match(second.stderr(), /Worker quit abruptly/);
        assert.ok(abortMs < 10_000, `the abort took ${abortMs} ms`);
        assert.equal((await countStates(redis, uuids(aborted))).get("SUCCESS"), undefined);

        const third = await worker({ FAULTS_FAST: "1" });
        let states = new Map<string, number>();
        await waitFor(
          async () => {
            states = await countStates(redis, uuids(aborted));
            return states.get("SUCCESS") === LONG;
          },
          "the aborted tasks delivered again and done",
          40_000,
        ).catch(() => {});
        signal(third, "SIGTERM");
        assert.equal((await third.exited).code, 0, third.stderr());

        const final = await countStates(redis, allUUIDs);
        const lost = allUUIDs.length - (final.get("SUCCESS") ?? 0);
        const runs = await runCounts(redis, runsKey);
        const once = [...uuids(long), ...uuids(late)];
        const duplicated = once.reduce((n, id) => n + Math.max(0, (runs.counts[id] ?? 0) - 1), 0);
        recordRow({
          scenario: SCENARIO,
          broker: kind,
          tasks: allUUIDs.length,
          lost,
          duplicated,
          badInputs: 0,
          outcome: `SIGTERM: ${LONG} finished, exit 0 in ${(drainMs / 1000).toFixed(1)} s, ` +
            `${LATE} late not taken; 2nd signal: exit 1 in ${(abortMs / 1000).toFixed(1)} s, ` +
            `${LONG} aborted redone`,
        });
        assert.equal(lost, 0, `states: ${JSON.stringify(Object.fromEntries(final))}`);
      } finally {
        await killAll(children);
        await server.close();
        await deleteKeys(redis, [...allUUIDs, queue, delayedKey, runsKey]);
        await deletePrefix(redis, `machinery:ts:dead:${queue}`);
        redis.disconnect();
        if (kind === "amqp") {
          await deleteAMQP([queue, `${queue}.dead_letters`], [exchange]).catch(() => {});
        }
      }
    });
  });
}
