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
});
