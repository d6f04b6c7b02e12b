/**
 * The worker's logs: LogTape configured for the process, writing machinery's records to stderr
 * in the line format of `--log-format` from the level of `--log-level`.
 *
 * @module
 */
import { configure, getConsoleSink, type LogLevel as LogTapeLevel } from "@logtape/logtape";
import {
  type LogFormat,
  type Logger,
  type LogLevel,
  logtapeFormatter,
  logtapeLogger,
} from "../mod.ts";

/** LogTape's name of each of our levels. */
const LOWEST: Record<LogLevel, LogTapeLevel> = {
  debug: "debug",
  info: "info",
  warn: "warning",
  error: "error",
};

/** Every record to `console.error`, as `createLogger` writes: stdout is for results. */
const TO_STDERR = {
  trace: "error",
  debug: "error",
  info: "error",
  warning: "error",
  error: "error",
  fatal: "error",
} as const;

/**
 * Configures LogTape for the command (replacing any configuration) and returns the logger of the
 * `machinery` category. LogTape's own warnings (a sink that throws) are written the same way; its
 * note that it is configured is not.
 */
export async function configureLogging(level: LogLevel, format: LogFormat): Promise<Logger> {
  await configure({
    reset: true,
    sinks: { stderr: getConsoleSink({ formatter: logtapeFormatter(format), levelMap: TO_STDERR }) },
    loggers: [
      { category: ["machinery"], sinks: ["stderr"], lowestLevel: LOWEST[level] },
      { category: ["logtape", "meta"], sinks: ["stderr"], lowestLevel: "warning" },
    ],
  });
  return logtapeLogger();
}
