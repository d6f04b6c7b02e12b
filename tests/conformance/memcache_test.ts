/**
 * The contract suite with the Memcache result backend, on three brokers: Redis, RabbitMQ and
 * the in-process one. Each pair skips with a printed reason when one of its servers is not
 * reachable, unless `REQUIRE_SERVICES=1`. Task states and group metas expire on their own
 * (ResultsExpireIn 300); the brokers' queues and keys are deleted afterwards.
 */
import { conformanceSuite } from "./suite.ts";
import { MemoryBroker } from "../../mod.ts";
import { MemcacheBackend } from "../../src/memcache/mod.ts";
import { RedisBroker } from "../../src/redis/mod.ts";
import { AMQPBroker } from "../../src/amqp/mod.ts";
import { silentLogger } from "../../src/log.ts";
import { MEMCACHE_URL, memcacheSkipReason } from "../integration/memcache_support.ts";
import {
  deleteRedisKeys,
  REDIS_URL,
  redisSkipReason,
  uniqueName,
} from "../integration/redis_support.ts";
import { AMQP_URL, amqpSkipReason, deleteAMQP } from "../integration/amqp_support.ts";

const memcacheSkip = await memcacheSkipReason();

const resultsExpireIn = 300;

// Redis broker + Memcache backend.
{
  const skip = memcacheSkip || await redisSkipReason();
  const keyPrefix = `${uniqueName("machinery:test")}:`;
  const delayedTasksKey = `${keyPrefix}delayed_tasks`;
  conformanceSuite("redis broker + memcache backend", (input) => {
    const config = { ...input, resultsExpireIn, redis: { delayedTasksKey } };
    const queue = config.defaultQueue!;
    return Promise.resolve({
      broker: new RedisBroker(REDIS_URL, { config, keyPrefix, leaseMs: 3000 }),
      backend: new MemcacheBackend(MEMCACHE_URL, { config }),
      cleanup: () => deleteRedisKeys([queue, delayedTasksKey], [keyPrefix]),
    });
  }, { skip, config: { redis: { delayedTasksKey } } });
}

// AMQP broker + Memcache backend.
{
  const skip = memcacheSkip || await amqpSkipReason();
  const exchange = uniqueName("conformance_exchange");
  conformanceSuite("amqp broker + memcache backend", (input) => {
    const queue = input.defaultQueue!;
    return Promise.resolve({
      broker: new AMQPBroker(AMQP_URL, {
        config: {
          defaultQueue: queue,
          amqp: { exchange, bindingKey: `${queue}_task`, prefetchCount: 10 },
        },
        logger: silentLogger,
      }),
      backend: new MemcacheBackend(MEMCACHE_URL, { config: { ...input, resultsExpireIn } }),
      cleanup: () => deleteAMQP([queue, `${queue}.dead_letters`], [exchange]),
    });
  }, { skip, config: { amqp: { exchange } } });
}

// Memory broker + Memcache backend.
conformanceSuite("memory broker + memcache backend", (input) =>
  Promise.resolve({
    broker: new MemoryBroker("memory://", { config: { defaultQueue: input.defaultQueue } }),
    backend: new MemcacheBackend(MEMCACHE_URL, { config: { ...input, resultsExpireIn } }),
  }), { skip: memcacheSkip });
