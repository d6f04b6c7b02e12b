/**
 * The tasks of the fault suite, registered by the worker fixture and by `cli.ts worker --tasks`
 * (the default export takes the server). Each run is counted in a Redis hash, so a scenario can
 * tell a task that ran twice from one that never ran.
 *
 * Env: FAULTS_COUNTER_URL (the Redis that keeps the counts; unset: nothing is counted),
 * FAULTS_RUNS_KEY (the hash of runs), FAULTS_TASK_MS (how long `work` takes), FAULTS_FAST=1
 * (`long` returns at once: the worker that picks up aborted tasks).
 */
import { Redis } from "ioredis";
import { type Server, type TaskContext, withContext } from "../../mod.ts";
import { env } from "../helpers.ts";

/** Registers `work`, `noop`, `member`, `chordDone` and `long` on `server`. */
export default function registerFaultTasks(server: Server): void {
  const counterURL = env("FAULTS_COUNTER_URL");
  const runsKey = env("FAULTS_RUNS_KEY") || "faults:runs";
  const taskMs = Number(env("FAULTS_TASK_MS") || "0");
  const fast = env("FAULTS_FAST") === "1";
  let counter: Redis | undefined;
  if (counterURL) {
    counter = new Redis(counterURL, { enableAutoPipelining: true, maxRetriesPerRequest: 50 });
    counter.on("error", () => {});
  }
  const count = async (field: string): Promise<void> => {
    await counter?.hincrby(runsKey, field, 1);
  };
  const sleep = (ms: number, signal?: AbortSignal) =>
    new Promise<void>((resolve) => {
      const timer = setTimeout(resolve, ms);
      signal?.addEventListener("abort", () => {
        clearTimeout(timer);
        resolve();
      }, { once: true });
    });

  // One run of a task that is sent many times: counted by its id argument.
  server.registerTask("work", async (id: string) => {
    await count(id);
    if (taskMs > 0) await sleep(taskMs);
    return id;
  });
  // Takes anything, returns nothing: the target of the malformed-input messages.
  server.registerTask("noop", (..._args: unknown[]) => undefined);
  // A chord member and its callback (the callback gets the chord number, then each result).
  server.registerTask("member", async (chord: number, index: number) => {
    await count(`m:${chord}:${index}`);
    return index;
  });
  server.registerTask("chordDone", async (chord: number, ...results: number[]) => {
    await count(`c:${chord}`);
    return results.reduce((a, b) => a + b, 0);
  });
  // A long task for the shutdown scenario; it stops early when the worker aborts.
  server.registerTask(
    "long",
    withContext(async (ctx: TaskContext, ms: number) => {
      await count(ctx.signature.uuid);
      if (!fast) await sleep(ms, ctx.signal);
      return ms;
    }),
  );
}
