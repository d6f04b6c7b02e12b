/**
 * The one scheme registry: URL schemes → brokers, result backends and periodic locks. Each
 * adapter module is imported only when its scheme is used, so a Redis user never loads amqplib.
 *
 * @module
 */
import type { Backend } from "./backend.ts";
import type { Broker } from "./broker.ts";
import type { Config } from "./config.ts";
import type { Lock } from "./lock.ts";
import { MemoryLock } from "./memory/lock.ts";
import { redactPassword, URLError, urlScheme } from "./urls.ts";

/** What an adapter module exports for the schemes it serves. */
export interface AdapterModule {
  /** Builds a broker for `url`. */
  createBroker?(url: string, config: Config): Promise<Broker>;
  /** Builds a result backend for `url`. */
  createBackend?(url: string, config: Config): Promise<Backend>;
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

/**
 * The lock URL a process should use when the config names none: the config's `lock` if set,
 * else the broker URL if it is a Redis URL, else the result backend URL if it is one, else `""`
 * (the in-process lock). Unlike Go machinery, whose default is the in-process lock, this makes
 * workers that share a Redis broker or backend share their ticks too.
 */
export function defaultLockURL(config: Pick<Config, "lock" | "broker" | "resultBackend">): string {
  if (config.lock) return config.lock;
  for (const url of [config.broker, config.resultBackend]) {
    if (REDIS_SCHEMES.has(urlScheme(url))) return url;
  }
  return "";
}

const REDIS_SCHEMES = new Set(["redis", "rediss", "redis+socket"]);

/**
 * The lock for a URL: `""`, `eager` or `memory://` give a {@linkcode MemoryLock}; `redis://`,
 * `rediss://` and `redis+socket://` give a Redis lock (the driver is loaded only then).
 *
 * @throws {URLError} for another scheme.
 */
export async function lockFromURL(url: string, config?: Config): Promise<Lock> {
  const scheme = urlScheme(url);
  if (url === "" || scheme === "eager" || scheme === "memory") return new MemoryLock();
  if (REDIS_SCHEMES.has(scheme)) {
    const { RedisLock } = await import("./redis/lock.ts");
    return new RedisLock(url, { config });
  }
  throw new URLError(
    `Unsupported lock URL "${
      redactPassword(url)
    }": known schemes are redis, rediss, redis+socket, memory and eager`,
  );
}
