/**
 * The names and values of periodic locks, computed exactly as Go machinery computes them, so
 * TypeScript and Go schedulers on one Redis claim each tick once between them.
 *
 * @example
 * ```ts
 * import { MemoryLock } from "../memory/lock.ts";
 * import { lockName } from "./lock_name.ts";
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
