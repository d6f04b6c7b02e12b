/**
 * `machinery state UUID`: a task's stored state as Go machinery's JSON, read from the result
 * backend alone.
 *
 * @module
 */
import { type Backend, backendFromURL, ConfigError, StateNotFoundError } from "../mod.ts";
import { encodeTaskState } from "../src/wire/mod.ts";
import { URLError } from "../src/urls.ts";
import { logSafe } from "../src/log.ts";
import type { Command } from "./command.ts";
import { loadConfig } from "./config.ts";
import { CommandError, errorMessage, FAILURE, OK, UsageError } from "./errors.ts";
import { atMostPositionals, COMMON, CONNECTION, type Parsed } from "./flags.ts";
import { print } from "./output.ts";
import { closeQuietly, connect } from "./server.ts";

/** `machinery state`. */
export const state: Command = {
  options: { ...COMMON, ...CONNECTION },
  help: `machinery state UUID [connection options]
  Prints the stored state of a task as JSON, in Go machinery's format.`,
  connects: true,
  run,
};

async function run({ values, positionals }: Parsed): Promise<number> {
  if (positionals.length === 0) throw new UsageError("state needs a task UUID");
  atMostPositionals("state", positionals, 1);
  const uuid = positionals[0];
  const config = await loadConfig(values);
  // Only the result backend is needed: a broker that is down must not stop us reading states.
  let backend: Backend;
  try {
    backend = await backendFromURL(config.resultBackend, { config: config });
  } catch (error) {
    if (error instanceof URLError || error instanceof ConfigError) throw error;
    throw new CommandError(`Cannot connect: ${errorMessage(error)}`, { cause: error });
  }
  try {
    await connect(backend, "result backend", config.resultBackend);
    print(encodeTaskState(await backend.getState(uuid)));
    return OK;
  } catch (error) {
    if (error instanceof StateNotFoundError) {
      console.error(`No state stored for task ${logSafe(uuid)}`);
      return FAILURE;
    }
    if (error instanceof CommandError) throw error;
    throw new CommandError(`Cannot read the state of task ${uuid}: ${errorMessage(error)}`, {
      cause: error,
    });
  } finally {
    await closeQuietly(backend);
  }
}
