/**
 * Task timeouts, deadlines and expiry: the `Signature.Headers` keys that carry them (see
 * `docs/wire.md#signature-headers-we-use`), the helpers that set them, and the errors a worker
 * records when one passes. Go workers ignore the keys; ours read them before each run.
 *
 * @module
 */
import type { Signature } from "./wire/signature.ts";

/** Header: the most milliseconds one run of the task may take. */
export const TIMEOUT_HEADER = "machinery_ts_timeout_ms";
/** Header: the Unix time (ms) by which the task must have finished, retries included. */
export const DEADLINE_HEADER = "machinery_ts_deadline_ms";
/** Header: the Unix time (ms) after which a task that has not started is never run. */
export const EXPIRES_HEADER = "machinery_ts_expires_ms";

/**
 * Limits one run of a task to `ms` milliseconds: its `AbortSignal` fires then, and it is
 * recorded FAILURE `task timed out after …` (or retried while it has retries left). Overrides
 * the task's registered `timeout`. Returns the signature.
 */
export function setTaskTimeout<S extends Signature>(signature: S, ms: number): S {
  return setHeader(signature, TIMEOUT_HEADER, positiveMs(ms, "timeout"));
}

/**
 * Gives a task an absolute deadline: a run still going at `at` is aborted and recorded FAILURE
 * (never retried), and a task that reaches a worker later is not started. Returns the signature.
 */
export function setTaskDeadline<S extends Signature>(signature: S, at: Date): S {
  return setHeader(signature, DEADLINE_HEADER, unixMs(at, "deadline"));
}

/**
 * A task not started by `at` is never run: the worker that takes it later records FAILURE
 * `task expired`. A run that started in time is not limited by it. Returns the signature.
 */
export function setTaskExpiry<S extends Signature>(signature: S, at: Date): S {
  return setHeader(signature, EXPIRES_HEADER, unixMs(at, "expiry"));
}

/** Why a task's run was aborted by the worker: a timeout, its deadline, or a cancellation. */
export class TaskAbortedError extends Error {
  /** True when the task must not be retried (a deadline or a cancellation). */
  readonly final: boolean;
  /** Makes the error; `final` forbids retries. */
  constructor(message: string, final: boolean) {
    super(message);
    this.name = "TaskAbortedError";
    this.final = final;
  }
}

/** The error of a run that took longer than `ms`: `task timed out after 2s`. */
export function timedOutError(ms: number): TaskAbortedError {
  return new TaskAbortedError(`task timed out after ${formatSeconds(ms)}`, false);
}

/** The error of a run still going at its deadline. */
export function deadlineError(deadlineMs: number): TaskAbortedError {
  return new TaskAbortedError(
    `task timed out: its deadline ${new Date(deadlineMs).toISOString()} passed`,
    true,
  );
}

/** The limits that apply to one run, read from its headers and its registration. */
export interface RunLimits {
  /** When the run must stop (Unix ms), or `Infinity`. */
  readonly stopAt: number;
  /** The error recorded when it does. */
  readonly error: () => TaskAbortedError;
}

/**
 * The earlier of the run's timeout (its header, else `registeredMs`) and its deadline, from
 * `now`; undefined when it has neither, which costs the worker nothing more.
 */
export function runLimits(
  signature: Signature,
  registeredMs: number | undefined,
  now: number,
): RunLimits | undefined {
  const headers = signature.headers;
  const timeout = headerNumber(headers, TIMEOUT_HEADER) ?? (registeredMs || undefined);
  const deadline = headerNumber(headers, DEADLINE_HEADER);
  if (timeout === undefined && deadline === undefined) return undefined;
  const byTimeout = timeout === undefined ? Infinity : now + timeout;
  if (deadline !== undefined && deadline <= byTimeout) {
    return { stopAt: deadline, error: () => deadlineError(deadline) };
  }
  return { stopAt: byTimeout, error: () => timedOutError(timeout!) };
}

/** The text of a task that was not started by its expiry time. */
export const EXPIRED_TEXT = "task expired";

/**
 * Why a task must not start at `now`: its expiry (`task expired`) or its deadline passed;
 * undefined when it may start.
 */
export function refusalToStart(signature: Signature, now: number): TaskAbortedError | undefined {
  const headers = signature.headers;
  if (headers === null) return undefined;
  const expires = headerNumber(headers, EXPIRES_HEADER);
  if (expires !== undefined && expires <= now) return new TaskAbortedError(EXPIRED_TEXT, true);
  const deadline = headerNumber(headers, DEADLINE_HEADER);
  if (deadline !== undefined && deadline <= now) return deadlineError(deadline);
  return undefined;
}

/** A header's positive finite number (a JSON number, or its text), or undefined. */
function headerNumber(headers: Record<string, unknown> | null, key: string): number | undefined {
  const raw = headers?.[key];
  if (raw === undefined || raw === null) return undefined;
  const n = Number(raw);
  return Number.isFinite(n) && n > 0 ? n : undefined;
}

function setHeader<S extends Signature>(signature: S, key: string, value: number): S {
  signature.headers = { ...signature.headers, [key]: value };
  return signature;
}

function positiveMs(ms: number, what: string): number {
  if (!Number.isFinite(ms) || ms <= 0) {
    throw new RangeError(`Invalid ${what} "${ms}": expected a positive number of milliseconds`);
  }
  return Math.ceil(ms);
}

function unixMs(at: Date, what: string): number {
  const ms = at.getTime();
  if (!Number.isFinite(ms)) throw new RangeError(`Invalid ${what} "${at}": expected a valid date`);
  return ms;
}

/** 2000 → `2s`, 1500 → `1.5s`, 250 → `0.25s`. */
function formatSeconds(ms: number): string {
  return `${Number((ms / 1000).toFixed(3))}s`;
}
