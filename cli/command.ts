/**
 * What a command is: its flags, its help, and the function that runs it. `main` parses the
 * flags, answers `--help`, and calls `run` with the rest.
 *
 * @module
 */
import type { Options, Parsed } from "./flags.ts";

/** One `machinery COMMAND`. */
export interface Command {
  /** The flags it accepts (`COMMON`, plus `CONNECTION` when it reaches a server). */
  options: Options;
  /** Its help: the usage lines, then what it does and its own flags. */
  help: string;
  /** Whether it takes the connection flags: its `--help` then explains them too. */
  connects: boolean;
  /** Runs it with the parsed command line; resolves to the exit status. */
  run(parsed: Parsed): Promise<number>;
}
