/**
 * The Redis adapters on a Redis Cluster of the test's own (three masters with a replica each, on
 * spare loopback ports, killed afterwards), reached by the comma-separated URL of its nodes: the
 * broker and backend contracts on one cluster, and the end-to-end suite, with priorities on, on
 * another. Every script of ours touches one slot, or the cluster would answer CROSSSLOT and the
 * tests would fail.
 */
import { conformanceSuite } from "./suite.ts";
import { brokerContract } from "./broker_contract.ts";
import { backendContract } from "./backend_contract.ts";
import { redisBackend, redisBroker } from "./adapters.ts";
import type { RedisBroker } from "../../src/redis/mod.ts";
import {
  type OwnRedisCluster,
  ownRedisClusterSkipReason,
  startOwnRedisCluster,
} from "../faults/own_redis_cluster.ts";
import { uniqueName } from "../integration/redis_support.ts";

const skip = ownRedisClusterSkipReason();
const keyPrefix = `${uniqueName("machinery:cluster")}:`;

// One cluster for both contracts, started by the first `make` and stopped by the last clean-up.
let shared: Promise<OwnRedisCluster> | undefined;
let users = 2;
const sharedURL = async () => (await (shared ??= startOwnRedisCluster())).url;
const release = async () => {
  if (--users === 0) await (await shared)?.stop();
};

brokerContract("redis broker on a Redis Cluster", {
  skip,
  make: async (queue) =>
    redisBroker(
      { defaultQueue: queue, redis: { clusterEnabled: true } },
      keyPrefix,
      await sharedURL(),
    ),
  deadLetters: (broker, queue) => (broker as RedisBroker).getDeadLetters(queue),
  purge: "the Redis broker offers no purge",
  redeliversToOtherInstances: true,
  flagsRedelivered: "a message given back to its Redis list carries no redelivery mark",
  listsDelayedTasks: true,
  cleanup: release,
});

backendContract("redis backend on a Redis Cluster", {
  skip,
  make: async (resultsExpireIn) =>
    redisBackend(
      { resultsExpireIn, redis: { clusterEnabled: true } },
      keyPrefix,
      await sharedURL(),
    ),
  sharedStore: true,
  laterStates: "merged",
  groupMeta: true,
  expiry: true,
  refusesCallsAfterClose: true,
  failureUnlessCompleted: true,
  cleanup: release,
});

const redis = { clusterEnabled: true, priorityQueues: true };

conformanceSuite("redis broker + redis backend on a Redis Cluster", async (input) => {
  const cluster: OwnRedisCluster = await startOwnRedisCluster();
  const config = { ...input, resultsExpireIn: 300, redis };
  return {
    broker: redisBroker(config, keyPrefix, cluster.url),
    backend: redisBackend(config, keyPrefix, cluster.url),
    // The whole cluster goes: nothing is left to delete key by key.
    cleanup: () => cluster.stop(),
  };
}, { skip, config: { redis }, priorities: true });
