/**
 * The fault scenario shared by the Sentinel failover and the Redis Cluster master kill: a worker
 * process consumes from a replicated Redis while the test sends tasks in chunks, and the master
 * that takes the queue's pushes is killed with SIGKILL mid-run. A replica takes over, the worker
 * and the sender follow it, and the old master comes back empty as a replica of the new one.
 *
 * Replication is asynchronous: a push the old master acknowledged may die with it. So a chunk of
 * sends counts as confirmed only when, after every send of it resolved, a fence write on the
 * master that took the pushes before and after the chunk was acknowledged by a replica
 * (`WAIT 1`): the replication stream is ordered, so the chunk's pushes reached the replica too.
 * Every confirmed task must complete; the unconfirmed ones are reported apart. The states live
 * on the shared Redis, so the kill cannot take the count with it.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { type ConfigInput, newSignature, Server, silentLogger } from "../../mod.ts";
import type { RedisConfig } from "../../src/config.ts";
import { RedisBackend, RedisBroker } from "../../src/redis/mod.ts";
import { waitFor } from "../helpers.ts";
import { uniqueName } from "../integration/redis_support.ts";
import { ownRedisSkipReason } from "./own_redis.ts";
import {
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
  skipReason,
  startWorker,
} from "./support.ts";

const CHUNK = 50;
/** Chunks sent once the old master is back as a replica. */
const CHUNKS_AFTER = 10;
/** The master dies once this many tasks have started. */
const KILL_AFTER_RUNS = 600;

const skip = (await skipReason("redis")) || ownRedisSkipReason();

/** A replicated Redis of the test's own, as the scenario sees it. */
export interface ReplicatedRedis {
  /** The broker URL (sentinels or cluster nodes). */
  url: string;
  /** The `redis` config section the broker and the worker need (`masterName`, say). */
  redis: Partial<RedisConfig>;
  /** What the worker process needs besides (`MASTER_NAME`, say). */
  workerEnv: Record<string, string>;
  /** The port of the master that takes the queue's pushes now, or -1 while that is unsure. */
  masterPort(): Promise<number>;
  /** A key the fence writes: one the master of the queue's pushes serves. */
  fenceKey: string;
  /** Kills that master (SIGKILL) and waits for it to exit. */
  killMaster(): Promise<void>;
  /** Starts the killed master again and waits until it is a replica in sync. */
  rejoin(): Promise<void>;
  /** Kills everything and removes the temp folders. */
  stop(): Promise<void>;
}

/**
 * Registers the scenario: `start` brings up the topology for the queue; `takeover` names what
 * happens after the kill (for the wait's message and the outcome).
 */
export function masterKillScenario(
  scenario: Parameters<typeof describeFault>[0],
  title: string,
  takeover: string,
  start: (queue: string) => Promise<ReplicatedRedis>,
): void {
  describeFault(scenario, "redis", skip, () => {
    it(title, {
      timeout: 150_000,
    }, async () => {
      const queue = uniqueName("faults_replicated_redis");
      const keyPrefix = `${queue}:`;
      const runsKey = `${keyPrefix}runs`;
      const config: ConfigInput = {
        defaultQueue: queue,
        resultsExpireIn: 600,
        redis: { delayedTasksKey: `${keyPrefix}delayed_tasks` },
      };
      let brokerConfig = config;
      const redis = redisClient();
      const children: Child[] = [];
      const fences = new Map<number, Redis>();
      const uuids: string[] = [];
      const confirmed: string[] = [];
      let failedSends = 0;
      let topology: ReplicatedRedis | undefined;
      let server: Server | undefined;
      try {
        topology = await start(queue);
        const clusterURL = topology.url;
        const masterPort = topology.masterPort;
        brokerConfig = { ...config, redis: { ...config.redis, ...topology.redis } };
        server = new Server({
          config,
          broker: new RedisBroker(clusterURL, {
            config: brokerConfig,
            keyPrefix,
            logger: silentLogger,
          }),
          backend: new RedisBackend(REDIS_URL, { config, keyPrefix, logger: silentLogger }),
          logger: silentLogger,
        });
        children.push(
          await startWorker({
            FAULT_BROKER: "redis",
            BROKER_URL: clusterURL,
            BACKEND_URL: REDIS_URL,
            QUEUE: queue,
            KEY_PREFIX: keyPrefix,
            CONCURRENCY: "10",
            LEASE_MS: "1000",
            RECOVERY_MS: "250",
            FAULTS_COUNTER_URL: REDIS_URL,
            FAULTS_RUNS_KEY: runsKey,
            FAULTS_TASK_MS: "2",
            ...topology.workerEnv,
          }),
        );

        // A direct client per master port, which never retries: a fence answers from that
        // server or fails.
        const fence = (port: number): Redis => {
          let client = fences.get(port);
          if (!client) {
            client = new Redis({
              host: "127.0.0.1",
              port,
              retryStrategy: () => null,
              maxRetriesPerRequest: 0,
              commandTimeout: 3000,
            });
            client.on("error", () => {});
            fences.set(port, client);
          }
          return client;
        };
        const sendChunk = async (): Promise<void> => {
          const before = await masterPort();
          const sigs = Array.from(
            { length: CHUNK },
            // `work` counts its runs by its argument: each task has its own.
            (_, i) =>
              newSignature("work", [{ name: "", type: "string", value: `t${uuids.length + i}` }]),
          );
          uuids.push(...sigs.map((s) => s.uuid));
          const sent = await Promise.allSettled(sigs.map((s) => server!.sendTask(s)));
          const ok = sent.every((r) => r.status === "fulfilled");
          failedSends += sent.filter((r) => r.status === "rejected").length;
          if (!ok) return;
          const acked = await (async () => {
            const client = fence(before);
            await client.incr(topology!.fenceKey);
            return Number(await client.call("WAIT", "1", "2000"));
          })().catch(() => 0);
          const after = await masterPort();
          if (acked >= 1 && after === before) confirmed.push(...sigs.map((s) => s.uuid));
        };

        let stopSending = false;
        let chunksAfterRejoin = -1;
        const sender = (async () => {
          while (!stopSending) {
            await sendChunk();
            if (chunksAfterRejoin >= 0 && ++chunksAfterRejoin >= CHUNKS_AFTER) break;
            await new Promise((r) => setTimeout(r, 20));
          }
        })();

        const firstMaster = await masterPort();
        await waitFor(
          async () => (await redis.hlen(runsKey)) >= KILL_AFTER_RUNS,
          `${KILL_AFTER_RUNS} tasks started`,
          60_000,
        );
        const killedAt = Date.now();
        await topology.killMaster();
        await waitFor(
          async () => {
            const port = await masterPort();
            return port !== firstMaster && port > 0;
          },
          takeover,
          30_000,
        );
        const failoverMs = Date.now() - killedAt;
        // Back empty: it rejoins as a replica of the new master, which resyncs it.
        await topology.rejoin();
        chunksAfterRejoin = 0;
        await sender;
        stopSending = true;

        let states = new Map<string, number>();
        await waitFor(
          async () => {
            states = await countStates(redis, confirmed);
            return states.get("SUCCESS") === confirmed.length;
          },
          "every confirmed task SUCCESS",
          60_000,
        ).catch(() => {});
        const lost = confirmed.length - (states.get("SUCCESS") ?? 0);
        const unconfirmed = uuids.filter((u) => !confirmed.includes(u));
        const unconfirmedDone = (await countStates(redis, unconfirmed)).get("SUCCESS") ?? 0;
        const runs = await runCounts(redis, runsKey);
        const duplicated = runs.total - runs.distinct;
        recordRow({
          scenario,
          broker: "redis",
          tasks: confirmed.length,
          lost,
          duplicated,
          badInputs: 0,
          peakRssMiB: children[0].peakRssMiB(),
          outcome: lost === 0
            ? `confirmed all SUCCESS; ${takeover} in ${failoverMs} ms; ${unconfirmed.length} ` +
              `unconfirmed (${unconfirmedDone} done, ${failedSends} sends failed)`
            : `${lost} confirmed not SUCCESS: ${JSON.stringify(Object.fromEntries(states))}`,
        });
        assert.equal(lost, 0, `states: ${JSON.stringify(Object.fromEntries(states))}`);
        assert.ok(confirmed.length >= CHUNK * CHUNKS_AFTER, "sends confirmed after the failover");
      } finally {
        await killAll(children);
        await server?.close().catch(() => {});
        for (const client of fences.values()) client.disconnect();
        await topology?.stop();
        await deleteKeys(redis, uuids);
        await deletePrefix(redis, keyPrefix);
        redis.disconnect();
      }
    });
  });
}
