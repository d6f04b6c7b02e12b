/**
 * The end-to-end suite with the Redis broker and backend through Redis Sentinel
 * (`redis.masterName` and the sentinels' comma-separated URL), on a topology of the test's own: a
 * master, a replica and three sentinels on spare loopback ports, killed afterwards.
 */
import { conformanceSuite } from "./suite.ts";
import { redisBackend, redisBroker } from "./adapters.ts";
import { ownRedisSkipReason } from "../faults/own_redis.ts";
import {
  type OwnSentinel,
  SENTINEL_MASTER_NAME,
  startOwnSentinel,
} from "../faults/own_sentinel.ts";
import { uniqueName } from "../integration/redis_support.ts";

const skip = ownRedisSkipReason();
const keyPrefix = `${uniqueName("machinery:sentinel")}:`;
const delayedTasksKey = `${keyPrefix}delayed_tasks`;
const redis = { delayedTasksKey, masterName: SENTINEL_MASTER_NAME };

conformanceSuite("redis broker + redis backend via Sentinel", async (input) => {
  const topology: OwnSentinel = await startOwnSentinel();
  const config = { ...input, resultsExpireIn: 300, redis };
  return {
    broker: redisBroker(config, keyPrefix, topology.url),
    backend: redisBackend(config, keyPrefix, topology.url),
    // The whole topology goes: nothing is left to delete key by key.
    cleanup: () => topology.stop(),
  };
}, { skip, config: { redis } });
