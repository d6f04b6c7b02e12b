/**
 * Global rate limits per task name (see `docs/architecture.md#rate-limits`): the parsed form of
 * `"100/s"` or `"100/s:20"`, the contract a limiter keeps, and the in-process limiter used when
 * neither the broker nor the result backend can share one.
 *
 * The rule is a GCRA with reservations: each task asks for a start time; the limiter answers
 * how long to wait and moves its "theoretical arrival time" one emission interval on, so tasks
 * that must wait are given distinct start times and none is asked twice.
 *
 * @module
 */

/** A parsed rate limit: one task start every `intervalMs`, up to `burst` at once after a pause. */
export interface RateLimit {
  /** The emission interval: 1000 / rate per second, in ms. */
  readonly intervalMs: number;
  /** How many tasks may start at once after an idle period (at least 1). */
  readonly burst: number;
  /** The text it was parsed from, for logs. */
  readonly text: string;
}

/** Thrown for a rate limit that does not parse. */
export class RateLimitError extends Error {
  /** Creates the error; the message quotes the text. */
  constructor(message: string) {
    super(message);
    this.name = "RateLimitError";
  }
}

const UNIT_MS: Record<string, number> = { s: 1000, m: 60_000, h: 3_600_000 };

/** Parses `N/s`, `N/m` or `N/h`, optionally followed by `:BURST` (`100/s:20`). */
export function parseRateLimit(text: string): RateLimit {
  const match = /^\s*(\d+(?:\.\d+)?)\s*\/\s*([smh])\s*(?::\s*(\d+)\s*)?$/.exec(text);
  const count = match ? Number(match[1]) : NaN;
  const burst = match?.[3] === undefined ? 1 : Number(match[3]);
  if (!match || !(count > 0) || !Number.isFinite(count) || !(burst >= 1)) {
    throw new RateLimitError(
      `Invalid rate limit "${text}": expected a count per s, m or h, such as "100/s" or "100/s:20"`,
    );
  }
  return { intervalMs: UNIT_MS[match[2]] / count, burst, text: text.trim() };
}

/**
 * Reserves start times for tasks of one name. Shared by every worker that uses the same store:
 * the Redis broker's, or a Redis result backend's; otherwise each worker has its own.
 */
export interface RateLimiter {
  /** Reserves the next start for `name`; resolves with how long to wait for it, in ms (0: now). */
  reserve(name: string, limit: RateLimit): Promise<number>;
}

/** A GCRA step: the wait for a reservation at `now`, and the next theoretical arrival time. */
export function gcra(tat: number, now: number, limit: RateLimit): { wait: number; tat: number } {
  const from = Math.max(tat, now);
  const allowAt = Math.max(now, from - (limit.burst - 1) * limit.intervalMs);
  return { wait: allowAt - now, tat: from + limit.intervalMs };
}

/** A limiter for one process: exact for the memory broker, per worker anywhere else. */
export function localRateLimiter(now: () => number = Date.now): RateLimiter {
  const tats = new Map<string, number>();
  return {
    reserve(name, limit) {
      const step = gcra(tats.get(name) ?? 0, now(), limit);
      tats.set(name, step.tat);
      return Promise.resolve(step.wait);
    },
  };
}

/**
 * The header that carries a reserved start (Unix ms, the reserving worker's clock) on a message
 * given back to wait for it: the worker that takes it next runs it then, without a new
 * reservation.
 */
export const RATE_DUE_HEADER = "machinery_ts_rate_due";
