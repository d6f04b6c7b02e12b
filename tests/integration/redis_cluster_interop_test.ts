/**
 * The Go interop suite (`redis_interop_suite.ts`) on a Redis Cluster of the test's own: Go's
 * queue list, `delayed_tasks`, task states and group metas hold Go's bytes under Go's names
 * there too, while our own keys are tagged to their queue's slot.
 */
import { redisInteropSuite } from "./redis_interop_suite.ts";
import {
  clusterClient,
  ownRedisClusterSkipReason,
  startOwnRedisCluster,
} from "../faults/own_redis_cluster.ts";

redisInteropSuite(
  "redis interop with Go machinery's bytes, on a Redis Cluster",
  ownRedisClusterSkipReason(),
  async () => {
    const cluster = await startOwnRedisCluster();
    const client = await clusterClient(cluster);
    return {
      url: cluster.url,
      redis: { clusterEnabled: true },
      client,
      // The whole cluster goes: nothing is left to delete key by key.
      cleanup: async () => {
        client.disconnect();
        await cluster.stop();
      },
    };
  },
);
