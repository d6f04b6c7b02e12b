/**
 * Fault scenario: a Sentinel failover mid-run (`master_kill_scenario.ts`). The broker runs
 * through three sentinels of the test's own (a master and a replica behind them); the master is
 * killed, the sentinels promote the replica, the worker and the sender find the new master, and
 * the old master comes back empty and is made a replica of the new one.
 */
import { masterKillScenario } from "./master_kill_scenario.ts";
import { SENTINEL_MASTER_NAME, startOwnSentinel } from "./own_sentinel.ts";
import { waitFor } from "../helpers.ts";

masterKillScenario(
  "Sentinel failover",
  "kill -9 of the master mid-run: every confirmed send completes",
  "the sentinels promote the replica",
  async (queue) => {
    const topology = await startOwnSentinel(300_000);
    const { master } = topology;
    return {
      url: topology.url,
      redis: { masterName: SENTINEL_MASTER_NAME },
      workerEnv: { MASTER_NAME: SENTINEL_MASTER_NAME },
      masterPort: topology.masterPort,
      fenceKey: `${queue}:fence`,
      killMaster: () => master.kill(),
      rejoin: async () => {
        // Back empty: the sentinels make it a replica of the new master, which resyncs it.
        await master.restart();
        await waitFor(
          async () =>
            /role:slave[\s\S]*master_link_status:up/.test(await master.client.info("replication")),
          "the old master back as a replica",
          30_000,
        ).catch(async (error) => {
          const info = await master.client.info("replication").catch(String);
          throw new Error(`${error.message}; its INFO replication:\n${info}`);
        });
      },
      stop: () => topology.stop(),
    };
  },
);
