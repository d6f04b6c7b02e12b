/**
 * `machinery cancel UUID`: a queued or delayed task never starts, a running one has its signal
 * fired on the worker that runs it; both end FAILURE `task cancelled`.
 *
 * @module
 */
import { CancelUnsupportedError, consoleLogger } from "../mod.ts";
import type { Command } from "./command.ts";
import { loadConfig } from "./config.ts";
import { CommandError, errorMessage, FAILURE, OK, UsageError } from "./errors.ts";
import { atMostPositionals, COMMON, CONNECTION, type Parsed } from "./flags.ts";
import { print } from "./output.ts";
import { withServer } from "./server.ts";

/** `machinery cancel`. */
export const cancel: Command = {
  options: { ...COMMON, ...CONNECTION },
  help: `machinery cancel UUID [connection options]
  Cancels a task: if it has not started (queued, delayed, waiting for a retry) it never will; if
  it is running, its worker fires its signal. Either way it ends FAILURE "task cancelled" and is
  not retried. Prints "cancelled"; exits 1 when the task had finished already.`,
  connects: true,
  run,
};

async function run({ values, positionals }: Parsed): Promise<number> {
  if (positionals.length === 0) throw new UsageError("cancel needs a task UUID");
  atMostPositionals("cancel", positionals, 1);
  const uuid = positionals[0];
  const logger = consoleLogger(values.verbose === true);
  const config = await loadConfig(values);
  return await withServer(config, logger, async (server) => {
    let cancelled: boolean;
    try {
      cancelled = await server.cancelTask(uuid);
    } catch (error) {
      if (error instanceof CancelUnsupportedError) throw new CommandError(error.message);
      throw new CommandError(`Could not cancel task ${uuid}: ${errorMessage(error)}`, {
        cause: error,
      });
    }
    if (!cancelled) {
      console.error(`Task ${uuid} had finished already: nothing to cancel`);
      return FAILURE;
    }
    print("cancelled");
    return OK;
  });
}
