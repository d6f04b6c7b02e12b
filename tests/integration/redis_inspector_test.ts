/** The inspector and registry suite (`redis_inspector_suite.ts`) on the shared Redis. */
import { redisInspectorSuite } from "./redis_inspector_suite.ts";
import { deleteRedisKeys, REDIS_URL, redisSkipReason } from "./redis_support.ts";

redisInspectorSuite(
  "redis inspector",
  await redisSkipReason(),
  "inspect_q",
  () => Promise.resolve({ url: REDIS_URL, deleteKeys: deleteRedisKeys, cleanup: deleteRedisKeys }),
);
