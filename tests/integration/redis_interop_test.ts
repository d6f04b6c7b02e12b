/** The Go interop suite (`redis_interop_suite.ts`) on the shared Redis. */
import { redisInteropSuite } from "./redis_interop_suite.ts";
import { deleteRedisKeys, rawClient, REDIS_URL, redisSkipReason } from "./redis_support.ts";

redisInteropSuite("redis interop with Go machinery's bytes", await redisSkipReason(), async () => {
  const client = rawClient();
  await client.connect();
  return {
    url: REDIS_URL,
    client,
    cleanup: async (keys, prefixes) => {
      await deleteRedisKeys(keys, prefixes);
      client.disconnect();
    },
  };
});
