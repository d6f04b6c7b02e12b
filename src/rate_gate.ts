/**
 * The worker's side of rate limits (see `docs/architecture.md#rate-limits`): before a task of a
 * limited name takes a run slot, it reserves a start time. A start due within `HOLD_MS` is waited
 * for in place (no run slot is held meanwhile); a later one gives the message back to the broker
 * with the reserved time in the `machinery_ts_rate_due` header, delayed by at most the time left,
 * so it is never started early, never lost, and the worker keeps running other tasks.
 *
 * @module
 */
import type { Backend } from "./backend.ts";
import type { Broker, Delivery } from "./broker.ts";
import type { Logger } from "./log.ts";
import {
  localRateLimiter,
  parseRateLimit,
  RATE_DUE_HEADER,
  type RateLimit,
  type RateLimiter,
} from "./rate_limit.ts";
import type { TaskDefinition } from "./task.ts";
import { encodeSignature, type Signature } from "./wire/signature.ts";
import { sleep } from "./sleep.ts";

/**
 * A start due this soon is waited for in place rather than through the broker; half of it is the
 * slack a message given back keeps before its start (RabbitMQ's TTL expiry runs tens of ms late).
 */
const HOLD_MS = 500;

/** Something that may keep a rate limiter shared by every worker (a broker or a backend). */
export interface MayLimitRates {
  /** The shared limiter, if it has one. */
  readonly rateLimiter?: RateLimiter;
}

/** What the gate needs from the worker's server. */
export interface RateGateHost {
  /** The broker (its limiter is preferred). */
  readonly broker: Broker;
  /** The backend (its limiter serves an AMQP broker). */
  readonly backend: Backend;
  /** Where the per-worker warning goes. */
  readonly logger: Logger;
  /** True when `name` is registered. */
  isTaskRegistered(name: string): boolean;
  /** The registered task (its `rateLimit` option). */
  getRegisteredTask(name: string): TaskDefinition;
}

/** Admits tasks at their rate limits. */
export class RateGate {
  readonly #host: RateGateHost;
  readonly #overrides: Map<string, RateLimit>;
  readonly #byName = new Map<string, RateLimit | null>();
  readonly #stopping: AbortSignal;
  #shared?: RateLimiter;

  /** A gate for a worker of `host`, with `overrides` (task name → `"100/s"`) over registrations. */
  constructor(host: RateGateHost, overrides: Record<string, string>, stopping: AbortSignal) {
    this.#host = host;
    this.#overrides = new Map(
      Object.entries(overrides).map(([name, text]) => [name, parseRateLimit(text)]),
    );
    this.#stopping = stopping;
  }

  /** The limit of a task name, if it has one (the worker's override, else its registration). */
  limits(name: string): RateLimit | undefined {
    let limit = this.#byName.get(name);
    if (limit === undefined) {
      const registered = this.#host.isTaskRegistered(name)
        ? this.#host.getRegisteredTask(name).options.rateLimit
        : undefined;
      limit = this.#overrides.get(name) ??
        (registered === undefined ? null : parseRateLimit(registered));
      this.#byName.set(name, limit);
    }
    return limit ?? undefined;
  }

  /**
   * Resolves true when the task may start now (its reservation header removed, so a retry
   * reserves anew); false when the message went back to the broker to wait for its start.
   */
  async admit(delivery: Delivery, signature: Signature): Promise<boolean> {
    const limit = this.limits(signature.name)!;
    const headers = signature.headers ?? {};
    const reserved = Number(headers[RATE_DUE_HEADER]);
    const due = Number.isFinite(reserved) && headers[RATE_DUE_HEADER] !== undefined
      ? reserved
      : Date.now() + await this.#limiter().reserve(signature.name, limit);
    let wait = due - Date.now();
    if (wait <= HOLD_MS) {
      if (wait > 0) await sleep(wait, this.#stopping);
      wait = due - Date.now();
      if (wait <= 0) {
        delete headers[RATE_DUE_HEADER];
        return true;
      }
    }
    signature.headers = { ...headers, [RATE_DUE_HEADER]: Math.ceil(due) };
    await delivery.requeue(backOff(wait), encodeSignature(signature));
    return false;
  }

  #limiter(): RateLimiter {
    if (this.#shared) return this.#shared;
    const { broker, backend, logger } = this.#host;
    const shared = (broker as MayLimitRates).rateLimiter ?? (backend as MayLimitRates).rateLimiter;
    if (!shared) {
      const names = [...new Set([...this.#overrides.keys(), ...this.#byName.keys()])];
      logger.warn(
        `Rate limits are per worker here: neither the broker nor the result backend is Redis, so each worker keeps its own count (tasks: ${
          names.map((n) => `"${n}"`).join(", ")
        })`,
      );
    }
    this.#shared = shared ?? localRateLimiter();
    return this.#shared;
  }
}

/**
 * How long the broker keeps a message that must wait `wait` ms: the largest power of two that
 * leaves it half of `HOLD_MS` to spare, so it comes back early rather than late and the rest is
 * waited in place; powers of two keep AMQP's per-delay requeue queues few (`requeue.<ms>.<queue>`).
 */
export function backOff(wait: number): number {
  return 2 ** Math.floor(Math.log2(Math.max(1, wait - HOLD_MS / 2)));
}
