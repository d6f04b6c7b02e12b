/**
 * The `memory://` adapter entry: the in-process broker and backend.
 *
 * @module
 */
import type { Config } from "../config.ts";
import type { Backend } from "../backend.ts";
import type { Broker } from "../broker.ts";
import { MemoryBroker } from "./broker.ts";
import { MemoryBackend } from "./backend.ts";

export { MemoryBackend, MemoryBroker };

/** The memory broker for `memory://`. */
export function createBroker(_url: string, config: Config): Promise<Broker> {
  return Promise.resolve(MemoryBroker.fromConfig(config));
}

/** The memory backend for `memory://`. */
export function createBackend(_url: string, config: Config): Promise<Backend> {
  return Promise.resolve(MemoryBackend.fromConfig(config));
}
