/**
 * The `./memcache` entry: the Memcache result backend (`memcache://h1:p1,h2:p2`), storing Go
 * machinery's keys and bytes. Importing it loads the `memjs` driver; `mod.ts` does not.
 *
 * @example
 * ```ts
 * import { Server } from "@machinery/machinery";
 * import { RedisBroker } from "@machinery/machinery/redis";
 * import { MemcacheBackend } from "@machinery/machinery/memcache";
 *
 * const config = { defaultQueue: "machinery_tasks", resultsExpireIn: 3600 };
 * const server = new Server({
 *   config,
 *   broker: new RedisBroker("redis://127.0.0.1:6379", { config }),
 *   backend: new MemcacheBackend("memcache://10.0.0.1:11211,10.0.0.2:11211", { config }),
 * });
 * ```
 *
 * @module
 */
import type { Backend } from "../backend.ts";
import type { AdapterOptions } from "../adapter_options.ts";
import { MemcacheBackend } from "./backend.ts";
import { connected } from "../connected.ts";

export {
  crc32,
  MAX_RELATIVE_EXPIRATION,
  MemcacheBackend,
  type MemcacheBackendOptions,
  memcacheExpiration,
  pickServer,
} from "./backend.ts";

/** The Memcache result backend for `memcache://`; resolves once every server answers. */
export async function createBackend(url: string, options: AdapterOptions): Promise<Backend> {
  return await connected(new MemcacheBackend(url, options));
}
