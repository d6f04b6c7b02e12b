/**
 * Retry timing: machinery's Fibonacci back-off and the "retry later" error.
 *
 * @module
 */

/**
 * The smallest number of the sequence 1, 1, 2, 3, 5, 8 … strictly greater than `n`
 * (machinery's `FibonacciNext`): 0→1, 1→2, 3→5, 4→5, 5→8, 8→13.
 */
export function fibonacciNext(n: number): number {
  let a = 1;
  let b = 1;
  while (a <= n) [a, b] = [b, a + b];
  return a;
}

/** Go's `time.Duration` text for a delay in milliseconds (`4h0m0s`, `1.5s`, `250ms`). */
export function formatGoDuration(ms: number): string {
  if (ms === 0) return "0s";
  const sign = ms < 0 ? "-" : "";
  ms = Math.abs(ms);
  if (ms < 1000) return `${sign}${trim(ms)}ms`;
  const hours = Math.floor(ms / 3_600_000);
  const minutes = Math.floor((ms % 3_600_000) / 60_000);
  const seconds = (ms % 60_000) / 1000;
  if (hours > 0) return `${sign}${hours}h${minutes}m${trim(seconds)}s`;
  if (minutes > 0) return `${sign}${minutes}m${trim(seconds)}s`;
  return `${sign}${trim(seconds)}s`;
}

function trim(n: number): string {
  return String(Number(n.toFixed(9)));
}

/**
 * Throw this from a task to have it run again after `retryInMs`, without touching its
 * RetryCount (machinery's `ErrRetryTaskLater`). It can repeat without limit.
 */
export class RetryTaskLaterError extends Error {
  /** The delay before the next attempt, in milliseconds. */
  readonly retryInMs: number;
  /** Creates the error; `message` is the task's reason. */
  constructor(message: string, retryInMs: number) {
    super(`Task error: ${message} Will retry in: ${formatGoDuration(retryInMs)}`);
    this.name = "RetryTaskLaterError";
    this.retryInMs = retryInMs;
  }
}

/** Shorthand for `new RetryTaskLaterError(message, retryInMs)`. */
export function retryLater(message: string, retryInMs: number): RetryTaskLaterError {
  return new RetryTaskLaterError(message, retryInMs);
}
