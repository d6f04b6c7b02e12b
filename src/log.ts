/**
 * The logger the server and workers write to. The default writes to `console.error`, so that a
 * command's results on stdout stay clean.
 *
 * @module
 */

/** A minimal levelled logger. */
export interface Logger {
  /** When false, callers skip building debug messages (they can be costly per task). */
  readonly verbose?: boolean;
  /** Detail for debugging. */
  debug(message: string): void;
  /** Normal operation. */
  info(message: string): void;
  /** Something went wrong but work goes on. */
  warn(message: string): void;
  /** Something failed. */
  error(message: string): void;
}

/** Writes `LEVEL: message` lines to stderr; `debug` only when `verbose`. */
export function consoleLogger(verbose = false): Logger {
  return {
    verbose,
    debug: (m) => verbose && console.error(`DEBUG: ${m}`),
    info: (m) => console.error(`INFO: ${m}`),
    warn: (m) => console.error(`WARNING: ${m}`),
    error: (m) => console.error(`ERROR: ${m}`),
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
