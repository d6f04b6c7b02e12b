/**
 * The `./redis` entry: the Redis broker and result backend, speaking Go machinery's keys and
 * bytes, with at-least-once delivery. Importing it loads the `ioredis` driver; `mod.ts` does not.
 *
 * @example
 * ```ts
 * import { Server } from "@machinery/machinery";
 * import { RedisBackend, RedisBroker } from "@machinery/machinery/redis";
 *
 * const config = { defaultQueue: "machinery_tasks" };
 * const server = new Server({
 *   config,
 *   broker: new RedisBroker("redis://127.0.0.1:6379", { config }),
 *   backend: new RedisBackend("redis://127.0.0.1:6379", { config }),
 * });
 * ```
 *
 * @module
 */
import type { AdapterOptions } from "../adapter_options.ts";
import type { Backend } from "../backend.ts";
import type { Broker } from "../broker.ts";
import type { Lock } from "../lock.ts";
import { connected } from "../connected.ts";
import { RedisBroker } from "./broker.ts";
import { RedisBackend } from "./backend.ts";
import { RedisLock } from "./lock.ts";
import type { Inspector, WorkerRegistry } from "../inspector.ts";
import { RedisInspector } from "./inspector.ts";
import { RedisRegistry } from "./registry.ts";

export {
  RedisBroker,
  type RedisBrokerOptions,
  RedisConnectionError,
  type RedisDeadLetter,
} from "./broker.ts";
export { ChordLockError, RedisBackend, type RedisBackendOptions } from "./backend.ts";
export { RedisLock, type RedisLockOptions } from "./lock.ts";
export { RedisInspector, type RedisInspectorOptions } from "./inspector.ts";
export { RedisRegistry, type RedisRegistryOptions } from "./registry.ts";

/** The Redis broker for `redis://`, `rediss://` and `redis+socket://`; connects before it resolves. */
export async function createBroker(url: string, options: AdapterOptions): Promise<Broker> {
  return await connected(new RedisBroker(url, options));
}

/** The Redis result backend for `redis://`, `rediss://` and `redis+socket://`; connects first. */
export async function createBackend(url: string, options: AdapterOptions): Promise<Backend> {
  return await connected(new RedisBackend(url, options));
}

/** The Redis periodic lock for `redis://`, `rediss://` and `redis+socket://`; connects lazily. */
export function createLock(url: string, options: AdapterOptions): Promise<Lock> {
  return Promise.resolve(new RedisLock(url, options));
}

/** The Redis inspector for a Redis broker URL; connects before it resolves. */
export async function createInspector(url: string, options: AdapterOptions): Promise<Inspector> {
  return await connected(new RedisInspector(url, options));
}

/** The worker registry on the Redis at `url`; connects before it resolves. */
export async function createRegistry(
  url: string,
  options: AdapterOptions,
): Promise<WorkerRegistry> {
  return await connected(new RedisRegistry(url, options));
}
