/**
 * Helpers for the tests that need Redis: whether it answers (skip visibly, or fail under
 * `REQUIRE_SERVICES=1`), unique names, a raw client, and deleting what a test wrote.
 */
import { Redis } from "ioredis";
import { env } from "../helpers.ts";

/** The Redis URL under test (`REDIS_URL`, default `redis://127.0.0.1:6379`). */
export const REDIS_URL: string = env("REDIS_URL") || "redis://127.0.0.1:6379";

/** Whether missing services fail the tests instead of skipping them. */
export const REQUIRE_SERVICES: boolean = env("REQUIRE_SERVICES") === "1";

/** A plain client for checks and clean-up; the caller closes it with `quit()`. */
export function rawClient(): Redis {
  const client = new Redis(REDIS_URL, { lazyConnect: true, maxRetriesPerRequest: 2 });
  client.on("error", () => {});
  return client;
}

/**
 * `false` when Redis answers; otherwise the skip reason (printed, so the skip is visible).
 * With `REQUIRE_SERVICES=1` it returns `false` anyway, so the tests run and fail.
 */
export async function redisSkipReason(): Promise<string | false> {
  const client = new Redis(REDIS_URL, {
    lazyConnect: true,
    connectTimeout: 2000,
    retryStrategy: () => null,
    maxRetriesPerRequest: 0,
  });
  client.on("error", () => {});
  try {
    await client.connect();
    await client.ping();
    return false;
  } catch (error) {
    const reason = `Redis is not reachable at ${REDIS_URL.replace(/\/\/[^@]*@/, "//")}: ${
      error instanceof Error ? error.message : String(error)
    }`;
    if (REQUIRE_SERVICES) return false;
    console.warn(`SKIP: ${reason}`);
    return reason;
  } finally {
    client.disconnect();
  }
}

/** A name unique to this run, e.g. `test_redis_1a2b3c4d`. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${crypto.randomUUID().slice(0, 8)}`;
}

/** Deletes the given keys and every key that starts with one of `prefixes`. */
export async function deleteRedisKeys(keys: string[], prefixes: string[] = []): Promise<void> {
  const client = rawClient();
  try {
    await client.connect();
    const all = [...keys];
    for (const prefix of prefixes) {
      let cursor = "0";
      do {
        const [next, found] = await client.scan(
          cursor,
          "MATCH",
          `${globEscape(prefix)}*`,
          "COUNT",
          1000,
        );
        cursor = next;
        all.push(...found);
      } while (cursor !== "0");
    }
    for (let i = 0; i < all.length; i += 500) {
      const chunk = all.slice(i, i + 500);
      if (chunk.length > 0) await client.del(...chunk);
    }
  } finally {
    client.disconnect();
  }
}

function globEscape(s: string): string {
  return s.replace(/[*?[\]\\]/g, (c) => `\\${c}`);
}
