/**
 * The `./mongodb` entry: the MongoDB result backend (`mongodb://…`, `mongodb+srv://…`), in Go
 * machinery's database, collections and document shapes. Importing it loads the official
 * `mongodb` driver; `mod.ts` does not.
 *
 * @example
 * ```ts
 * import { Server } from "@machinery/machinery";
 * import { RedisBroker } from "@machinery/machinery/redis";
 * import { MongoDBBackend } from "@machinery/machinery/mongodb";
 *
 * const config = { defaultQueue: "machinery_tasks", resultsExpireIn: 3600 };
 * const server = new Server({
 *   config,
 *   broker: new RedisBroker("redis://127.0.0.1:6379", { config }),
 *   backend: new MongoDBBackend("mongodb://127.0.0.1:27017", { config, database: "machinery" }),
 * });
 * ```
 *
 * @module
 */
import type { Backend } from "../backend.ts";
import type { AdapterOptions } from "../adapter_options.ts";
import { MongoDBBackend } from "./backend.ts";
import { connected } from "../connected.ts";

export { MongoDBBackend, type MongoDBBackendOptions } from "./backend.ts";

/**
 * The MongoDB result backend for `mongodb://` and `mongodb+srv://`; resolves once connected (the
 * database is `machinery`; the URI's own database is not used, as in Go).
 */
export async function createBackend(url: string, options: AdapterOptions): Promise<Backend> {
  return await connected(new MongoDBBackend(url, options));
}
