/**
 * machinery's example tasks (its `example/tasks`), plus the seed article's HelloWorld.
 * `registerExampleTasks(server)` registers them under machinery's names.
 *
 * @module
 */
import { results, type Server, withContext } from "../mod.ts";

/** A Go int64 as a task gets it: a number when safe, a bigint beyond 2^53. */
export type Int64 = number | bigint;

/**
 * Folds int64s as Go does: exact, wrapping at 64 bits (`multiply(4294967296, 4294967296)` is
 * 0). Safe integers combine exactly as numbers while the result stays safe, so the usual small
 * values never touch bigint.
 */
function foldInt64(
  values: readonly Int64[],
  start: number,
  small: (a: number, b: number) => number,
  exact: (a: bigint, b: bigint) => bigint,
): Int64 {
  let acc = start;
  let i = 0;
  for (; i < values.length; i++) {
    const value = values[i];
    if (typeof value !== "number") break;
    const next = small(acc, value);
    if (!Number.isSafeInteger(next)) break;
    acc = next;
  }
  if (i === values.length) return acc;
  let big = BigInt(acc);
  for (; i < values.length; i++) big = BigInt.asIntN(64, exact(big, BigInt(values[i])));
  return Number.MIN_SAFE_INTEGER <= big && big <= Number.MAX_SAFE_INTEGER ? Number(big) : big;
}

/** The sum of the arguments, from 0, in Go's int64 arithmetic. */
export function add(...args: Int64[]): Int64 {
  return foldInt64(args, 0, (a, b) => a + b, (a, b) => a + b);
}

/** The product of the arguments, from 1, in Go's int64 arithmetic. */
export function multiply(...args: Int64[]): Int64 {
  return foldInt64(args, 1, (a, b) => a * b, (a, b) => a * b);
}

/** The sum of a list of integers, in Go's int64 arithmetic. */
export function sumInts(numbers: Int64[]): Int64 {
  return foldInt64(numbers, 0, (a, b) => a + b, (a, b) => a + b);
}

/** The sum of a list of floats. */
export function sumFloats(numbers: number[]): number {
  return numbers.reduce((a, b) => a + b, 0);
}

/** The strings joined with no separator. */
export function concat(strs: string[]): string {
  return strs.join("");
}

/** One string per character (code point), like Go's `strings.Split(s, "")`. */
export function split(str: string): string[] {
  return [...str];
}

/** Always fails with `oops`, as machinery's `panic_task` panics. */
export function panicTask(): string {
  throw new Error("oops");
}

/** Logs a countdown, one line a second, then returns no results. */
export const longRunningTask = withContext(async (ctx, seconds?: number) => {
  const log = (m: string) => console.error(`INFO: ${m}`);
  log("Long running task started");
  for (let i = seconds ?? 10; i > 0; i--) {
    log(String(i));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(resolve, 1000);
      ctx.signal.addEventListener("abort", () => {
        clearTimeout(timer);
        reject(ctx.signal.reason);
      }, { once: true });
    });
  }
  log("Long running task finished");
});

/** The seed article's task: greets its argument. */
export function helloWorld(_arg: string): string {
  return "Hi, i'm worker@localhost";
}

/** Two results, as Go's `(string, string, error)`. */
export function twoResults(a: string, b: string) {
  return results(a, b);
}

/**
 * Registers the example tasks under machinery's names, with the parameter and result types of
 * their Go functions (`add` is `func(args ...int64) (int64, error)`), so ill-typed calls fail
 * with Go's texts and results carry Go's type names. `longRunningSeconds` shortens
 * `long_running_task` (machinery's runs for 10 seconds).
 */
export function registerExampleTasks(server: Server, longRunningSeconds = 10): void {
  server.registerTasks({
    add: { fn: add, args: ["...int64"], results: ["int64"] },
    multiply: { fn: multiply, args: ["...int64"], results: ["int64"] },
    sum_ints: { fn: sumInts, args: ["[]int64"], results: ["int64"] },
    sum_floats: { fn: sumFloats, args: ["[]float64"], results: ["float64"] },
    concat: { fn: concat, args: ["[]string"], results: ["string"] },
    split: { fn: split, args: ["string"], results: ["[]string"] },
    panic_task: { fn: panicTask, args: [], results: ["string"] },
    long_running_task: {
      fn: withContext((ctx) => longRunningTask(ctx, longRunningSeconds)),
      args: [],
    },
    HelloWorld: { fn: helloWorld, args: ["string"], results: ["string"] },
  });
}
