/**
 * Every adapter is built the same way (`new X(url, { config, logger })`, `X.fromConfig(config)`),
 * connects with `connect()`, and closes idempotently: twice at once, then once more, after
 * which its calls reject with `ClosedError`.
 */
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import {
  ClosedError,
  type ConfigInput,
  MemoryBackend,
  MemoryBroker,
  MemoryLock,
  silentLogger,
} from "../../mod.ts";
import { RedisBackend, RedisBroker, RedisLock } from "../../src/redis/mod.ts";
import { AMQPBackend, AMQPBroker } from "../../src/amqp/mod.ts";
import { MongoDBBackend } from "../../src/mongodb/mod.ts";
import { MemcacheBackend } from "../../src/memcache/mod.ts";
import { describeUnless } from "../helpers.ts";
import { REDIS_URL, redisSkipReason } from "./redis_support.ts";
import { AMQP_URL, amqpSkipReason } from "./amqp_support.ts";
import { MEMCACHE_URL, memcacheSkipReason } from "./memcache_support.ts";

interface Adapter {
  connect?(): Promise<void>;
  close(): Promise<void>;
}

/** Connects, closes twice at once and once more; then `connect` rejects with `ClosedError`. */
async function closesIdempotently(adapter: Adapter, closedText?: string): Promise<void> {
  await adapter.connect?.();
  await Promise.all([adapter.close(), adapter.close()]);
  await adapter.close();
  if (closedText === undefined) return;
  await assert.rejects(Promise.resolve().then(() => adapter.connect?.()), (error: unknown) => {
    assert.ok(error instanceof ClosedError, String(error));
    assert.equal(error.message, closedText);
    return true;
  });
}

const options = { logger: silentLogger };

describe("memory adapters", () => {
  it("are built from a URL or a config, and close idempotently", async () => {
    const config: ConfigInput = { defaultQueue: "q_memory", resultsExpireIn: 5 };
    const broker = MemoryBroker.fromConfig({ ...config, broker: "memory://" }, options);
    const sig = { routingKey: "" } as Parameters<MemoryBroker["adjustRoutingKey"]>[0];
    broker.adjustRoutingKey(sig);
    assert.equal(sig.routingKey, "q_memory", "the config reached the broker");
    await closesIdempotently(broker);
    await closesIdempotently(new MemoryBroker("memory://", { config, ...options }));
    await closesIdempotently(MemoryBackend.fromConfig(config, options));
    await closesIdempotently(new MemoryBackend("eager", { config, ...options }));
    await closesIdempotently(MemoryLock.fromConfig({ lock: "" }, options));
    await closesIdempotently(new MemoryLock("memory://", { config, ...options }));
  });
});

describeUnless(await redisSkipReason(), "redis adapters", () => {
  const config: ConfigInput = { broker: REDIS_URL, resultBackend: REDIS_URL, lock: REDIS_URL };

  it("are built from a URL or a config, and close idempotently", { timeout: 30_000 }, async () => {
    const fromConfig = RedisBroker.fromConfig(config, options);
    assert.equal(fromConfig.url, REDIS_URL);
    await closesIdempotently(fromConfig, "The Redis broker is closed");
    await closesIdempotently(
      new RedisBroker(REDIS_URL, { config, ...options }),
      "The Redis broker is closed",
    );
    const backend = RedisBackend.fromConfig(config, options);
    assert.equal(backend.url, REDIS_URL);
    await closesIdempotently(backend, "The Redis backend is closed");
    await closesIdempotently(RedisLock.fromConfig(config, options), "The Redis lock is closed");
    await closesIdempotently(
      new RedisLock(REDIS_URL, { config, ...options }),
      "The Redis lock is closed",
    );
  });
});

describeUnless(await amqpSkipReason(), "amqp adapters", () => {
  const config: ConfigInput = { broker: AMQP_URL, resultBackend: AMQP_URL };

  it("are built from a URL or a config, and close idempotently", { timeout: 30_000 }, async () => {
    await closesIdempotently(AMQPBroker.fromConfig(config, options), "the server has been stopped");
    await closesIdempotently(
      new AMQPBroker(AMQP_URL, { config, ...options }),
      "the server has been stopped",
    );
    await closesIdempotently(
      AMQPBackend.fromConfig(config, options),
      "The AMQP result backend is closed",
    );
    await closesIdempotently(
      new AMQPBackend(AMQP_URL, { config, ...options }),
      "The AMQP result backend is closed",
    );
  });
});

describeUnless(await memcacheSkipReason(), "memcache adapter", () => {
  it("is built from a URL or a config, and closes idempotently", { timeout: 30_000 }, async () => {
    const config: ConfigInput = { resultBackend: MEMCACHE_URL };
    const backend = MemcacheBackend.fromConfig(config, options);
    assert.equal(backend.url, MEMCACHE_URL);
    await closesIdempotently(backend);
    await closesIdempotently(new MemcacheBackend(MEMCACHE_URL, { config, ...options }));
  });
});

describe("mongodb adapter", () => {
  it("closes idempotently without having connected", async () => {
    const url = "mongodb://127.0.0.1:1";
    const backend = MongoDBBackend.fromConfig({ resultBackend: url }, options);
    assert.equal(backend.url, url);
    await Promise.all([backend.close(), backend.close()]);
    await backend.close();
    await assert.rejects(backend.connect(), {
      name: "ClosedError",
      message: "The MongoDB backend is closed",
    });
    await new MongoDBBackend(url, options).close();
  });
});
