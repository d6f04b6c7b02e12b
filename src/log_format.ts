/**
 * The operator's line formats: a timestamp, the level and the message, as text for people or as
 * one JSON object per line for log collectors. `createLogger` writes them itself; the CLI has
 * LogTape write them (see `logtapeFormatter`).
 *
 * @module
 */
import { type LogFields, type Logger, type LogLevel, logSafe } from "./log.ts";

/** The line formats: `text` for people, `json` (one object per line) for log collectors. */
export type LogFormat = "text" | "json";

/** Options of `createLogger`. */
export interface LoggerOptions {
  /** The least severe level written (default `info`). */
  level?: LogLevel;
  /** The line format (default `text`). */
  format?: LogFormat;
  /** Where a finished line goes (default `console.error`). */
  write?: (line: string) => void;
}

const LEVELS: readonly LogLevel[] = ["debug", "info", "warn", "error"];
const TEXT_LABEL: Record<LogLevel, string> = {
  debug: "DEBUG",
  info: "INFO",
  warn: "WARNING",
  error: "ERROR",
};

/**
 * A logger that stamps each line with the time (ISO 8601, UTC) and writes it when its level is
 * at least `level`: `2026-01-02T03:04:05.678Z INFO message task_uuid=…` as text, or
 * `{"time":"…","level":"info","message":"…","task_uuid":"…","task_name":"…"}` as JSON.
 */
export function createLogger(options: LoggerOptions = {}): Logger {
  const min = LEVELS.indexOf(options.level ?? "info");
  const write = options.write ?? ((line: string) => console.error(line));
  const format = options.format ?? "text";
  const at = (level: LogLevel) =>
    LEVELS.indexOf(level) < min
      ? () => {}
      : (message: string, fields?: LogFields) =>
        write(formatLogLine(format, new Date(), level, message, fields));
  return {
    verbose: min === 0,
    debug: at("debug"),
    info: at("info"),
    warn: at("warn"),
    error: at("error"),
  };
}

/**
 * One line in `format`, without a line break: the one place the two formats are written, for
 * `createLogger` and for LogTape's sink in `logtapeFormatter`. Text escapes control characters in
 * the message and fields (see `logSafe`); JSON escapes them by itself.
 */
export function formatLogLine(
  format: LogFormat,
  time: Date,
  level: LogLevel,
  message: string,
  fields?: Readonly<Record<string, unknown>>,
): string {
  if (format === "json") {
    return JSON.stringify({ time: time.toISOString(), level, message, ...fields });
  }
  let line = `${time.toISOString()} ${TEXT_LABEL[level]} ${logSafe(message)}`;
  if (fields) {
    for (const [k, v] of Object.entries(fields)) line += ` ${k}=${logSafe(String(v))}`;
  }
  return line;
}

/** True for a level name `createLogger` knows. */
export function isLogLevel(value: string): value is LogLevel {
  return (LEVELS as readonly string[]).includes(value);
}
