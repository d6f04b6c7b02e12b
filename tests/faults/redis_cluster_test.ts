/**
 * Fault scenario: kill -9 of a Redis Cluster master mid-run (`master_kill_scenario.ts`). The
 * broker runs on a cluster of the test's own (three masters with a replica each); the master
 * serving the queue's slot is killed, its replica takes over (1 s `cluster-node-timeout`), the
 * worker and the sender follow the new slot owner, and the old master rejoins as a replica. The
 * fence write goes to a key in the queue's slot, so it rides that master's replication stream.
 */
import { keySlot, slotTag } from "../../src/redis/_slot.ts";
import { masterKillScenario } from "./master_kill_scenario.ts";
import { startOwnRedisCluster } from "./own_redis_cluster.ts";

masterKillScenario(
  "Redis Cluster master kill",
  "kill -9 of the queue's master mid-run: every confirmed send completes",
  "the replica takes over the queue's slot",
  async (queue) => {
    const cluster = await startOwnRedisCluster(300_000);
    const slot = keySlot(queue);
    const portOf = (url: string) => Number(new URL(url).port);
    const masterNow = async () => {
      const node = await cluster.masterOf(slot);
      return node ? portOf(node.url) : -1;
    };
    const first = await masterNow();
    const victim = cluster.nodes.find((n) => portOf(n.url) === first)!;
    return {
      url: cluster.url,
      redis: { clusterEnabled: true },
      workerEnv: {},
      masterPort: masterNow,
      fenceKey: `{${slotTag(queue)}}fence`,
      killMaster: () => victim.kill(),
      rejoin: async () => {
        await victim.restart();
        await cluster.waitHealthy();
      },
      stop: () => cluster.stop(),
    };
  },
);
