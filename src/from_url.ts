/**
 * URL schemes → adapters. Each adapter module is imported only when its scheme is used, so a
 * Redis user never loads amqplib.
 *
 * @module
 */
import type { Backend } from "./backend.ts";
import type { Broker } from "./broker.ts";
import type { Config } from "./config.ts";
import { redactPassword, URLError, urlScheme } from "./urls.ts";

/** What an adapter module exports for the schemes it serves. */
export interface AdapterModule {
  /** Builds a broker for `url`. */
  createBroker?(url: string, config: Config): Promise<Broker>;
  /** Builds a result backend for `url`. */
  createBackend?(url: string, config: Config): Promise<Backend>;
}

type Loader = () => Promise<AdapterModule>;

const memory: Loader = () => import("./memory.ts");
const amqp: Loader = () => import("./amqp.ts");
const redis: Loader = () => import("./redis.ts");
const memcache: Loader = () => import("./memcache.ts");
const mongodb: Loader = () => import("./mongodb.ts");

/** Scheme → loader, for brokers. */
const BROKERS: Record<string, Loader> = {
  memory,
  eager: memory,
  amqp,
  amqps: amqp,
  redis,
  rediss: redis,
  "redis+socket": redis,
};

/** Scheme → loader, for result backends. */
const BACKENDS: Record<string, Loader> = {
  memory,
  eager: memory,
  amqp,
  amqps: amqp,
  redis,
  rediss: redis,
  "redis+socket": redis,
  memcache,
  mongodb,
  "mongodb+srv": mongodb,
};

/** The broker for a URL such as `redis://127.0.0.1:6379` or `amqp://guest:guest@host/`. */
export async function brokerFromURL(url: string, config: Config): Promise<Broker> {
  const loader = BROKERS[urlScheme(url)];
  const module = loader ? await loader() : undefined;
  if (!module?.createBroker) {
    throw new URLError(
      `Unsupported broker URL "${redactPassword(url)}": known schemes are ${
        Object.keys(BROKERS).join(", ")
      }`,
    );
  }
  return module.createBroker(url, config);
}

/** The result backend for a URL such as `redis://127.0.0.1:6379` or `memcache://h:11211`. */
export async function backendFromURL(url: string, config: Config): Promise<Backend> {
  const loader = BACKENDS[urlScheme(url)];
  const module = loader ? await loader() : undefined;
  if (!module?.createBackend) {
    throw new URLError(
      `Unsupported result backend URL "${redactPassword(url)}": known schemes are ${
        Object.keys(BACKENDS).join(", ")
      }`,
    );
  }
  return module.createBackend(url, config);
}
