/**
 * machinery's example tasks (its `example/tasks`), plus the seed article's HelloWorld.
 * `registerExampleTasks(server)` registers them under machinery's names.
 *
 * @module
 */
import { results, type Server, typed, withContext } from "../mod.ts";

/** The sum of the arguments, from 0 (exact in bigint when an int64 is beyond 2^53). */
export function add(...args: (number | bigint)[]): number | bigint {
  if (args.some((a) => typeof a === "bigint")) {
    return args.reduce<bigint>((a, b) => a + BigInt(b), 0n);
  }
  return (args as number[]).reduce((a, b) => a + b, 0);
}

/** The product of the arguments, from 1 (exact in bigint when an int64 is beyond 2^53). */
export function multiply(...args: (number | bigint)[]): number | bigint {
  if (args.some((a) => typeof a === "bigint")) {
    return args.reduce<bigint>((a, b) => a * BigInt(b), 1n);
  }
  return (args as number[]).reduce((a, b) => a * b, 1);
}

/** The sum of a list of integers. */
export function sumInts(numbers: number[]): number {
  return numbers.reduce((a, b) => a + b, 0);
}

/** The sum of a list of floats (always a `float64` result, even when it is whole). */
export function sumFloats(numbers: number[]) {
  return typed("float64", numbers.reduce((a, b) => a + b, 0));
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
 * Registers the example tasks under machinery's names. `longRunningSeconds` shortens
 * `long_running_task` (machinery's runs for 10 seconds).
 */
export function registerExampleTasks(server: Server, longRunningSeconds = 10): void {
  server.registerTasks({
    add,
    multiply,
    sum_ints: sumInts,
    sum_floats: sumFloats,
    concat,
    split,
    panic_task: panicTask,
    long_running_task: withContext((ctx) => longRunningTask(ctx, longRunningSeconds)),
    HelloWorld: helloWorld,
  });
}
