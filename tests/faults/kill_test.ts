/**
 * Fault scenario 1, kill -9 under load: 5,000 tasks at concurrency 10, and the worker process
 * is killed with SIGKILL three times while it works through them (a new one starts at once).
 * Every task must reach SUCCESS; runs beyond one per task are counted as duplicates and
 * reported. Redis gives back what a dead worker held once its 1 s lease expires;
 * RabbitMQ redelivers the unacked messages of a closed connection.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { newSignature, type Signature } from "../../mod.ts";
import { waitFor } from "../helpers.ts";
import { deleteAMQP } from "../integration/amqp_support.ts";
import {
  AMQP_URL,
  type Child,
  countStates,
  deleteKeys,
  deletePrefix,
  describeFault,
  faultRig,
  inBatches,
  killAll,
  recordRow,
  REDIS_URL,
  runCounts,
  signal,
  skipReason,
  startWorker,
} from "./support.ts";

const SCENARIO = "kill -9 under load";
const TASKS = 5_000;
const CONCURRENCY = 10;
const KILLS = 3;

for (const kind of ["redis", "amqp"] as const) {
  const skip = await skipReason(kind);
  describeFault(SCENARIO, kind, skip, () => {
    it(`${TASKS} tasks, ${KILLS} kills: none lost`, { timeout: 150_000 }, async () => {
      const { queue, exchange, keyPrefix, runsKey, server, redis } = faultRig(kind, "kill");
      const children: Child[] = [];
      const vars = {
        FAULT_BROKER: kind,
        BROKER_URL: kind === "redis" ? REDIS_URL : AMQP_URL,
        BACKEND_URL: REDIS_URL,
        QUEUE: queue,
        KEY_PREFIX: keyPrefix,
        EXCHANGE: exchange,
        CONCURRENCY: String(CONCURRENCY),
        LEASE_MS: "1000",
        RECOVERY_MS: "250",
        FAULTS_COUNTER_URL: REDIS_URL,
        FAULTS_RUNS_KEY: runsKey,
        FAULTS_TASK_MS: "1",
      };
      const sigs: Signature[] = Array.from(
        { length: TASKS },
        (_, i) => newSignature("work", [{ name: "", type: "string", value: `t${i}` }]),
      );
      const uuids = sigs.map((s) => s.uuid);
      try {
        children.push(await startWorker(vars));
        await inBatches(sigs, 200, (sig) => server.sendTask(sig));
        const started = async () => await redis.hlen(runsKey);
        for (let k = 1; k <= KILLS; k++) {
          const target = Math.floor((TASKS * k) / (KILLS + 1));
          await waitFor(async () => (await started()) >= target, `${target} tasks started`, 60_000);
          const victim = children[children.length - 1];
          signal(victim, "SIGKILL");
          await victim.exited;
          children.push(await startWorker(vars));
        }
        let states = new Map<string, number>();
        await waitFor(
          async () => {
            states = await countStates(redis, uuids);
            return states.get("SUCCESS") === TASKS;
          },
          "every task SUCCESS",
          90_000,
        ).catch(() => {});
        const succeeded = states.get("SUCCESS") ?? 0;
        const runs = await runCounts(redis, runsKey);
        const lost = TASKS - succeeded;
        const duplicated = runs.total - runs.distinct;
        recordRow({
          scenario: SCENARIO,
          broker: kind,
          tasks: TASKS,
          lost,
          duplicated,
          badInputs: 0,
          outcome: lost === 0
            ? `all SUCCESS after ${KILLS} SIGKILLs (concurrency ${CONCURRENCY})`
            : `${lost} not SUCCESS: ${JSON.stringify(Object.fromEntries(states))}`,
        });
        assert.equal(lost, 0, `states: ${JSON.stringify(Object.fromEntries(states))}`);
        assert.equal(runs.distinct, TASKS);
        const pending = await server.broker.getPendingTasks(queue);
        assert.equal(pending.length, 0, "the queue is empty at the end");
      } finally {
        await killAll(children);
        await server.close();
        await deleteKeys(redis, uuids);
        await deletePrefix(redis, keyPrefix);
        await deleteKeys(redis, [queue]);
        redis.disconnect();
        if (kind === "amqp") {
          await deleteAMQP([queue, `${queue}.dead_letters`], [exchange]).catch(() => {});
        }
      }
    });
  });
}
