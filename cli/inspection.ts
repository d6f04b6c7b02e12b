/**
 * What the inspection commands share: their flags (the connection flags and `--json`), the
 * inspector of the configured broker and the worker registry, opened and closed around the
 * command, with an unreachable server or an impossible inspection reported as a failure.
 *
 * @module
 */
import {
  type Config,
  ConfigError,
  InspectionUnsupportedError,
  type Inspector,
  inspectorFromURL,
  registryFromURL,
  registryURL,
  silentLogger,
  type WorkerRegistry,
} from "../mod.ts";
import { redactPassword, URLError } from "../src/urls.ts";
import { loadConfig } from "./config.ts";
import { CommandError, errorMessage } from "./errors.ts";
import { COMMON, CONNECTION, type Options, type Values, wholeNumber } from "./flags.ts";
import { closeQuietly } from "./server.ts";

/** The flags of every inspection command. */
export const INSPECT_OPTIONS: Options = { ...COMMON, ...CONNECTION, json: { type: "boolean" } };

/** The flags of the commands that list a page. */
export const PAGE_OPTIONS: Options = {
  ...INSPECT_OPTIONS,
  limit: { type: "string" },
  offset: { type: "string" },
};

/** The help lines of `--json`, `--limit` and `--offset`. */
export const JSON_HELP = `  --json                     one JSON value on stdout instead of a table`;
/** The help lines of `--limit` and `--offset`. */
export const PAGE_HELP = `  --limit N                  at most N messages (default 20)
  --offset N                 skip the N oldest first (default 0)`;

/** The page the flags ask for. */
export function pageOf(values: Values): { offset: number; limit: number } {
  return { offset: wholeNumber(values, "offset") ?? 0, limit: wholeNumber(values, "limit") ?? 20 };
}

/** Opens `what` with `open`; a failure other than a bad URL or config names the server. */
async function opened<T>(open: () => Promise<T>, what: string, url: string): Promise<T> {
  try {
    return await open();
  } catch (error) {
    if (error instanceof URLError || error instanceof ConfigError) throw error;
    throw new CommandError(
      `Cannot connect to the ${what} at "${redactPassword(url)}": ${errorMessage(error)}`,
      { cause: error },
    );
  }
}

/** Runs `body` with a value that is closed afterwards; a broker's refusal becomes the message. */
async function using<T extends { close(): Promise<void> }>(
  value: T,
  body: (value: T) => Promise<number>,
): Promise<number> {
  try {
    return await body(value);
  } catch (error) {
    if (error instanceof InspectionUnsupportedError) throw new CommandError(error.message);
    throw error;
  } finally {
    await closeQuietly(value);
  }
}

/** Runs `body` with the configured broker's inspector. */
export async function withInspector(
  values: Values,
  body: (inspector: Inspector, config: Config) => Promise<number>,
): Promise<number> {
  const config = await loadConfig(values);
  const inspector = await opened(
    () => inspectorFromURL(config.broker, { config, logger: silentLogger }),
    "broker",
    config.broker,
  );
  return await using(inspector, (i) => body(i, config));
}

/** Runs `body` with the worker registry of the configuration (the Redis broker or backend). */
export async function withRegistry(
  values: Values,
  body: (registry: WorkerRegistry) => Promise<number>,
): Promise<number> {
  const config = await loadConfig(values);
  const url = registryURL(config);
  if (url === undefined) {
    throw new CommandError(
      "No worker registry: workers announce themselves in Redis, and neither the broker " +
        `"${redactPassword(config.broker)}" nor the result backend "${
          redactPassword(config.resultBackend)
        }" is Redis`,
    );
  }
  const registry = await opened(
    () => registryFromURL(url, { config, logger: silentLogger }),
    "worker registry",
    url,
  );
  return await using(registry, body);
}
