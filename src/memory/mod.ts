/**
 * The `memory://` adapter entry: the in-process broker, backend and lock.
 *
 * @module
 */
import type { AdapterOptions } from "../adapter_options.ts";
import type { Backend } from "../backend.ts";
import type { Broker } from "../broker.ts";
import type { Lock } from "../lock.ts";
import { MemoryBroker } from "./broker.ts";
import { MemoryBackend } from "./backend.ts";
import { MemoryLock } from "./lock.ts";

export { MemoryBackend, MemoryBroker, MemoryLock };

/** The memory broker for `memory://` and `eager`. */
export function createBroker(url: string, options: AdapterOptions): Promise<Broker> {
  return Promise.resolve(new MemoryBroker(url, options));
}

/** The memory backend for `memory://` and `eager`. */
export function createBackend(url: string, options: AdapterOptions): Promise<Backend> {
  return Promise.resolve(new MemoryBackend(url, options));
}

/** The in-process lock for `""`, `memory://` and `eager`. */
export function createLock(url: string, options: AdapterOptions): Promise<Lock> {
  return Promise.resolve(new MemoryLock(url, options));
}
