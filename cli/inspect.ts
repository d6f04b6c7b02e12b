/**
 * `machinery inspect UUID`: a task's stored state (as `state` prints it) and where its message
 * is, when the broker can find it.
 *
 * @module
 */
import {
  type Backend,
  backendFromURL,
  type Config,
  ConfigError,
  type MessageLocation,
  silentLogger,
  StateNotFoundError,
} from "../mod.ts";
import { encodeTaskState } from "../src/wire/mod.ts";
import { redactPassword, URLError } from "../src/urls.ts";
import type { Command } from "./command.ts";
import { CommandError, errorMessage, FAILURE, OK, UsageError } from "./errors.ts";
import { atMostPositionals, type Parsed, strs } from "./flags.ts";
import { INSPECT_OPTIONS, JSON_HELP, withInspector } from "./inspection.ts";
import { print } from "./output.ts";
import { closeQuietly } from "./server.ts";
import { printJson } from "./table.ts";

/** `machinery inspect`. */
export const inspect: Command = {
  options: { ...INSPECT_OPTIONS, in: { type: "string", multiple: true } },
  help: `machinery inspect UUID [--in QUEUE]... [--json] [connection options]
  Prints the task's stored state as JSON (as "state" does), then where its message is: waiting in
  a queue, delayed, held by a worker (its consumer id), or dead (with the reason). Redis searches
  the default queue and those live workers consume (--in: these queues instead); RabbitMQ can
  search only the dead letters. Exits 1 when there is neither a state nor a message.
  --in QUEUE                 look in QUEUE (repeatable)
${JSON_HELP}`,
  connects: true,
  run,
};

async function run({ values, positionals }: Parsed): Promise<number> {
  if (positionals.length === 0) throw new UsageError("inspect needs a task UUID");
  atMostPositionals("inspect", positionals, 1);
  const uuid = positionals[0];
  return await withInspector(values, async (inspector, config) => {
    const [state, location] = await Promise.all([
      storedState(config, uuid),
      inspector.locate(uuid, strs(values, "in")),
    ]);
    if (values.json) {
      printJson({ uuid, state: state === null ? null : JSON.parse(state), location });
    } else {
      print(state ?? `No state stored for task ${uuid}`);
      print(`Message: ${describe(location)}`);
    }
    return state === null && location.where === "unknown" ? FAILURE : OK;
  });
}

/** The task's state as Go machinery's JSON, or null when none is stored. */
async function storedState(config: Config, uuid: string): Promise<string | null> {
  let backend: Backend;
  try {
    backend = await backendFromURL(config.resultBackend, { config, logger: silentLogger });
  } catch (error) {
    if (error instanceof URLError || error instanceof ConfigError) throw error;
    throw new CommandError(
      `Cannot connect to the result backend at "${redactPassword(config.resultBackend)}": ${
        errorMessage(error)
      }`,
      { cause: error },
    );
  }
  try {
    return encodeTaskState(await backend.getState(uuid));
  } catch (error) {
    if (error instanceof StateNotFoundError) return null;
    throw new CommandError(`Cannot read the state of task ${uuid}: ${errorMessage(error)}`, {
      cause: error,
    });
  } finally {
    await closeQuietly(backend);
  }
}

function describe(location: MessageLocation): string {
  switch (location.where) {
    case "queue":
      return `waiting in queue "${location.queue}"`;
    case "delayed":
      return `delayed until ${location.eta ?? "its ETA"}, for queue "${location.queue}"`;
    case "held":
      return `held by worker "${location.consumer}" (queue "${location.queue}")`;
    case "dead":
      return `dead letter of queue "${location.queue}": ${location.reason}`;
    case "unknown":
      return `not found (${location.detail})`;
  }
}
