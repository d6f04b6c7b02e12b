/**
 * machinery's example `send` sequence: single tasks, a group, a chord, a chain, a
 * panicking task and a long-running task, printing the same lines in the same order as Go's
 * `example/.../main.go`. The CLI's `demo` and `send` (without a task name) both run it.
 *
 * @example
 * ```ts
 * import { Server } from "../mod.ts";
 * import { registerExampleTasks } from "./tasks.ts";
 * import { runExampleSequence } from "./send_sequence.ts";
 *
 * const server = await Server.fromConfig({ broker: "memory://", resultBackend: "memory://" });
 * registerExampleTasks(server, 1);
 * const worker = server.newWorker("machinery_worker", 0);
 * const running = worker.launch();
 * await runExampleSequence(server, (line) => console.log(line));
 * await worker.quit();
 * await running;
 * await server.close();
 * ```
 *
 * @module
 */
import { type Arg, newChain, newChord, newGroup, newSignature } from "../mod.ts";
import { humanReadable } from "../src/wire/mod.ts";
import type { GetOptions, Server, Signature } from "../mod.ts";

/** machinery's `Get(time.Millisecond * 5)`. */
const POLL = { pollInterval: 5 };

/** Fresh signatures for one block, as Go's `initTasks()` builds them (no UUID is reused). */
function initTasks() {
  // Go's `tasks.Signature{Name: "panic_task"}` has nil Args: "Args":null on the wire.
  const sig = (name: string, ...args: [string, unknown][]): Signature =>
    newSignature(
      name,
      args.length === 0 ? null : args.map(([type, value]): Arg => ({ name: "", type, value })),
    );
  return {
    addTask0: sig("add", ["int64", 1], ["int64", 1]),
    addTask1: sig("add", ["int64", 2], ["int64", 2]),
    addTask2: sig("add", ["int64", 5], ["int64", 6]),
    multiplyTask0: sig("multiply", ["int64", 4]),
    multiplyTask1: sig("multiply"),
    sumIntsTask: sig("sum_ints", ["[]int64", [1, 2]]),
    sumFloatsTask: sig("sum_floats", ["[]float64", [1.5, 2.7]]),
    concatTask: sig("concat", ["[]string", ["foo", "bar"]]),
    splitTask: sig("split", ["string", "foo"]),
    panicTask: sig("panic_task"),
    longRunningTask: sig("long_running_task"),
  };
}

/** Runs `step`; a failure becomes an error whose message starts with `prefix`, as in Go. */
async function step<T>(prefix: string, run: () => Promise<T> | T): Promise<T> {
  try {
    return await run();
  } catch (error) {
    const text = error instanceof Error ? error.message : String(error);
    throw new Error(`${prefix}: ${text}`, { cause: error });
  }
}

/** Options of {@link runExampleSequence}. */
export interface SequenceOptions {
  /** More `get` options for each wait (called once per wait), e.g. to report progress. */
  waiting?: () => GetOptions;
}

/** Sends one task and waits for its results, with Go's error texts. */
async function sendAndGet(
  server: Server,
  signature: Signature,
  wait: () => GetOptions,
): Promise<unknown[]> {
  const result = await step("Could not send task", () => server.sendTask(signature));
  return await step("Getting task result failed with error", () => result.get(wait()));
}

/**
 * Sends machinery's example tasks through `server` and prints machinery's lines through `print`,
 * one call per line, in machinery's order. A worker with the example tasks (see
 * `registerExampleTasks`) must be consuming the same broker. Rejects with machinery's error texts
 * (`Could not send task: …`, `Getting chord result failed with error: …`, …) if a step fails.
 */
export async function runExampleSequence(
  server: Server,
  print: (line: string) => void,
  options: SequenceOptions = {},
): Promise<void> {
  const wait = (): GetOptions => ({ ...POLL, ...options.waiting?.() });
  print(`Starting batch: ${crypto.randomUUID()}`);

  let t = initTasks();
  print("Single task:");
  print(`1 + 1 = ${humanReadable(await sendAndGet(server, t.addTask0, wait))}`);
  print(`sum([1, 2]) = ${humanReadable(await sendAndGet(server, t.sumIntsTask, wait))}`);
  print(`sum([1.5, 2.7]) = ${humanReadable(await sendAndGet(server, t.sumFloatsTask, wait))}`);
  print(`concat(["foo", "bar"]) = ${humanReadable(await sendAndGet(server, t.concatTask, wait))}`);
  print(`split(["foo"]) = ${humanReadable(await sendAndGet(server, t.splitTask, wait))}`);

  t = initTasks();
  print("Group of tasks (parallel execution):");
  const group = await step(
    "Error creating group",
    () => newGroup(t.addTask0, t.addTask1, t.addTask2),
  );
  const groupResults = await step("Could not send group", () => server.sendGroup(group, 10));
  for (const result of groupResults) {
    const values = await step("Getting task result failed with error", () => result.get(wait()));
    const [a, b] = result.signature.args ?? [];
    print(`${a?.value} + ${b?.value} = ${humanReadable(values)}`);
  }

  t = initTasks();
  print("Group of tasks with a callback (chord):");
  const chordGroup = await step(
    "Error creating group",
    () => newGroup(t.addTask0, t.addTask1, t.addTask2),
  );
  const chord = await step("Error creating chord", () => newChord(chordGroup, t.multiplyTask1));
  const chordResult = await step("Could not send chord", () => server.sendChord(chord, 10));
  const chordValues = await step(
    "Getting chord result failed with error",
    () => chordResult.get(wait()),
  );
  print(`(1 + 1) * (2 + 2) * (5 + 6) = ${humanReadable(chordValues)}`);

  t = initTasks();
  print("Chain of tasks:");
  const chain = await step(
    "Error creating chain",
    () => newChain(t.addTask0, t.addTask1, t.addTask2, t.multiplyTask0),
  );
  const chainResult = await step("Could not send chain", () => server.sendChain(chain));
  const chainValues = await step(
    "Getting chain result failed with error",
    () => chainResult.get(wait()),
  );
  print(`(((1 + 1) + (2 + 2)) + (5 + 6)) * 4 = ${humanReadable(chainValues)}`);

  t = initTasks();
  const panicResult = await step("Could not send task", () => server.sendTask(t.panicTask));
  let panicError: unknown;
  try {
    await panicResult.get(wait());
  } catch (error) {
    panicError = error;
  }
  if (panicError === undefined) throw new Error("Error should not be nil if task panicked");
  const panicText = panicError instanceof Error ? panicError.message : String(panicError);
  print(`Task panicked and returned error = ${panicText}`);

  t = initTasks();
  const longResult = await step("Could not send task", () => server.sendTask(t.longRunningTask));
  const longValues = await step(
    "Getting long running task result failed with error",
    () => longResult.get(wait()),
  );
  print(`Long running task returned = ${humanReadable(longValues)}`);
}
