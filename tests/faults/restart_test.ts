/**
 * Fault scenario 2, the broker restarts mid-run, while a sender keeps sending and a worker
 * process keeps working:
 * - Redis: a dedicated redis-server (AOF, `appendfsync always`, its own port and directory) is
 *   killed with SIGKILL and started again on the same files. It is the broker and the result
 *   backend; the shared Redis, which keeps nothing on disk, only counts runs.
 * - RabbitMQ: `rabbitmqctl stop_app`, then `start_app` (always, in a `finally`).
 * The broker goes down several times in a row (3 times for Redis, 5 for RabbitMQ). Nobody steps
 * in: the sender and the worker reconnect by themselves, the worker picks up again within a few
 * seconds of each return (its reconnect back-off must not keep growing from one outage to the
 * next), and every task whose send resolved must reach SUCCESS. Sends that failed are reported,
 * not counted as lost.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { Redis } from "ioredis";
import { type Broker, newSignature, Server, silentLogger } from "../../mod.ts";
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
  REQUIRE_SERVICES,
  runCounts,
  skipReason,
  startWorker,
} from "./support.ts";
import { startOwnRedis } from "./own_redis.ts";

const SCENARIO = "broker restart";
/** Outages per broker. */
const ROUNDS = { redis: 3, amqp: 5 };
/** The longest the worker may take to pick up again once the broker is back. */
const RESUME_LIMIT_MS = 7_000;
/** At most this many tasks are sent (a batch of 10 every 50 ms while the outages go on). */
const MAX_TASKS = 20_000;
const run = promisify(execFile);

async function toolSkip(tool: string, args: string[]): Promise<string | false> {
  try {
    await run(tool, args, { timeout: 30_000 });
    return false;
  } catch (error) {
    if (REQUIRE_SERVICES) return false;
    const reason = `${tool} is not usable here: ${(error as Error).message}`;
    console.warn(`SKIP: ${reason}`);
    return reason;
  }
}

/**
 * Sends tasks in a steady stream (a batch of 10 every 50 ms) until `stop()`, before, during and
 * after each outage, and remembers which sends resolved and which failed.
 */
function sendStream(server: Server) {
  const sent: string[] = [];
  const confirmed: string[] = [];
  const failed: string[] = [];
  const pending = new Set<Promise<unknown>>();
  let stopping = false;
  const done = (async () => {
    for (let i = 0; !stopping && i < MAX_TASKS; i += 10) {
      for (let j = i; j < i + 10; j++) {
        const sig = newSignature("work", [{ name: "", type: "string", value: `t${j}` }]);
        sent.push(sig.uuid);
        const p = server.sendTask(sig).then(
          () => confirmed.push(sig.uuid),
          () => failed.push(sig.uuid),
        );
        pending.add(p);
        p.finally(() => pending.delete(p));
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    while (pending.size > 0) await Promise.all([...pending]);
  })();
  return {
    sent,
    confirmed,
    failed,
    stop: () => {
      stopping = true;
      return done;
    },
  };
}

for (const kind of ["redis", "amqp"] as const) {
  const skip = await skipReason(kind) ||
    (kind === "redis"
      ? await toolSkip("redis-server", ["--version"])
      : await toolSkip("rabbitmqctl", ["-q", "list_vhosts"]));
  describeFault(SCENARIO, kind, skip, () => {
    it(`${ROUNDS[kind]} restarts: every confirmed task completes, the worker resumes`, {
      timeout: 180_000,
    }, async () => {
      const queue = uniqueName(`faults_restart_${kind}`);
      const exchange = `${queue}_exchange`;
      const keyPrefix = `${queue}:`;
      const runsKey = `${keyPrefix}runs`;
      const dedicated = kind === "redis"
        ? await startOwnRedis([], { persist: true, lifetimeMs: 180_000 })
        : undefined;
      const brokerURL = dedicated?.url ?? AMQP_URL;
      const backendURL = dedicated?.url ?? REDIS_URL;
      const config = {
        defaultQueue: queue,
        resultsExpireIn: 600,
        redis: { delayedTasksKey: `${keyPrefix}delayed_tasks` },
        amqp: { exchange, bindingKey: queue },
      };
      const shared = redisClient();
      const children: Child[] = [];
      let server: Server | undefined;
      let backend: Redis | undefined;
      let stopped = false;
      let stream: ReturnType<typeof sendStream> | undefined;
      try {
        const broker: Broker = kind === "redis"
          ? new RedisBroker(brokerURL, { config, keyPrefix, onError: () => {} })
          : new AMQPBroker(AMQP_URL, {
            config: { defaultQueue: queue, amqp: { exchange, bindingKey: queue } },
            publishRetryMs: 120_000,
            logger: silentLogger,
          });
        server = new Server({
          config,
          broker,
          backend: new RedisBackend(backendURL, { config, keyPrefix, onError: () => {} }),
          logger: silentLogger,
        });
        children.push(
          await startWorker({
            FAULT_BROKER: kind,
            BROKER_URL: brokerURL,
            BACKEND_URL: backendURL,
            QUEUE: queue,
            KEY_PREFIX: keyPrefix,
            EXCHANGE: exchange,
            CONCURRENCY: "10",
            LEASE_MS: "10000",
            RECOVERY_MS: "500",
            FAULTS_COUNTER_URL: REDIS_URL,
            FAULTS_RUNS_KEY: runsKey,
            FAULTS_TASK_MS: "2",
          }),
        );
        stream = sendStream(server);
        const resumes: number[] = [];
        for (let round = 0; round < ROUNDS[kind]; round++) {
          await waitFor(
            async () => (await shared.hlen(runsKey)) >= stream!.confirmed.length / 2 + 50,
            "tasks flow",
            60_000,
          );
          if (dedicated) {
            await dedicated.kill();
            await new Promise((r) => setTimeout(r, 1000)); // the sender keeps sending into it
            await dedicated.restart();
          } else {
            stopped = true;
            await run("rabbitmqctl", ["stop_app"], { timeout: 60_000 });
            await waitFor(
              () => withChannel(() => Promise.resolve(false)).catch(() => true),
              "RabbitMQ refuses connections",
              30_000,
            );
            await new Promise((r) => setTimeout(r, 1000));
            stopped = false;
            await run("rabbitmqctl", ["start_app"], { timeout: 60_000 });
          }
          // Back: how long until the worker runs a task it had not run before?
          const back = Date.now();
          const ran = await shared.hlen(runsKey);
          await waitFor(
            async () => (await shared.hlen(runsKey)) > ran,
            "the worker resumes",
            60_000,
          );
          resumes.push(Date.now() - back);
        }
        await stream.stop();
        backend = new Redis(backendURL, { maxRetriesPerRequest: 20 });
        backend.on("error", () => {});
        const confirmed = stream.confirmed;
        let states = new Map<string, number>();
        await waitFor(
          async () => {
            states = await countStates(backend!, confirmed);
            return states.get("SUCCESS") === confirmed.length;
          },
          "every confirmed task SUCCESS",
          90_000,
        ).catch(() => {});
        const lost = confirmed.length - (states.get("SUCCESS") ?? 0);
        const runs = await runCounts(shared, runsKey);
        const how = dedicated ? "redis-server SIGKILL + restart (AOF)" : "stop_app + start_app";
        const slowest = Math.max(...resumes);
        recordRow({
          scenario: SCENARIO,
          broker: kind,
          tasks: confirmed.length,
          lost,
          duplicated: runs.total - runs.distinct,
          badInputs: 0,
          outcome: `${ROUNDS[kind]}× ${how}; worker back within ` +
            `${(slowest / 1000).toFixed(1)} s each time; ${stream.failed.length} sends failed` +
            (lost ? `; states ${JSON.stringify(Object.fromEntries(states))}` : ""),
        });
        assert.equal(lost, 0, `states: ${JSON.stringify(Object.fromEntries(states))}`);
        assert.ok(
          slowest <= RESUME_LIMIT_MS,
          `the worker took ${resumes.map((ms) => (ms / 1000).toFixed(1)).join(" s, ")} s to resume`,
        );
      } finally {
        await stream?.stop();
        if (stopped) await run("rabbitmqctl", ["start_app"], { timeout: 60_000 });
        await killAll(children);
        await server?.close();
        backend?.disconnect();
        await dedicated?.stop();
        await deletePrefix(shared, keyPrefix);
        if (kind === "amqp") {
          await deleteKeys(shared, stream?.sent ?? []);
          await deleteAMQP([queue, `${queue}.dead_letters`], [exchange]).catch(() => {});
        }
        shared.disconnect();
      }
    });
  });
}
