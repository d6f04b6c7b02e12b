/**
 * Fault scenario: the result backend goes away in the middle of a run. The backend is a
 * redis-server of the test's own (AOF, so what was written before the outage survives it); it
 * is killed while 100 tasks run at concurrency 10 and started again 45 s later (the outage an
 * attack run saw lose tasks; it outlasts the Redis client's command timeout, 15 s by default, so
 * state writes really fail and time out). A task whose state or follow-up could not be
 * written must go back to the broker and run again, not be acked: every task ends SUCCESS and
 * none stays STARTED.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { newSignature, type Signature } from "../../mod.ts";
import { waitFor } from "../helpers.ts";
import { deleteAMQP } from "../integration/amqp_support.ts";
import { startOwnRedis } from "./own_redis.ts";
import {
  AMQP_URL,
  type Child,
  countStates,
  deletePrefix,
  describeFault,
  faultRig,
  killAll,
  recordRow,
  REDIS_URL,
  runCounts,
  skipReason,
  startWorker,
} from "./support.ts";

const SCENARIO = "result backend outage";
const TASKS = 100;
const CONCURRENCY = 10;
const OUTAGE_MS = 45_000;

for (const kind of ["redis", "amqp"] as const) {
  const skip = await skipReason(kind);
  describeFault(SCENARIO, kind, skip, () => {
    it(`backend down ${OUTAGE_MS / 1000} s mid-run: every task SUCCESS`, {
      timeout: 180_000,
    }, async () => {
      const backend = await startOwnRedis([], { persist: true, lifetimeMs: 180_000 });
      const { queue, exchange, keyPrefix, runsKey, server, redis } = faultRig(
        kind,
        "outage",
        {},
        backend.url,
      );
      const states = backend.client;
      const children: Child[] = [];
      const sigs: Signature[] = Array.from(
        { length: TASKS },
        (_, i) => newSignature("work", [{ name: "", type: "string", value: `t${i}` }]),
      );
      const uuids = sigs.map((s) => s.uuid);
      try {
        children.push(
          await startWorker({
            FAULT_BROKER: kind,
            BROKER_URL: kind === "redis" ? REDIS_URL : AMQP_URL,
            BACKEND_URL: backend.url,
            QUEUE: queue,
            KEY_PREFIX: keyPrefix,
            EXCHANGE: exchange,
            CONCURRENCY: String(CONCURRENCY),
            FAULTS_COUNTER_URL: REDIS_URL,
            FAULTS_RUNS_KEY: runsKey,
            FAULTS_TASK_MS: "300",
          }),
        );
        for (const sig of sigs) await server.sendTask(sig);
        await waitFor(async () => (await redis.hlen(runsKey)) >= 20, "20 tasks started", 30_000);
        await backend.kill();
        await new Promise((r) => setTimeout(r, OUTAGE_MS)); // the outage itself, not a wait
        await backend.restart();
        let counts = new Map<string, number>();
        await waitFor(
          async () => {
            counts = await countStates(states, uuids);
            return counts.get("SUCCESS") === TASKS;
          },
          "every task SUCCESS",
          90_000,
        ).catch(() => {});
        const succeeded = counts.get("SUCCESS") ?? 0;
        const runs = await runCounts(redis, runsKey);
        const lost = TASKS - succeeded;
        const rss = children[0].peakRssMiB();
        recordRow({
          scenario: SCENARIO,
          broker: kind,
          tasks: TASKS,
          lost,
          duplicated: runs.total - runs.distinct,
          badInputs: 0,
          peakRssMiB: rss,
          outcome: lost === 0
            ? `backend killed for ${OUTAGE_MS / 1000} s mid-run: all SUCCESS`
            : `${lost} not SUCCESS: ${JSON.stringify(Object.fromEntries(counts))}`,
        });
        assert.equal(lost, 0, `states: ${JSON.stringify(Object.fromEntries(counts))}`);
        assert.equal(counts.get("STARTED") ?? 0, 0);
      } finally {
        await killAll(children);
        await server.close();
        await backend.stop();
        await deletePrefix(redis, keyPrefix);
        await redis.del(queue);
        redis.disconnect();
        if (kind === "amqp") {
          await deleteAMQP([queue, `${queue}.dead_letters`], [exchange]).catch(() => {});
        }
      }
    });
  });
}
