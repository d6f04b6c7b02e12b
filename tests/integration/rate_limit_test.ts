/**
 * Global rate limits on Redis: three workers (each its own Server and broker connection) share
 * one limit of 50/s for 10 s; the tasks they start stay within 5% of 500 and no one second
 * holds more than the rate plus the burst. A worker waiting on a limit keeps running other
 * tasks, and a pair with no shared store says that its limits are per worker.
 */
import { after, describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  type Logger,
  MemoryBackend,
  newSignature,
  Server,
  silentLogger,
  type Worker,
} from "../../mod.ts";
import { RedisBroker } from "../../src/redis/mod.ts";
import { AMQPBroker } from "../../src/amqp/mod.ts";
import { waitFor } from "../helpers.ts";
import { deleteRedisKeys, REDIS_URL, redisSkipReason, uniqueName } from "./redis_support.ts";
import { AMQP_URL, amqpSkipReason, deleteAMQP } from "./amqp_support.ts";

const skip = await redisSkipReason();
const amqpSkip = await amqpSkipReason();

describe("rate limits on Redis", { skip: skip || undefined }, () => {
  const keyPrefix = `${uniqueName("machinery:test:rate")}:`;
  const queue = uniqueName("rate_limit");
  const servers: Server[] = [];
  const workers: Worker[] = [];

  function server(): Server {
    const config = { defaultQueue: queue, noUnixSignals: true };
    const s = new Server({
      config,
      broker: new RedisBroker(REDIS_URL, { config, logger: silentLogger, keyPrefix }),
      backend: new MemoryBackend("memory://", { config }),
      logger: silentLogger,
    });
    servers.push(s);
    return s;
  }

  after(async () => {
    await Promise.all(workers.map((w) => w.quit()));
    await Promise.all(servers.map((s) => s.close()));
    await deleteRedisKeys([queue], [keyPrefix]);
  });

  it("3 workers, 50/s for 10 s: 500 starts within 5%, never over the burst in a second", {
    timeout: 90_000,
  }, async () => {
    const name = `limited_${queue}`;
    const starts: number[] = [];
    const sender = server();
    for (let i = 0; i < 650; i++) await sender.broker.publish(newSignature(name));
    for (let i = 0; i < 3; i++) {
      const s = i === 0 ? sender : server();
      s.registerTask(name, () => {
        starts.push(Date.now());
      }, { rateLimit: "50/s:5" });
      const worker = s.newWorker(`rate_${i}`, 10);
      workers.push(worker);
      worker.launch();
    }
    await waitFor(() => starts.length > 0, "the first start", 10_000);
    const t0 = Math.min(...starts);
    await new Promise((resolve) => setTimeout(resolve, 10_500));
    const within = starts.filter((t) => t < t0 + 10_000);
    const perSecond = Array.from(
      { length: 10 },
      (_, k) => within.filter((t) => t >= t0 + k * 1000 && t < t0 + (k + 1) * 1000).length,
    );
    // GCRA at 50/s with a burst of 5: 5 at once, then one every 20 ms.
    assert.ok(
      Math.abs(within.length - 500) <= 25,
      `${within.length} starts in 10 s, per second ${perSecond}`,
    );
    assert.ok(perSecond.every((n) => n <= 50 + 5), `per second: ${perSecond}`);
  });

  it("a worker waiting on a limit keeps running other tasks", { timeout: 30_000 }, async () => {
    const s = server();
    const slow = `slow_${queue}`;
    const fast = `fast_${queue}`;
    const ran: string[] = [];
    s.registerTask(slow, () => {
      ran.push(slow);
    }, { rateLimit: "1/s" });
    s.registerTask(fast, () => {
      ran.push(fast);
    });
    // One run slot: if the waiting tasks held it, the fast ones would wait seconds.
    const worker = s.newCustomQueueWorker("waiting", 1, `${queue}_wait`);
    workers.push(worker);
    worker.launch();
    for (let i = 0; i < 4; i++) {
      await s.sendTask(newSignature(slow, null, { routingKey: `${queue}_wait` }));
    }
    for (let i = 0; i < 4; i++) {
      await s.sendTask(newSignature(fast, null, { routingKey: `${queue}_wait` }));
    }
    await waitFor(() => ran.filter((n) => n === fast).length === 4, "the fast tasks ran", 2_000);
    assert.ok(ran.filter((n) => n === slow).length <= 2, `ran: ${ran}`);
    await waitFor(() => ran.length === 8, "the limited tasks ran too", 10_000);
    await deleteRedisKeys([`${queue}_wait`]);
  });
});

describe("rate limits without Redis", { skip: amqpSkip || undefined }, () => {
  it("an AMQP broker with another backend limits per worker, and says so", {
    timeout: 30_000,
  }, async () => {
    const queue = uniqueName("rate_amqp");
    const warnings: string[] = [];
    const logger: Logger = { ...silentLogger, warn: (m) => warnings.push(m) };
    const config = { defaultQueue: queue, noUnixSignals: true, amqp: { bindingKey: queue } };
    const s = new Server({
      config,
      broker: new AMQPBroker(AMQP_URL, { config, logger: silentLogger }),
      backend: new MemoryBackend("memory://", { config }),
      logger,
    });
    const starts: number[] = [];
    s.registerTask("limited", () => {
      starts.push(Date.now());
    }, { rateLimit: "5/s" });
    const worker = s.newWorker("amqp_rate", 4);
    const launched = worker.launch();
    try {
      for (let i = 0; i < 5; i++) await s.sendTask(newSignature("limited"));
      await waitFor(() => starts.length === 5, "every task ran", 20_000);
      starts.sort((a, b) => a - b);
      assert.ok(starts[4] - starts[0] >= 4 * 200 - 50, `starts: ${starts}`);
      assert.ok(
        warnings.some((w) => /per worker/.test(w) && /"limited"/.test(w)),
        `warnings: ${warnings}`,
      );
    } finally {
      await worker.quit();
      await launched;
      await s.close();
      // The waits went through requeue queues named by powers of two (see `backOff`).
      const requeues = Array.from({ length: 17 }, (_, k) => `requeue.${2 ** k}.${queue}`);
      await deleteAMQP([queue, `${queue}.dead_letters`, ...requeues], []);
    }
  });
});
