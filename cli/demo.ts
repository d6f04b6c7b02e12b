/**
 * `machinery demo`: machinery's example in one process, on the memory broker and backend.
 *
 * @module
 */
import { consoleLogger, resolveConfig } from "../mod.ts";
import { registerExampleTasks } from "../examples/tasks.ts";
import { runExampleSequence } from "../examples/send_sequence.ts";
import type { Command } from "./command.ts";
import { CommandError, errorMessage, OK } from "./errors.ts";
import { atMostPositionals, COMMON, type Parsed, wholeNumber } from "./flags.ts";
import { print, setExampleHandlers } from "./output.ts";
import { withServer } from "./server.ts";

/** `machinery demo`. */
export const demo: Command = {
  options: {
    ...COMMON,
    "long-running-seconds": { type: "string" },
    concurrency: { type: "string" },
  },
  help: `machinery demo [--long-running-seconds N] [--concurrency N] [--verbose]
  machinery's example in one process: the memory broker and backend, a worker with the example
  tasks, and the example send sequence. Prints machinery's result lines and exits 0.
  --long-running-seconds N   how long long_running_task counts down (default 10, as in machinery)
  --concurrency N            tasks the worker runs at once (default 0: twice the CPU count)`,
  connects: false,
  run,
};

async function run({ values, positionals }: Parsed): Promise<number> {
  atMostPositionals("demo", positionals);
  const longRunningSeconds = wholeNumber(values, "long-running-seconds") ?? 10;
  const concurrency = wholeNumber(values, "concurrency") ?? 0;
  const logger = consoleLogger(values.verbose === true);
  const config = resolveConfig({
    broker: "memory://",
    resultBackend: "memory://",
    defaultQueue: "machinery_tasks",
    noUnixSignals: true,
  });
  return await withServer(config, logger, async (server) => {
    registerExampleTasks(server, longRunningSeconds);
    const worker = server.newWorker("machinery_worker", concurrency);
    setExampleHandlers(worker, logger);
    const running = worker.launch();
    try {
      await runExampleSequence(server, print);
    } catch (error) {
      worker.abort();
      await running.catch(() => {});
      throw new CommandError(errorMessage(error), { cause: error });
    }
    await worker.quit();
    await running;
    return OK;
  });
}
