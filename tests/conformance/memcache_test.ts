/**
 * The Memcache result backend: the backend contract, and the end-to-end suite on three brokers:
 * Redis, RabbitMQ and the in-process one. Each skips with a printed reason when one of its
 * servers is not reachable, unless `REQUIRE_SERVICES=1`. Task states and group metas expire on
 * their own (ResultsExpireIn 300); the brokers' queues and keys are deleted afterwards.
 */
import { conformanceSuite } from "./suite.ts";
import { backendContract } from "./backend_contract.ts";
import { amqpBroker, memcacheBackend, memoryBroker, redisBroker } from "./adapters.ts";
import { memcacheSkipReason, RawMemcache } from "../integration/memcache_support.ts";
import { deleteRedisKeys, redisSkipReason, uniqueName } from "../integration/redis_support.ts";
import { amqpSkipReason, deleteAMQP } from "../integration/amqp_support.ts";

const memcacheSkip = await memcacheSkipReason();

const resultsExpireIn = 300;

backendContract("memcache backend", {
  skip: memcacheSkip,
  make: (resultsExpireIn) => memcacheBackend({ resultsExpireIn }),
  sharedStore: true,
  laterStates: "unmerged",
  groupMeta: true,
  expiry: true,
  refusesCallsAfterClose: true,
  failureUnlessCompleted: true,
  cleanup: async (written) => {
    const raw = await RawMemcache.open();
    try {
      await raw.delete(...written);
    } finally {
      raw.close();
    }
  },
});

// Redis broker + Memcache backend.
{
  const skip = memcacheSkip || await redisSkipReason();
  const keyPrefix = `${uniqueName("machinery:test")}:`;
  const delayedTasksKey = `${keyPrefix}delayed_tasks`;
  conformanceSuite("redis broker + memcache backend", (input) => {
    const config = { ...input, resultsExpireIn, redis: { delayedTasksKey } };
    const queue = config.defaultQueue!;
    return Promise.resolve({
      broker: redisBroker(config, keyPrefix),
      backend: memcacheBackend(config),
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
    const config = {
      ...input,
      resultsExpireIn,
      amqp: { exchange, bindingKey: `${queue}_task`, prefetchCount: 10 },
    };
    return Promise.resolve({
      broker: amqpBroker(config),
      backend: memcacheBackend(config),
      cleanup: () => deleteAMQP([queue, `${queue}.dead_letters`], [exchange]),
    });
  }, { skip, config: { amqp: { exchange } } });
}

// Memory broker + Memcache backend.
conformanceSuite("memory broker + memcache backend", (input) =>
  Promise.resolve({
    broker: memoryBroker(input),
    backend: memcacheBackend({ ...input, resultsExpireIn }),
  }), { skip: memcacheSkip });
