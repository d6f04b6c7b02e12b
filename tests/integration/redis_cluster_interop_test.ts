/**
 * The Go interop suite (`redis_interop_suite.ts`) on a Redis Cluster of the test's own: Go's
 * queue list, `delayed_tasks`, task states and group metas hold Go's bytes under Go's names
 * there too, while our own keys are tagged to their queue's slot.
 */
import { Cluster, type Redis } from "ioredis";
import { redisInteropSuite } from "./redis_interop_suite.ts";
import { ownRedisSkipReason } from "../faults/own_redis.ts";
import { startOwnRedisCluster } from "../faults/own_redis_cluster.ts";

redisInteropSuite(
  "redis interop with Go machinery's bytes, on a Redis Cluster",
  ownRedisSkipReason(),
  async () => {
    const cluster = await startOwnRedisCluster();
    const hosts = cluster.nodes.map((n) => ({
      host: "127.0.0.1",
      port: Number(new URL(n.url).port),
    }));
    const client = new Cluster(hosts, { lazyConnect: true });
    client.on("error", () => {});
    await client.connect();
    return {
      url: cluster.url,
      redis: { clusterEnabled: true },
      client: client as unknown as Redis,
      // The whole cluster goes: nothing is left to delete key by key.
      cleanup: async () => {
        client.disconnect();
        await cluster.stop();
      },
    };
  },
);
