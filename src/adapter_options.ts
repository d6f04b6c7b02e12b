/**
 * What every adapter is built from: `new RedisBroker(url, { config, logger })`, and the same for
 * each broker, result backend and lock; `X.fromConfig(config)` takes the URL from the config.
 *
 * @module
 */
import type { ConfigInput } from "./config.ts";
import type { Logger } from "./log.ts";

/** The options every adapter takes; each adds its own. */
export interface AdapterOptions {
  /** The configuration (machinery's fields; defaults fill the rest). */
  config?: ConfigInput;
  /**
   * Where the adapter reports what happens in the background, such as a lost connection being
   * retried (default: `consoleLogger()`, the Server's default). `Server.fromConfig` passes its
   * logger.
   */
  logger?: Logger;
}
