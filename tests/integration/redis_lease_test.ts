/**
 * A Redis worker whose lease lapsed (paused past it, as with SIGSTOP) must not run a second
 * time the messages Redis gave back for others. The pause is simulated without timing: the
 * test ages the consumer's lease and runs a recovery pass, exactly what another worker does
 * once the lease is older than `leaseMs`.
 */
import { it } from "node:test";
import assert from "node:assert/strict";
import { newSignature, Server, silentLogger } from "../../mod.ts";
import { RedisBackend, RedisBroker } from "../../src/redis/mod.ts";
import { QueueConsumer } from "../../src/redis/_consumer.ts";
import { defineScripts, FETCH } from "../../src/redis/_broker_scripts.ts";
import { brokerKeys } from "../../src/redis/_keys.ts";
import type { Delivery } from "../../src/broker.ts";
import { describeUnless, waitFor } from "../helpers.ts";
import {
  deleteRedisKeys,
  rawClient,
  REDIS_URL,
  redisSkipReason,
  uniqueName,
} from "./redis_support.ts";

const skip = await redisSkipReason();

describeUnless(skip, "Redis lease", () => {
  it("a worker whose lease lapsed drops its copies: each task runs once", {
    timeout: 30_000,
  }, async () => {
    const queue = uniqueName("test_lease");
    const keyPrefix = `${queue}:`;
    const config = { defaultQueue: queue, redis: { delayedTasksKey: `${keyPrefix}delayed` } };
    const errors: string[] = [];
    const broker = new RedisBroker(REDIS_URL, {
      config,
      keyPrefix,
      leaseMs: 5_000,
      heartbeatMs: 100,
      recoveryIntervalMs: 600_000, // the test runs the recovery pass itself
      onError: (e) => errors.push(e.message),
    });
    const backend = new RedisBackend(REDIS_URL, { config, keyPrefix });
    const server = new Server({ config, broker, backend, logger: silentLogger });
    const runs = new Map<number, number>();
    let open!: () => void;
    const gate = new Promise<void>((r) => (open = r));
    server.registerTask("gated", async (i: number) => {
      runs.set(i, (runs.get(i) ?? 0) + 1);
      await gate;
      return i;
    });
    let successes = 0;
    const setSuccess = backend.setStateSuccess.bind(backend);
    backend.setStateSuccess = (sig, results) => {
      successes++;
      return setSuccess(sig, results);
    };
    const worker = server.newWorker("lease", 1, { handleSignals: false, prefetch: 3 });
    const running = worker.launch();
    const redis = rawClient();
    const sigs = [0, 1, 2, 3].map((i) =>
      newSignature("gated", [{ name: "", type: "int64", value: i }])
    );
    try {
      for (const sig of sigs) await server.sendTask(sig);
      await waitFor(() => runs.get(0) === 1 && worker.activeTasks === 4, "1 running, 3 prefetched");
      // The pause: the lease is older than leaseMs, and another worker's recovery pass gives
      // back what this one holds.
      const [consumer] = await redis.zrange(`${keyPrefix}consumers`, 0, -1);
      await redis.zadd(`${keyPrefix}consumers`, 0, consumer);
      assert.equal(await broker.recover(), 4, "the 4 messages go back to the queue");
      await waitFor(() => errors.some((e) => /lapsed/.test(e)), "the worker noticed");
      open();
      for (const sig of sigs) {
        await waitFor(
          async () => (await backend.getState(sig.uuid)).state === "SUCCESS",
          `task ${sig.uuid} SUCCESS`,
        );
      }
      await worker.quit();
      await running;
      // Task 0 was running when its lease lapsed, so it ran again elsewhere (here); its first
      // run recorded nothing. The prefetched ones never ran twice.
      assert.deepEqual([...runs].sort(), [[0, 2], [1, 1], [2, 1], [3, 1]]);
      assert.equal(successes, 4, "one SUCCESS per task");
    } finally {
      open();
      await worker.quit();
      await server.close();
      redis.disconnect();
      await deleteRedisKeys([queue, ...sigs.map((s) => s.uuid)], [keyPrefix]);
    }
  });

  // On a Redis Cluster a command whose node died is resent by the client after a slot refresh,
  // each on its own timer, so a fetch sent before a heartbeat can run after it. The gate below
  // holds one fetch back in the process to give Redis that order.
  it(
    "a fetch that runs after the heartbeat that found the lease lapsed is given back, not stranded",
    {
      timeout: 30_000,
    },
    async () => {
      const queue = uniqueName("test_lease_order");
      const keyPrefix = `${queue}:`;
      const keys = brokerKeys(keyPrefix).forQueue(queue);
      const commands = rawClient();
      const blocking = rawClient();
      const redis = rawClient();
      defineScripts(commands);
      let gate: Promise<void> | undefined;
      let open = () => {};
      let fetchHeld = false;
      const fetch = (commands as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[
        FETCH.name
      ];
      Object.assign(commands, {
        [FETCH.name]: async (...args: unknown[]) => {
          if (gate) {
            fetchHeld = true;
            await gate;
          }
          return fetch.apply(commands, args);
        },
      });
      const errors: string[] = [];
      const id = `${queue}-consumer`;
      const consumer = new QueueConsumer({
        commands,
        blocking,
        keys,
        id,
        queue,
        capacity: 2,
        blockSeconds: 1,
        leaseMs: 60_000,
        heartbeatMs: 50,
        deadLetterLimit: 100,
        deadLetterMaxBytes: 1 << 20,
        deadLetterBodyBytes: 1024,
        maxMessageBytes: 0,
        onError: (e) => errors.push(e.message),
      });
      const delivered: Delivery[] = [];
      const stop = new AbortController();
      const running = consumer.run(stop.signal, (d) => delivered.push(d));
      try {
        await redis.rpush(queue, "m1", "m2");
        await waitFor(() => delivered.length === 2, "m1 and m2 delivered");
        gate = new Promise<void>((r) => (open = r));
        // The lease looks lapsed to the next heartbeat (as after a failover longer than it).
        await redis.zadd(keys.consumers, 0, id);
        // Acking m1 frees a slot: the next fetch is sent, and held back before Redis.
        await delivered[0].ack();
        await waitFor(() => fetchHeld, "the next fetch held back");
        await redis.rpush(queue, "m3");
        await waitFor(() => errors.some((e) => /lapsed/.test(e)), "the heartbeat found the lapse");
        gate = undefined;
        open();
        // m2 went back to the queue with the lapse; the held fetch then took it into the
        // processing hash, numbered below what the consumer now drops.
        await waitFor(
          () => delivered.slice(2).map((d) => d.body).sort().join() === "m2,m3",
          "m2 and m3 delivered after the lapse",
        );
        for (const d of delivered.slice(2)) await d.ack();
        await waitFor(async () => (await redis.hlen(keys.processing(id))) === 0, "nothing held");
      } finally {
        open();
        stop.abort();
        await running.catch(() => {});
        await consumer.retire().catch(() => {});
        commands.disconnect();
        redis.disconnect();
        await deleteRedisKeys([queue], [keyPrefix]);
      }
    },
  );
});
