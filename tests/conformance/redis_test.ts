/**
 * The contract suite on Redis: the Redis broker with the Redis backend, the memory broker with
 * the Redis backend, and the Redis broker with the memory backend. Skipped with a printed reason
 * when Redis is not reachable, unless `REQUIRE_SERVICES=1`.
 */
import { conformanceSuite } from "./suite.ts";
import { MemoryBackend, MemoryBroker } from "../../mod.ts";
import { RedisBackend, RedisBroker } from "../../src/redis/mod.ts";
import {
  deleteRedisKeys,
  REDIS_URL,
  redisSkipReason,
  uniqueName,
} from "../integration/redis_support.ts";

const skip = await redisSkipReason();

const pairs = [
  ["redis", "redis"],
  ["memory", "redis"],
  ["redis", "memory"],
] as const;

for (const [brokerKind, backendKind] of pairs) {
  const keyPrefix = `${uniqueName("machinery:test")}:`;
  const delayedTasksKey = `${keyPrefix}delayed_tasks`;
  conformanceSuite(`${brokerKind} broker + ${backendKind} backend`, (input) => {
    const config = { ...input, resultsExpireIn: 300, redis: { delayedTasksKey } };
    const queue = config.defaultQueue!;
    const broker = brokerKind === "redis"
      ? new RedisBroker(REDIS_URL, { config, keyPrefix, leaseMs: 3000 })
      : new MemoryBroker("memory://", { config: { defaultQueue: queue } });
    const backend = backendKind === "redis"
      ? new RedisBackend(REDIS_URL, { config, keyPrefix })
      : new MemoryBackend();
    return Promise.resolve({
      broker,
      backend,
      cleanup: () => deleteRedisKeys([queue, delayedTasksKey], [keyPrefix]),
    });
  }, { skip, config: { redis: { delayedTasksKey } } });
}
