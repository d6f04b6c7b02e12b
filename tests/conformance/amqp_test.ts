/**
 * The contract suite on RabbitMQ: the AMQP broker with the AMQP result backend, with the memory
 * backend, and with the Redis backend (the seed article's setup). Skipped with a printed reason
 * when a server is not reachable, unless `REQUIRE_SERVICES=1`.
 */
import { conformanceSuite } from "./suite.ts";
import { type Backend, MemoryBackend } from "../../mod.ts";
import { AMQPBackend, AMQPBroker } from "../../src/amqp/mod.ts";
import { RedisBackend } from "../../src/redis/mod.ts";
import { silentLogger } from "../../src/log.ts";
import { AMQP_URL, amqpSkipReason, deleteAMQP, uniqueName } from "../integration/amqp_support.ts";
import { deleteRedisKeys, REDIS_URL, redisSkipReason } from "../integration/redis_support.ts";

const amqpSkip = await amqpSkipReason();
const redisSkip = amqpSkip || await redisSkipReason();

for (const backendKind of ["amqp", "memory", "redis"] as const) {
  const exchange = uniqueName("conformance_exchange");
  const keyPrefix = `${uniqueName("machinery:test")}:`;
  conformanceSuite(`amqp broker + ${backendKind} backend`, (input) => {
    const config = { ...input, resultsExpireIn: 60 };
    const queue = config.defaultQueue!;
    const broker = new AMQPBroker(AMQP_URL, {
      config: {
        defaultQueue: queue,
        amqp: { exchange, bindingKey: `${queue}_task`, prefetchCount: 10 },
      },
      logger: silentLogger,
    });
    let backend: Backend;
    if (backendKind === "amqp") {
      backend = new AMQPBackend(AMQP_URL, { config: { resultsExpireIn: 60, amqp: { exchange } } });
    } else if (backendKind === "redis") {
      backend = new RedisBackend(REDIS_URL, { config, keyPrefix });
    } else {
      backend = new MemoryBackend();
    }
    return Promise.resolve({
      broker,
      backend,
      cleanup: async () => {
        // State queues (AMQP) and keys (Redis) are named by task UUIDs and expire after 60 s.
        await deleteAMQP([queue, `${queue}.dead_letters`], [exchange]);
        if (backendKind === "redis") await deleteRedisKeys([], [keyPrefix]);
      },
    });
  }, {
    skip: backendKind === "redis" ? redisSkip : amqpSkip,
    config: { amqp: { exchange } },
  });
}
