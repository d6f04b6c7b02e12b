/**
 * The lock that lets many scheduler processes send each periodic tick once (machinery §6).
 *
 * Every process that registers a schedule wakes at each tick and asks the lock for it; the one
 * whose claim succeeds sends, the others skip the tick. Two implementations:
 * {@linkcode MemoryLock} for one process, and the Redis lock (`RedisLock` in the `./redis`
 * entry) for many processes on one Redis, Go schedulers included.
 *
 * @example
 * ```ts
 * import { lockName, MemoryLock } from "./lock.ts";
 *
 * const lock = new MemoryLock();
 * const key = lockName("cleanup", "@hourly");
 * const value = 1735790400_000_000_000n - 1n; // the next tick, in Unix ns, minus 1
 * console.log(await lock.acquire(key, value)); // true: this caller sends the tick
 * console.log(await lock.acquire(key, value)); // false: the tick is taken
 * await lock.close();
 * ```
 *
 * @module
 */
import type { Config } from "./config.ts";
import { MemoryLock } from "./locks/memory.ts";
import { redactPassword, URLError, urlScheme } from "./urls.ts";

export { MemoryLock, type MemoryLockOptions } from "./locks/memory.ts";

/**
 * Decides which process sends a periodic tick.
 *
 * A tick is named by a key (see {@linkcode lockName}) and a value: the Unix time in nanoseconds
 * of the schedule's *next* tick, minus 1, as Go machinery computes it. Values only grow, so a
 * claim succeeds only when no claim with the same or a greater value was granted for the key.
 */
export interface Lock {
  /**
   * Claims the tick `value` of `key`. Resolves `true` when this call claimed it (the caller
   * sends the tick) and `false` when the same or a later tick was already claimed. An
   * implementation never grants the same key and value twice. Rejects only when it cannot
   * tell (a lost connection); the caller then skips the tick.
   */
  acquire(key: string, value: bigint): Promise<boolean>;
  /** Releases what the lock holds (connections). Idempotent. */
  close(): Promise<void>;
}

/** The prefix of every periodic lock key, as in Go machinery. */
export const LOCK_KEY_PREFIX = "machinery_lock_";

/**
 * The lock key of a schedule, built as Go machinery's `GetLockName` does:
 * `"machinery_lock_" + binaryName + name + spec`, with no separators.
 *
 * Go puts its binary's basename (`filepath.Base(os.Args[0])`) in `binaryName`; to share ticks
 * with a Go scheduler, pass the Go binary's basename (for a binary named `main`, the key of
 * `("periodic-task", "0 6 * * ?")` is `machinery_lock_mainperiodic-task0 6 * * ?`). The default
 * `""` gives every TypeScript process the same key, whatever runtime or script runs it.
 */
export function lockName(name: string, spec: string, binaryName = ""): string {
  return `${LOCK_KEY_PREFIX}${binaryName}${name}${spec}`;
}

/** The lock value of a tick: the next tick's Unix time in nanoseconds, minus 1 (Go's value). */
export function lockValue(nextTick: Date): bigint {
  return BigInt(nextTick.getTime()) * 1_000_000n - 1n;
}

/**
 * The lock URL a process should use when the config names none: the config's `lock` if set,
 * else the broker URL if it is a Redis URL, else the result backend URL if it is one, else `""`
 * (the in-process lock). Unlike Go machinery, whose default is the in-process lock, this makes
 * workers that share a Redis broker or backend share their ticks too.
 */
export function defaultLockURL(config: Pick<Config, "lock" | "broker" | "resultBackend">): string {
  if (config.lock) return config.lock;
  for (const url of [config.broker, config.resultBackend]) {
    if (REDIS_SCHEMES.has(urlScheme(url))) return url;
  }
  return "";
}

const REDIS_SCHEMES = new Set(["redis", "rediss", "redis+socket"]);

/**
 * The lock for a URL: `""`, `eager` or `memory://` give a {@linkcode MemoryLock}; `redis://`,
 * `rediss://` and `redis+socket://` give a Redis lock (the driver is loaded only then).
 *
 * @throws {URLError} for another scheme.
 */
export async function lockFromURL(url: string, config?: Config): Promise<Lock> {
  const scheme = urlScheme(url);
  if (url === "" || scheme === "eager" || scheme === "memory") return new MemoryLock();
  if (REDIS_SCHEMES.has(scheme)) {
    const { RedisLock } = await import("./locks/redis.ts");
    return new RedisLock(url, { config });
  }
  throw new URLError(
    `Unsupported lock URL "${
      redactPassword(url)
    }": known schemes are redis, rediss, redis+socket, memory and eager`,
  );
}
