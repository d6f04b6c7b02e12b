/**
 * How the conformance tests build each adapter: one function per adapter, the only place in
 * `tests/conformance/` that calls an adapter's constructor, so a change of constructor is made
 * once. Each takes the config the test wants (queue, exchange, expiry) and the test's own names.
 */
import type { ConfigInput } from "../../src/config.ts";
import { silentLogger } from "../../src/log.ts";
import { MemoryBackend, MemoryBroker } from "../../src/memory/mod.ts";
import { RedisBackend, RedisBroker } from "../../src/redis/mod.ts";
import { AMQPBackend, AMQPBroker } from "../../src/amqp/mod.ts";
import { MemcacheBackend } from "../../src/memcache/mod.ts";
import { MongoDBBackend } from "../../src/mongodb/mod.ts";
import { REDIS_URL } from "../integration/redis_support.ts";
import { AMQP_URL } from "../integration/amqp_support.ts";
import { MEMCACHE_URL } from "../integration/memcache_support.ts";

/** The in-process broker on `config.defaultQueue`. */
export function memoryBroker(config: ConfigInput): MemoryBroker {
  return new MemoryBroker("memory://", { config, logger: silentLogger });
}

/** The in-process backend, keeping results `config.resultsExpireIn` seconds. */
export function memoryBackend(config: ConfigInput): MemoryBackend {
  return new MemoryBackend("memory://", { config, logger: silentLogger });
}

/**
 * The Redis broker on the shared Redis (or at `url`). Its own keys (consumers, dead letters, requeued) start
 * with `keyPrefix`; `config.redis.delayedTasksKey` should too, so that clean-up finds them. A
 * 3 s lease lets a test see a dead consumer's messages come back quickly.
 */
export function redisBroker(
  config: ConfigInput,
  keyPrefix: string,
  url: string = REDIS_URL,
): RedisBroker {
  return new RedisBroker(url, { config, logger: silentLogger, keyPrefix, leaseMs: 3000 });
}

/** The Redis backend on the shared Redis (or at `url`); its auxiliary keys start with `keyPrefix`. */
export function redisBackend(
  config: ConfigInput,
  keyPrefix: string,
  url: string = REDIS_URL,
): RedisBackend {
  return new RedisBackend(url, { config, logger: silentLogger, keyPrefix });
}

/**
 * The AMQP broker on the shared RabbitMQ (or at `url`): `config.defaultQueue` bound to the exchange
 * `config.amqp.exchange` with the binding key `config.amqp.bindingKey`, and a prefetch of
 * `config.amqp.prefetchCount` (the worker's capacity caps it). Its cancellation stream is
 * `amqpCancelStream(config)`.
 */
export function amqpBroker(config: ConfigInput, url: string = AMQP_URL): AMQPBroker {
  const cancelStream = amqpCancelStream(config);
  return new AMQPBroker(url, { config, logger: silentLogger, cancelStream });
}

/** The test's own cancellation stream, named after its queue, for clean-up to delete. */
export function amqpCancelStream(config: ConfigInput): string {
  return `${config.defaultQueue ?? "machinery_tasks"}.cancellations`;
}

/**
 * The AMQP result backend on the shared RabbitMQ (or at `url`), on the exchange
 * `config.amqp.exchange`.
 */
export function amqpBackend(config: ConfigInput, url: string = AMQP_URL): AMQPBackend {
  return new AMQPBackend(url, { config, logger: silentLogger });
}

/** The Memcache backend on the shared memcached. */
export function memcacheBackend(config: ConfigInput): MemcacheBackend {
  return new MemcacheBackend(MEMCACHE_URL, { config, logger: silentLogger });
}

/**
 * The MongoDB backend on `url`, in `database`; with `client` (a real or stand-in driver client)
 * it uses that instead of dialling.
 */
export function mongodbBackend(
  url: string,
  config: ConfigInput,
  options: { database?: string; client?: object } = {},
): MongoDBBackend {
  return new MongoDBBackend(url, { config, logger: silentLogger, ...options });
}
