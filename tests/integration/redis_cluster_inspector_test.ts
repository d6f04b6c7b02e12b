/**
 * The inspector and registry suite (`redis_inspector_suite.ts`) on a Redis Cluster of the test's
 * own, with a queue whose name holds a hash tag (`inspect{q}_…`): its keys of ours take the tag's
 * slot, and the inspector finds them by queue.
 */
import { redisInspectorSuite } from "./redis_inspector_suite.ts";
import {
  clusterClient,
  ownRedisClusterSkipReason,
  startOwnRedisCluster,
} from "../faults/own_redis_cluster.ts";

redisInspectorSuite(
  "redis inspector on a Redis Cluster",
  ownRedisClusterSkipReason(),
  "inspect{q}",
  async () => {
    const cluster = await startOwnRedisCluster();
    const client = await clusterClient(cluster);
    return {
      url: cluster.url,
      clusterEnabled: true,
      // By name only: the suite's prefixes die with the cluster.
      deleteKeys: async (keys) => {
        await Promise.all(keys.map((key) => client.del(key)));
      },
      cleanup: async () => {
        client.disconnect();
        await cluster.stop();
      },
    };
  },
);
