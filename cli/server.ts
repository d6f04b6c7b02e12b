/**
 * The Server of a command: opened with its broker and backend connected (an unreachable one
 * fails at once, naming its URL), closed afterwards whatever happens, and closed on a
 * SIGINT/SIGTERM.
 *
 * @module
 */
import { type Config, ConfigError, type Logger, Server } from "../mod.ts";
import { exit, onShutdownSignals } from "../src/runtime.ts";
import { redactPassword, URLError } from "../src/urls.ts";
import { CommandError, errorMessage, FAILURE } from "./errors.ts";

/** How long `close()` may take after an abrupt stop or an interrupt before we exit anyway. */
const CLOSE_GRACE_MS = 5_000;

/** Set by a SIGINT/SIGTERM outside the worker: we are closing and exiting, errors are moot. */
let interrupted = false;

/** Whether a signal interrupted the command (its errors then come from the server closing). */
export function wasInterrupted(): boolean {
  return interrupted;
}

/**
 * Builds the server and makes sure the broker and the backend answer, so that an unreachable
 * one fails at once with a clear message (adapters with a `connect()` method are connected).
 */
async function openServer(config: Config, logger: Logger): Promise<Server> {
  let server: Server;
  try {
    server = await Server.fromConfig(config, logger);
  } catch (error) {
    if (error instanceof URLError || error instanceof ConfigError) throw error;
    throw new CommandError(`Cannot connect: ${errorMessage(error)}`, { cause: error });
  }
  try {
    await connect(server.broker, "broker", config.broker);
    await connect(server.backend, "result backend", config.resultBackend);
  } catch (error) {
    await closeQuietly(server);
    throw error;
  }
  return server;
}

/** Calls `client.connect()` when the adapter has one; a failure names `what` and its URL. */
export async function connect(client: object, what: string, url: string): Promise<void> {
  const connectable = client as { connect?: () => Promise<void> };
  if (typeof connectable.connect !== "function") return;
  try {
    await connectable.connect();
  } catch (error) {
    throw new CommandError(
      `Cannot connect to the ${what} at "${redactPassword(url)}": ${errorMessage(error)}`,
      { cause: error },
    );
  }
}

/**
 * Closes a server or backend with errors ignored, giving up after `CLOSE_GRACE_MS`: a broken
 * connection must not keep us from exiting.
 */
export async function closeQuietly(client: { close(): Promise<void> }): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const grace = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, CLOSE_GRACE_MS);
  });
  try {
    await Promise.race([client.close().catch(() => {}), grace]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Runs `body` with the server open; closes it afterwards. A SIGINT/SIGTERM meanwhile closes the
 * server and exits 1, unless `interruptible` is false (the worker handles its own signals).
 */
export async function withServer(
  config: Config,
  logger: Logger,
  body: (server: Server) => Promise<number>,
  interruptible = true,
): Promise<number> {
  const server = await openServer(config, logger);
  const stopListening = interruptible
    ? onShutdownSignals((signal) => {
      if (interrupted) return;
      interrupted = true;
      logger.warn(`Signal received: ${signal}`);
      closeQuietly(server).finally(() => exit(FAILURE));
    })
    : () => {};
  try {
    return await body(server);
  } finally {
    stopListening();
    await closeQuietly(server);
  }
}
