/**
 * machinery's logs through LogTape, the logging library the application configures: the Server
 * and its adapters log to LogTape's category `["machinery"]`, and the app decides with
 * `configure()` where the records go and from which level. Without a configuration LogTape drops
 * them.
 *
 * @module
 */
import { getLogger } from "@logtape/logtape";
import type { Logger, LogLevel } from "./log.ts";
import { formatLogLine, type LogFormat } from "./log_format.ts";

/** A LogTape category: one name or a path of names. */
export type LogCategory = string | readonly [string, ...string[]];

/**
 * A {@linkcode Logger} on LogTape's `getLogger(category)`: each message becomes a record at the
 * same level (`warn` is LogTape's `warning`) whose properties are the fields (`task_uuid`,
 * `task_name`), and `verbose` says whether LogTape would keep a debug record of the category.
 *
 * @example
 * ```ts
 * import { configure, getConsoleSink } from "@logtape/logtape";
 * import { logtapeLogger, MemoryBackend, MemoryBroker, Server } from "@machinery/machinery";
 *
 * await configure({
 *   sinks: { console: getConsoleSink() },
 *   loggers: [{ category: ["machinery"], sinks: ["console"], lowestLevel: "info" }],
 * });
 * const server = new Server({
 *   broker: new MemoryBroker(),
 *   backend: new MemoryBackend(),
 *   logger: logtapeLogger(),
 * });
 * ```
 */
export function logtapeLogger(category: LogCategory = ["machinery"]): Logger {
  const logger = getLogger(category);
  return {
    get verbose() {
      return logger.isEnabledFor("debug");
    },
    debug: (message, fields) => logger.debug(literal(message), fields),
    info: (message, fields) => logger.info(literal(message), fields),
    warn: (message, fields) => logger.warning(literal(message), fields),
    error: (message, fields) => logger.error(literal(message), fields),
  };
}

/**
 * `message` as a LogTape template that renders as itself: LogTape reads `{name}` in a message as
 * a property to put there, and ours carry braces of their own (a task's results, JSON).
 */
function literal(message: string): string {
  return message.includes("{") ? message.replace(/[{}]/g, (brace) => brace + brace) : message;
}

/**
 * What `logtapeFormatter` reads of a LogTape record: LogTape's `LogRecord` is one. Written out
 * here so that machinery's API does not lend LogTape's types.
 */
export interface LogTapeRecord {
  /** LogTape's level. */
  readonly level: "trace" | "debug" | "info" | "warning" | "error" | "fatal";
  /** The message's text at even indexes, the values put in it at odd ones. */
  readonly message: readonly unknown[];
  /** When it was logged, in ms since the epoch. */
  readonly timestamp: number;
  /** The fields. */
  readonly properties: Readonly<Record<string, unknown>>;
}

/** Our four levels for LogTape's six. */
const LEVEL: Record<LogTapeRecord["level"], LogLevel> = {
  trace: "debug",
  debug: "debug",
  info: "info",
  warning: "warn",
  error: "error",
  fatal: "error",
};

/**
 * A LogTape formatter that writes records as `createLogger` writes lines, without the line break:
 * `2026-01-02T03:04:05.678Z INFO message task_uuid=…` as text, or
 * `{"time":"…","level":"info","message":"…","task_uuid":"…"}` as JSON. For
 * `getConsoleSink({ formatter })`, which adds the line break.
 */
export function logtapeFormatter(
  format: LogFormat = "text",
): (record: LogTapeRecord) => string {
  return (record) =>
    formatLogLine(
      format,
      new Date(record.timestamp),
      LEVEL[record.level],
      renderMessage(record.message),
      record.properties,
    );
}

/** A record's message as one string, the values put in it written as JSON. */
function renderMessage(parts: readonly unknown[]): string {
  let text = "";
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i];
    text += i % 2 === 0 || typeof part === "string" ? String(part) : JSON.stringify(part);
  }
  return text;
}
