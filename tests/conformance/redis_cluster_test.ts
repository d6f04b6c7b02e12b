/**
 * The end-to-end suite with the Redis broker and backend on a Redis Cluster of the test's own
 * (three masters with a replica each, on spare loopback ports, killed afterwards), reached by
 * the comma-separated URL of its nodes. Every script of ours touches one slot, or the cluster
 * would answer CROSSSLOT and the suite would fail.
 */
import { conformanceSuite } from "./suite.ts";
import { redisBackend, redisBroker } from "./adapters.ts";
import { ownRedisSkipReason } from "../faults/own_redis.ts";
import { type OwnRedisCluster, startOwnRedisCluster } from "../faults/own_redis_cluster.ts";
import { uniqueName } from "../integration/redis_support.ts";

const skip = ownRedisSkipReason();
const keyPrefix = `${uniqueName("machinery:cluster")}:`;
const redis = { clusterEnabled: true };

conformanceSuite("redis broker + redis backend on a Redis Cluster", async (input) => {
  const cluster: OwnRedisCluster = await startOwnRedisCluster();
  const config = { ...input, resultsExpireIn: 300, redis };
  return {
    broker: redisBroker(config, keyPrefix, cluster.url),
    backend: redisBackend(config, keyPrefix, cluster.url),
    // The whole cluster goes: nothing is left to delete key by key.
    cleanup: () => cluster.stop(),
  };
}, { skip, config: { redis } });
