/**
 * The Redis adapters: the broker and backend contracts, and the end-to-end suite on the Redis
 * broker with the Redis backend, the memory broker with the Redis backend, and the Redis broker
 * with the memory backend. Skipped with a printed reason when Redis is not reachable, unless
 * `REQUIRE_SERVICES=1`.
 */
import { conformanceSuite } from "./suite.ts";
import { brokerContract } from "./broker_contract.ts";
import { backendContract } from "./backend_contract.ts";
import { memoryBackend, memoryBroker, redisBackend, redisBroker } from "./adapters.ts";
import type { RedisBroker } from "../../src/redis/mod.ts";
import { deleteRedisKeys, redisSkipReason, uniqueName } from "../integration/redis_support.ts";

const skip = await redisSkipReason();

{
  const keyPrefix = `${uniqueName("machinery:test")}:`;
  const redis = { delayedTasksKey: `${keyPrefix}delayed_tasks` };
  brokerContract("redis broker", {
    skip,
    make: (queue) => redisBroker({ defaultQueue: queue, redis }, keyPrefix),
    deadLetters: (broker, queue) => (broker as RedisBroker).getDeadLetters(queue),
    purge: "the Redis broker offers no purge",
    redeliversToOtherInstances: true,
    flagsRedelivered: "a message given back to its Redis list carries no redelivery mark",
    listsDelayedTasks: true,
    cleanup: (queues) => deleteRedisKeys(queues, [keyPrefix]),
  });
}

{
  const keyPrefix = `${uniqueName("machinery:test")}:`;
  backendContract("redis backend", {
    skip,
    make: (resultsExpireIn) => redisBackend({ resultsExpireIn }, keyPrefix),
    sharedStore: true,
    laterStates: "merged",
    groupMeta: true,
    expiry: true,
    refusesCallsAfterClose: true,
    failureUnlessCompleted: true,
    cleanup: (written) => deleteRedisKeys(written, [keyPrefix]),
  });
}

const pairs = [
  ["redis", "redis"],
  ["memory", "redis"],
  ["redis", "memory"],
] as const;

for (const [brokerKind, backendKind] of pairs) {
  const keyPrefix = `${uniqueName("machinery:test")}:`;
  const delayedTasksKey = `${keyPrefix}delayed_tasks`;
  // The Redis pair runs with priorities on (every scenario, plus theirs); the Redis broker +
  // memory backend pair keeps the default (off).
  const priorityQueues = brokerKind === "redis" && backendKind === "redis";
  conformanceSuite(`${brokerKind} broker + ${backendKind} backend`, (input) => {
    const config = { ...input, resultsExpireIn: 300, redis: { delayedTasksKey, priorityQueues } };
    const queue = config.defaultQueue!;
    return Promise.resolve({
      broker: brokerKind === "redis" ? redisBroker(config, keyPrefix) : memoryBroker(config),
      backend: backendKind === "redis" ? redisBackend(config, keyPrefix) : memoryBackend(config),
      cleanup: () => deleteRedisKeys([queue, delayedTasksKey], [keyPrefix]),
    });
  }, { skip, config: { redis: { delayedTasksKey, priorityQueues } }, priorities: priorityQueues });
}
