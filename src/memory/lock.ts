/**
 * The in-process periodic lock: it keeps the greatest claimed value per key. Several schedulers
 * in one process (or one scheduler that somehow wakes twice for a tick) send each tick once;
 * other processes are not excluded (use the Redis lock for that).
 *
 * @module
 */
import type { AdapterOptions } from "../adapter_options.ts";
import type { ConfigInput } from "../config.ts";
import type { Lock } from "../lock.ts";

/** Options for {@linkcode MemoryLock}. */
export interface MemoryLockOptions extends AdapterOptions {
  /**
   * How long a claim is kept after the tick it names, in milliseconds (default 60 000). A key
   * whose last claim is older is forgotten, so removed schedules leave nothing behind.
   */
  retentionMs?: number;
  /** The clock, in Unix milliseconds (default `Date.now`); for tests. */
  now?: () => number;
}

/** A {@linkcode Lock} for one process: a map from key to the greatest value claimed. */
export class MemoryLock implements Lock {
  readonly #claims = new Map<string, bigint>();
  readonly #retentionNs: bigint;
  readonly #now: () => number;

  /** Makes an empty lock (`url` is `""`, `memory://` or `eager`; it names no server). */
  constructor(_url = "", options: MemoryLockOptions = {}) {
    this.#retentionNs = BigInt(Math.max(0, Math.trunc(options.retentionMs ?? 60_000))) *
      1_000_000n;
    this.#now = options.now ?? Date.now;
  }

  /** Builds one from a config (its `lock` URL is `""`, `memory://` or `eager`). */
  static fromConfig(config: ConfigInput, options: MemoryLockOptions = {}): MemoryLock {
    return new MemoryLock(config.lock, { ...options, config });
  }

  /** Resolves at once: there is nothing to connect to. */
  connect(): Promise<void> {
    return Promise.resolve();
  }

  /** Claims tick `value` of `key`: true unless the same or a later tick was claimed. */
  acquire(key: string, value: bigint): Promise<boolean> {
    this.#forgetOld();
    const held = this.#claims.get(key);
    if (held !== undefined && held >= value) return Promise.resolve(false);
    this.#claims.set(key, value);
    return Promise.resolve(true);
  }

  /** Forgets every claim. Idempotent. */
  close(): Promise<void> {
    this.#claims.clear();
    return Promise.resolve();
  }

  #forgetOld(): void {
    const cutoff = BigInt(this.#now()) * 1_000_000n - this.#retentionNs;
    for (const [key, value] of this.#claims) {
      if (value < cutoff) this.#claims.delete(key);
    }
  }
}
