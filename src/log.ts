/**
 * The logger the server and workers write to. The default writes to `console.error`, so that a
 * command's results on stdout stay clean. `createLogger` (log_format.ts) adds what an operator
 * needs, and `logtapeLogger` (logtape.ts) hands the lines to an app's LogTape configuration.
 *
 * @module
 */

/**
 * Structured detail of a log line, such as the task it is about (`task_uuid`, `task_name`).
 * A logger may ignore it: the message says the same for a human.
 */
export type LogFields = Record<string, string | number | boolean>;

/** A minimal levelled logger. Loggers written for one argument keep working. */
export interface Logger {
  /** When false, callers skip building debug messages (they can be costly per task). */
  readonly verbose?: boolean;
  /** Detail for debugging. */
  debug(message: string, fields?: LogFields): void;
  /** Normal operation. */
  info(message: string, fields?: LogFields): void;
  /** Something went wrong but work goes on. */
  warn(message: string, fields?: LogFields): void;
  /** Something failed. */
  error(message: string, fields?: LogFields): void;
}

/** The levels, least severe first. */
export type LogLevel = "debug" | "info" | "warn" | "error";

/**
 * C0 and C1 control characters, DEL, and the Unicode line and paragraph separators: a value that
 * carries one (a task UUID or name from a message) could otherwise end a log line and forge the
 * next one, or send terminal escape sequences.
 */
// deno-lint-ignore no-control-regex -- matching control characters is the point
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/g;

/**
 * `text` with every control character written as an escape (`\n`, `\r`, `\t`, `\u001b` …), so
 * that it stays on one log line and is shown rather than obeyed. Text without one is returned
 * as is.
 *
 * @example
 * ```ts
 * logSafe("a\nINFO: forged"); // "a\\nINFO: forged"
 * ```
 */
export function logSafe(text: string): string {
  CONTROL.lastIndex = 0;
  if (!CONTROL.test(text)) return text;
  return text.replace(
    CONTROL,
    (c) => ESCAPES[c] ?? `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
}

const ESCAPES: Record<string, string> = { "\n": "\\n", "\r": "\\r", "\t": "\\t" };

/**
 * Writes `LEVEL: message` lines to stderr; `debug` only when `verbose`. Control characters in a
 * message are escaped ({@linkcode logSafe}): one call, one line.
 */
export function consoleLogger(verbose = false): Logger {
  return {
    verbose,
    debug: (m) => verbose && console.error(`DEBUG: ${logSafe(m)}`),
    info: (m) => console.error(`INFO: ${logSafe(m)}`),
    warn: (m) => console.error(`WARNING: ${logSafe(m)}`),
    error: (m) => console.error(`ERROR: ${logSafe(m)}`),
  };
}

/** Discards everything (tests, embedding). */
export const silentLogger: Logger = {
  verbose: false,
  debug: () => {},
  info: () => {},
  warn: () => {},
  error: () => {},
};

/**
 * A reporter for the errors a driver raises on its own, such as a lost connection it is
 * retrying: `logger.warn("<what>: <message>")`, at most once per `intervalMs` (5 s), so a server
 * that stays down does not flood the log.
 */
export function throttledWarning(
  logger: Logger,
  what: string,
  intervalMs = 5_000,
): (error: Error) => void {
  let last = -Infinity;
  return (error) => {
    const now = Date.now();
    if (now - last < intervalMs) return;
    last = now;
    logger.warn(`${what}: ${error.message}`);
  };
}
