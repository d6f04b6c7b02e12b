/**
 * Cancellation: what a worker keeps of the cancellations it heard of. A broker that supports
 * them (`Broker.cancelTask`, `Broker.watchCancellations`) keeps a mark per cancelled task for a
 * while and tells every watching worker; each worker holds the live marks in memory, so the
 * check before a task starts is a map lookup, with no round trip per task.
 *
 * @module
 */
import type { Backend } from "./backend.ts";
import { TaskAbortedError } from "./task_deadline.ts";
import type { Signature } from "./wire/signature.ts";

/** The error text of a cancelled task. */
export const CANCELLED_TEXT = "task cancelled";

/** How long a cancellation mark is kept by default (a day), for tasks delayed until then. */
export const DEFAULT_CANCEL_MARK_MS = 24 * 60 * 60 * 1000;

/** The error a cancelled task is recorded with; it is never retried. */
export function cancelledError(): TaskAbortedError {
  return new TaskAbortedError(CANCELLED_TEXT, true);
}

/** True for the error {@linkcode cancelledError} makes. */
export function isCancellation(error: unknown): boolean {
  return error instanceof TaskAbortedError && error.message === CANCELLED_TEXT;
}

/**
 * Records FAILURE `task cancelled`, unless the task's stored state is final: a task that finished
 * while it was being cancelled keeps its outcome. Atomic where the backend has
 * `setStateFailureUnlessCompleted`; elsewhere a plain write (the caller checked the state before,
 * so only a task that finishes in between is overwritten). Resolves with whether it wrote.
 */
export function recordCancelled(backend: Backend, signature: Signature): Promise<boolean> {
  if (backend.setStateFailureUnlessCompleted) {
    return backend.setStateFailureUnlessCompleted(signature, CANCELLED_TEXT);
  }
  return backend.setStateFailure(signature, CANCELLED_TEXT).then(() => true);
}

/** The cancelled task UUIDs a worker heard of, each until its mark expires. */
export class CancelMarks {
  readonly #until = new Map<string, number>();
  #pruneAt = 1024;

  /** Records that `uuid` is cancelled until Unix time `until` (ms). */
  add(uuid: string, until: number): void {
    this.#until.set(uuid, Math.max(until, this.#until.get(uuid) ?? 0));
    if (this.#until.size >= this.#pruneAt) this.#prune(Date.now());
  }

  /** True when `uuid` is cancelled at `now`. */
  has(uuid: string, now: number): boolean {
    if (this.#until.size === 0) return false;
    const until = this.#until.get(uuid);
    return until !== undefined && until > now;
  }

  /** The number of marks held. */
  get size(): number {
    return this.#until.size;
  }

  #prune(now: number): void {
    for (const [uuid, until] of this.#until) if (until <= now) this.#until.delete(uuid);
    this.#pruneAt = Math.max(1024, 2 * this.#until.size);
  }
}

/** The broker keeps no cancellation marks, so tasks on it cannot be cancelled. */
export class CancelUnsupportedError extends Error {
  /** Names the broker's URL (its password hidden by the caller). */
  constructor(broker: string) {
    super(`The broker "${broker}" does not support cancelling tasks`);
    this.name = "CancelUnsupportedError";
  }
}

/** Options for `Server.cancelTask`. */
export interface CancelOptions {
  /**
   * How long the mark is kept (default a day): a cancelled task that reaches a worker later than
   * this runs after all, so give a task delayed further a longer one.
   */
  keepMarkMs?: number;
}
