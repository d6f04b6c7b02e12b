/**
 * The one scheme registry: URL schemes → brokers, result backends and periodic locks. Each
 * adapter module is imported only when its scheme is used, so a Redis user never loads amqplib.
 *
 * @module
 */
import type { AdapterOptions } from "./adapter_options.ts";
import type { Backend } from "./backend.ts";
import type { Broker } from "./broker.ts";
import type { Lock } from "./lock.ts";
import type { Inspector, WorkerRegistry } from "./inspector.ts";
import { redactPassword, URLError, urlScheme } from "./urls.ts";

/**
 * What an adapter module (`src/<technology>/mod.ts`) exports for the schemes it serves. Each
 * builds its adapter as `new X(url, options)` does; brokers and backends are connected before
 * they resolve, locks connect at their first claim.
 */
export interface AdapterModule {
  /** Builds a broker for `url`. */
  createBroker?(url: string, options: AdapterOptions): Promise<Broker>;
  /** Builds a result backend for `url`. */
  createBackend?(url: string, options: AdapterOptions): Promise<Backend>;
  /** Builds a periodic lock for `url`. */
  createLock?(url: string, options: AdapterOptions): Promise<Lock>;
  /** Builds an inspector for the broker at `url`, connected. */
  createInspector?(url: string, options: AdapterOptions): Promise<Inspector>;
  /** Builds a worker registry on the server at `url`, connected. */
  createRegistry?(url: string, options: AdapterOptions): Promise<WorkerRegistry>;
}

type Loader = () => Promise<AdapterModule>;

const memory: Loader = () => import("./memory/mod.ts");
const amqp: Loader = () => import("./amqp/mod.ts");
const redis: Loader = () => import("./redis/mod.ts");
const memcache: Loader = () => import("./memcache/mod.ts");
const mongodb: Loader = () => import("./mongodb/mod.ts");

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

/** Scheme → loader, for periodic locks (an empty URL is the in-process lock too). */
const LOCKS: Record<string, Loader> = {
  memory,
  eager: memory,
  redis,
  rediss: redis,
  "redis+socket": redis,
};

/**
 * The broker for a URL such as `redis://127.0.0.1:6379` or `amqp://guest:guest@host/`,
 * connected.
 */
export async function brokerFromURL(url: string, options: AdapterOptions = {}): Promise<Broker> {
  const loader = BROKERS[urlScheme(url)];
  const module = loader ? await loader() : undefined;
  if (!module?.createBroker) {
    throw new URLError(
      `Unsupported broker URL "${redactPassword(url)}": known schemes are ${
        Object.keys(BROKERS).join(", ")
      }`,
    );
  }
  return module.createBroker(url, options);
}

/**
 * The result backend for a URL such as `redis://127.0.0.1:6379` or `memcache://h:11211`,
 * connected.
 */
export async function backendFromURL(url: string, options: AdapterOptions = {}): Promise<Backend> {
  const loader = BACKENDS[urlScheme(url)];
  const module = loader ? await loader() : undefined;
  if (!module?.createBackend) {
    throw new URLError(
      `Unsupported result backend URL "${redactPassword(url)}": known schemes are ${
        Object.keys(BACKENDS).join(", ")
      }`,
    );
  }
  return module.createBackend(url, options);
}

/**
 * The lock for a URL: `""`, `eager` or `memory://` give a `MemoryLock`; `redis://`, `rediss://`
 * and `redis+socket://` give a Redis lock (the driver is loaded only then), which connects at
 * its first claim.
 *
 * @throws {URLError} for another scheme.
 */
export async function lockFromURL(url: string, options: AdapterOptions = {}): Promise<Lock> {
  const loader = url === "" ? memory : LOCKS[urlScheme(url)];
  const module = loader ? await loader() : undefined;
  if (!module?.createLock) {
    throw new URLError(
      `Unsupported lock URL "${
        redactPassword(url)
      }": known schemes are redis, rediss, redis+socket, memory and eager`,
    );
  }
  return module.createLock(url, options);
}

/**
 * An inspector for the broker at `url` (`redis://`…, `amqp://`…), connected: queue counts,
 * pending, delayed and dead-lettered tasks, and their repair (see `src/inspector.ts`).
 */
export async function inspectorFromURL(
  url: string,
  options: AdapterOptions = {},
): Promise<Inspector> {
  const loader = BROKERS[urlScheme(url)];
  const module = loader ? await loader() : undefined;
  if (!module?.createInspector) {
    throw new URLError(
      `Cannot inspect the broker "${
        redactPassword(url)
      }": inspection works on redis, rediss, redis+socket, amqp and amqps brokers`,
    );
  }
  return module.createInspector(url, options);
}

/**
 * Where a deployment's workers announce themselves: the Redis broker, else a Redis result
 * backend, else nowhere (`undefined`): an AMQP broker with another backend has no registry.
 */
export function registryURL(config: { broker: string; resultBackend: string }): string | undefined {
  for (const url of [config.broker, config.resultBackend]) {
    if (LOCKS[urlScheme(url)] === redis) return url;
  }
  return undefined;
}

/** The worker registry on the Redis at `url`, connected. */
export async function registryFromURL(
  url: string,
  options: AdapterOptions = {},
): Promise<WorkerRegistry> {
  const loader = BROKERS[urlScheme(url)];
  const module = loader ? await loader() : undefined;
  if (!module?.createRegistry) {
    throw new URLError(
      `No worker registry at "${redactPassword(url)}": the registry lives in Redis`,
    );
  }
  return module.createRegistry(url, options);
}
