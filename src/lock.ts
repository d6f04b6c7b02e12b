/**
 * The lock contract that lets many scheduler processes send each periodic tick once (see
 * `docs/wire.md#periodic-locks`).
 *
 * Every process that registers a schedule wakes at each tick and asks the lock for it; the one
 * whose claim succeeds sends, the others skip the tick. Implementations: `MemoryLock` for one
 * process, and `RedisLock` (the `./redis` entry) for many processes on one Redis, Go schedulers
 * included. `lockFromURL` in `from_url.ts` picks one for a URL.
 *
 * @module
 */

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
  /**
   * A lock with a connection (the Redis lock) has this: it connects now, so that an unreachable
   * server is reported at start, and rejects when it cannot. Optional to call: the first claim
   * connects too.
   */
  connect?(): Promise<void>;
  /** Releases what the lock holds (connections). Idempotent. */
  close(): Promise<void>;
}
