/**
 * Fault scenario: kill -9 of a Redis Cluster master mid-run. The broker runs on a cluster of the
 * test's own (three masters with a replica each); a worker process consumes while the test sends
 * tasks in chunks, and the master serving the queue's slot is killed with SIGKILL. Its replica
 * takes over (1 s `cluster-node-timeout`), the worker and the sender follow the new slot owner,
 * and the old master comes back empty as a replica of the new one.
 *
 * Replication is asynchronous: a push the old master acknowledged may die with it. So a chunk of
 * sends counts as confirmed only when, after every send of it resolved, a fence write in the
 * queue's slot on the master that served it before and after the chunk was acknowledged by a
 * replica (`WAIT 1`): the replication stream is ordered, so the chunk's pushes reached the
 * replica too. Every confirmed task must complete; the unconfirmed ones are reported apart. The
 * states live on the shared Redis, so the kill cannot take the count with it.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { Redis } from "ioredis";
import { type ConfigInput, newSignature, Server, silentLogger } from "../../mod.ts";
import { RedisBackend, RedisBroker } from "../../src/redis/mod.ts";
import { waitFor } from "../helpers.ts";
import { uniqueName } from "../integration/redis_support.ts";
import { ownRedisSkipReason } from "./own_redis.ts";
import { type OwnRedisCluster, startOwnRedisCluster } from "./own_redis_cluster.ts";
import { keySlot, slotTag } from "../../src/redis/_slot.ts";
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

const SCENARIO = "Redis Cluster master kill";
const CHUNK = 50;
/** Chunks sent once the old master is back as a replica. */
const CHUNKS_AFTER = 10;
/** The master dies once this many tasks have started. */
const KILL_AFTER_RUNS = 600;

const skip = (await skipReason("redis")) || ownRedisSkipReason();

describeFault(SCENARIO, "redis", skip, () => {
  it("kill -9 of the queue's master mid-run: every confirmed send completes", {
    timeout: 150_000,
  }, async () => {
    const queue = uniqueName("faults_cluster_redis");
    const slot = keySlot(queue);
    const keyPrefix = `${queue}:`;
    const runsKey = `${keyPrefix}runs`;
    const config: ConfigInput = {
      defaultQueue: queue,
      resultsExpireIn: 600,
      redis: { delayedTasksKey: `${keyPrefix}delayed_tasks` },
    };
    const redis = redisClient();
    const children: Child[] = [];
    const fences = new Map<number, Redis>();
    const uuids: string[] = [];
    const confirmed: string[] = [];
    let failedSends = 0;
    let topology: OwnRedisCluster | undefined;
    let server: Server | undefined;
    try {
      topology = await startOwnRedisCluster(300_000);
      const clusterURL = topology.url;
      const masterPort = async () => {
        const node = await topology!.masterOf(slot);
        return node ? Number(new URL(node.url).port) : -1;
      };
      server = new Server({
        config,
        broker: new RedisBroker(clusterURL, {
          config,
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
          // In the queue's slot, so it goes through that master's replication stream.
          await client.incr(`{${slotTag(queue)}}fence`);
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
      const victim = topology.nodes.find((n) => Number(new URL(n.url).port) === firstMaster)!;
      await waitFor(
        async () => (await redis.hlen(runsKey)) >= KILL_AFTER_RUNS,
        `${KILL_AFTER_RUNS} tasks started`,
        60_000,
      );
      const killedAt = Date.now();
      await victim.kill();
      await waitFor(
        async () => {
          const port = await masterPort();
          return port !== firstMaster && port > 0;
        },
        "the replica takes over the queue's slot",
        30_000,
      );
      const failoverMs = Date.now() - killedAt;
      // Back empty: it rejoins as a replica of the new master, which resyncs it.
      await victim.restart();
      await waitFor(
        async () =>
          /role:slave[\s\S]*master_link_status:up/.test(await victim.client.info("replication")),
        "the old master back as a replica",
        30_000,
      ).catch(async (error) => {
        const info = await victim.client.info("replication").catch(String);
        throw new Error(`${error.message}; its INFO replication:\n${info}`);
      });
      await topology.waitHealthy();
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
        scenario: SCENARIO,
        broker: "redis",
        tasks: confirmed.length,
        lost,
        duplicated,
        badInputs: 0,
        peakRssMiB: children[0].peakRssMiB(),
        outcome: lost === 0
          ? `confirmed all SUCCESS; takeover ${failoverMs} ms; ${unconfirmed.length} ` +
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
