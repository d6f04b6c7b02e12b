/**
 * Flag parsing shared by the commands (`node:util` `parseArgs`, strict): the flags every command
 * takes, the connection flags, and readers that turn a flag's text into a checked value or a
 * {@link UsageError}.
 *
 * @module
 */
import { parseArgs, type ParseArgsConfig } from "node:util";
import { errorMessage, UsageError } from "./errors.ts";

/** The flags a command accepts, in `parseArgs` form. */
export type Options = NonNullable<ParseArgsConfig["options"]>;

/** Parsed flag values by name. */
export type Values = Record<string, string | boolean | string[] | undefined>;

/** A parsed command line: the flags and the arguments that are not flags. */
export interface Parsed {
  /** Flag values by long name. */
  values: Values;
  /** The arguments that are not flags, in order. */
  positionals: string[];
}

/** Flags every command takes. */
export const COMMON: Options = {
  help: { type: "boolean", short: "h" },
  verbose: { type: "boolean" },
};

/** Flags of the commands that reach a broker or a result backend. */
export const CONNECTION: Options = {
  broker: { type: "string" },
  "result-backend": { type: "string" },
  queue: { type: "string" },
  config: { type: "string" },
};

/** Parses `argv` against `options`; an unknown flag or a missing value is a {@link UsageError}. */
export function parseFlags(options: Options, argv: string[]): Parsed {
  try {
    const { values, positionals } = parseArgs({
      args: negativeValuesJoined(options, argv),
      options,
      allowPositionals: true,
      strict: true,
    });
    return { values: values as Values, positionals };
  } catch (error) {
    throw new UsageError(errorMessage(error));
  }
}

/**
 * `--delay -5` as `--delay=-5`: `parseArgs` refuses a value that starts with a dash as
 * "ambiguous", while a negative number is plainly the flag's value, which its reader then
 * accepts or refuses with our own message.
 */
function negativeValuesJoined(options: Options, argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const flag = argv[i];
    const next = argv[i + 1];
    const takesValue = flag.startsWith("--") && options[flag.slice(2)]?.type === "string";
    if (takesValue && next !== undefined && /^-\d/.test(next)) {
      out.push(`${flag}=${next}`);
      i++;
    } else {
      out.push(flag);
    }
    if (flag === "--") {
      out.push(...argv.slice(i + 1));
      break;
    }
  }
  return out;
}

/** A string flag's value, or undefined when it is absent. */
export function str(values: Values, name: string): string | undefined {
  const v = values[name];
  return typeof v === "string" ? v : undefined;
}

/** A repeatable flag's values, in order (none when it is absent). */
export function strs(values: Values, name: string): string[] {
  const v = values[name];
  return Array.isArray(v) ? v : [];
}

/** A whole number ≥ 0 from a flag, or undefined when the flag is absent. */
export function wholeNumber(values: Values, name: string): number | undefined {
  const text = str(values, name);
  if (text === undefined) return undefined;
  if (!/^\d+$/.test(text.trim()) || !Number.isSafeInteger(Number(text))) {
    throw new UsageError(`Invalid value "${text}" for --${name}: expected a whole number`);
  }
  return Number(text);
}

/** A number of seconds ≥ 0 (fractions allowed) from a flag, or undefined. */
export function seconds(values: Values, name: string): number | undefined {
  const text = str(values, name);
  if (text === undefined) return undefined;
  const n = Number(text);
  if (text.trim() === "" || !Number.isFinite(n) || n < 0) {
    throw new UsageError(`Invalid value "${text}" for --${name}: expected a number of seconds`);
  }
  return n;
}

/** Refuses arguments beyond the first `max` (none by default) of `command`. */
export function atMostPositionals(command: string, positionals: string[], max = 0): void {
  if (positionals.length > max) {
    throw new UsageError(`Unexpected argument "${positionals[max]}" for ${command}`);
  }
}
