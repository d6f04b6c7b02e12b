/**
 * The dispatcher: picks the command, parses its flags, answers help and `--version`, and turns
 * what happened into the exit status (0 ok, 1 failure, 2 usage) and a line on stderr.
 *
 * @module
 */
import { ConfigError } from "../mod.ts";
import { URLError } from "../src/urls.ts";
import type { Command } from "./command.ts";
import { dashboard } from "./dashboard.ts";
import { dead } from "./dead.ts";
import { delayed } from "./delayed.ts";
import { cancel } from "./cancel.ts";
import { demo } from "./demo.ts";
import { errorMessage, FAILURE, OK, USAGE, UsageError } from "./errors.ts";
import { parseFlags } from "./flags.ts";
import { commandHelp, usageText, VERSION } from "./help.ts";
import { print } from "./output.ts";
import { inspect } from "./inspect.ts";
import { pending } from "./pending.ts";
import { purge } from "./purge.ts";
import { queues } from "./queues.ts";
import { wasInterrupted } from "./server.ts";
import { send } from "./send.ts";
import { state } from "./state.ts";
import { stats } from "./stats.ts";
import { worker } from "./worker.ts";
import { workers } from "./workers.ts";

const COMMANDS: ReadonlyMap<string, Command> = new Map([
  ["demo", demo],
  ["worker", worker],
  ["send", send],
  ["state", state],
  ["queues", queues],
  ["pending", pending],
  ["delayed", delayed],
  ["inspect", inspect],
  ["dead", dead],
  ["purge", purge],
  ["workers", workers],
  ["stats", stats],
  ["cancel", cancel],
  ["dashboard", dashboard],
]);

/** Runs the command line `argv` (without the program name) and returns the exit status. */
export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const command = name === undefined ? undefined : COMMANDS.get(name);
  try {
    if (name === undefined) {
      console.error(usageText());
      return USAGE;
    }
    if (name === "-h" || name === "--help") {
      print(usageText());
      return OK;
    }
    if (name === "help") return help(rest[0]);
    if (name === "--version" || name === "-v" || name === "-V") {
      print(VERSION);
      return OK;
    }
    if (command === undefined) {
      throw new UsageError(
        name.startsWith("-") ? `Expected a command before "${name}"` : `Unknown command "${name}"`,
      );
    }
    const parsed = parseFlags(command.options, rest);
    if (parsed.values.help) {
      print(commandHelp(command));
      return OK;
    }
    return await command.run(parsed);
  } catch (error) {
    if (error instanceof UsageError || error instanceof URLError || error instanceof ConfigError) {
      console.error(`machinery: ${error.message}`);
      console.error(`Run "machinery ${command ? `${name} ` : ""}--help" for usage.`);
      return USAGE;
    }
    // After an interrupt, errors come from the server closing under a running command.
    if (!wasInterrupted()) console.error(`machinery: ${errorMessage(error)}`);
    return FAILURE;
  }
}

/** `machinery help [COMMAND]`. */
function help(name: string | undefined): number {
  if (name === undefined) {
    print(usageText());
    return OK;
  }
  const command = COMMANDS.get(name);
  if (command === undefined) throw new UsageError(`Unknown command "${name}"`);
  print(commandHelp(command));
  return OK;
}
