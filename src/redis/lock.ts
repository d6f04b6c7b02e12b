/**
 * The Redis periodic lock: many scheduler processes on one Redis send each tick once.
 *
 * Keys and values are Go machinery's (`docs/wire.md#periodic-locks`): the key is `GetLockName(name, spec)` (see
 * `lockName`), the value is the next tick's Unix time in nanoseconds minus 1, as a decimal
 * string. The claim is one Lua script, so it is atomic: it succeeds when the key is missing or
 * holds a smaller value (an earlier tick), and then writes the value.
 *
 * Why not Go's protocol as is (`SET NX PX` until the next tick, then `GET`/`GETSET` to take over
 * a stale key): its key expires at the next tick, so a process that wakes late for a tick (or
 * whose clock is behind) finds no key and sends the tick again; and `GETSET` overwrites before
 * it compares. Comparing values makes a tick's claim final: the same tick is never granted
 * twice, and a late process cannot claim a tick older than one already sent. The key is kept
 * `retentionMs` (default 60 s) past the next tick, so the guarantee holds while the processes'
 * clocks agree within that margin.
 *
 * Go schedulers on the same key still exclude us and we exclude them: while we hold a tick, Go's
 * `SET NX` fails and its `GET` sees a value in the future; after the next tick, Go takes the
 * key over with `GETSET`, as it does with any stale key. A key Go wrote holds the same value we
 * would write for that tick, so our claim fails. (Mixed Go/TypeScript fleets must use the Go
 * binary's basename in the key: see `lockName`.)
 *
 * @module
 */
import type { Redis } from "ioredis";
import type { AdapterOptions } from "../adapter_options.ts";
import type { Lock } from "../lock.ts";
import { consoleLogger, throttledWarning } from "../log.ts";
import { defaultLockURL } from "../urls.ts";
import { type Config, type ConfigInput, resolveConfig } from "../config.ts";
import { ClosedError } from "../errors.ts";
import { closeRedis, openRedis } from "./_connection.ts";

/**
 * Options for {@linkcode RedisLock}: the config's `redis` section sets timeouts and the client
 * name, its `tls` sets TLS.
 */
export interface RedisLockOptions extends AdapterOptions {
  /** How long a claim is kept after the next tick, in milliseconds (default 60 000). */
  retentionMs?: number;
}

/**
 * The claim: KEYS[1] the lock key; ARGV[1] the value (decimal digits); ARGV[2] the expiry in
 * ms. Returns 1 when claimed, 0 when the key holds the same or a later value (or a value that
 * is not a number, which we never overwrite). Decimal strings of digits compare by length, then
 * lexically: no floating point, so 19-digit nanosecond values compare exactly.
 */
const CLAIM_SCRIPT = `
local held = redis.call('GET', KEYS[1])
if held then
  if not string.match(held, '^%d+$') then return 0 end
  local v = ARGV[1]
  if #held > #v or (#held == #v and held >= v) then return 0 end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return 1
`;

/** A {@linkcode Lock} shared by every process on one Redis; Go machinery's keys and values. */
export class RedisLock implements Lock {
  readonly #url: string;
  readonly #config: Config;
  readonly #retentionMs: number;
  readonly #onError: (error: Error) => void;
  #client?: Promise<Redis>;
  #closed = false;

  /** Makes a lock for `url` (`redis://`, `rediss://`, `redis+socket://`); connects lazily. */
  constructor(url = "redis://127.0.0.1:6379", options: RedisLockOptions = {}) {
    this.#url = url;
    this.#config = resolveConfig(options.config);
    this.#retentionMs = Math.max(0, Math.trunc(options.retentionMs ?? 60_000));
    this.#onError = throttledWarning(options.logger ?? consoleLogger(), "Redis lock connection");
  }

  /**
   * Builds one from a config: its `lock` URL, or else its Redis broker or result backend URL
   * (see `defaultLockURL`).
   */
  static fromConfig(config: ConfigInput, options: RedisLockOptions = {}): RedisLock {
    return new RedisLock(defaultLockURL(resolveConfig(config)), { ...options, config });
  }

  /** Connects now rather than at the first claim; fails if Redis cannot be reached. */
  async connect(): Promise<void> {
    await this.#connection();
  }

  /** Claims tick `value` of `key`: true unless the same or a later tick was claimed. */
  async acquire(key: string, value: bigint): Promise<boolean> {
    if (value < 0n) throw new RangeError(`Invalid lock value ${value}: expected a Unix time`);
    const client = await this.#connection();
    const untilMs = Number(value / 1_000_000n) + 1;
    const px = Math.max(1, untilMs - Date.now()) + this.#retentionMs;
    const claimed = await client.eval(CLAIM_SCRIPT, 1, key, value.toString(), px);
    return claimed === 1;
  }

  /** Closes the connection. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const client = this.#client;
    this.#client = undefined;
    if (client) await closeRedis(await client.catch(() => undefined));
  }

  /** Closes the lock at the end of an `await using` block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #connection(): Promise<Redis> {
    if (this.#closed) return Promise.reject(new ClosedError("The Redis lock is closed"));
    if (!this.#client) {
      const opening = openRedis(this.#url, this.#config, "commands", {
        onError: this.#onError,
      });
      // A failed connect is not kept: the next claim tries again.
      opening.catch(() => {
        if (this.#client === opening) this.#client = undefined;
      });
      this.#client = opening;
    }
    return this.#client;
  }
}
