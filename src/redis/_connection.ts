/**
 * Opening ioredis connections for a machinery Redis URL (`redis://`, `rediss://`,
 * `redis+socket://`, with Sentinel when `redis.masterName` is set), shared by the Redis broker
 * and the Redis result backend.
 *
 * The clients speak RESP2 (ioredis 5): the Lua scripts' replies are plain arrays, as redigo and
 * go-redis see them.
 *
 * @module
 */
import { Redis, type RedisOptions } from "ioredis";
import type { Config } from "../config.ts";
import { redactPassword } from "../urls.ts";
import { parseRedisURL } from "./url.ts";

/** Redis could not be reached, or refused us (bad password, bad database). */
export class RedisConnectionError extends Error {
  /** Creates the error; the message names the redacted URL. */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "RedisConnectionError";
  }
}

/** What a connection is for: it shows in `CLIENT LIST` and in error messages. */
export type ConnectionRole = "commands" | "blocking" | "subscriber" | "backend";

/** Options for {@linkcode openRedis}. */
export interface OpenRedisOptions {
  /** Batch the commands of one tick into one write (default true). */
  autoPipelining?: boolean;
  /** Called with connection errors after the first connect (the client reconnects by itself). */
  onError?: (error: Error) => void;
}

/** The ioredis options for a machinery Redis URL and config. */
export function redisOptions(url: string, config: Config, role: ConnectionRole): RedisOptions {
  const parsed = parseRedisURL(url);
  const r = config.redis;
  const options: RedisOptions = {
    db: parsed.db,
    username: parsed.username || undefined,
    password: parsed.password || undefined,
    connectTimeout: (r.connectTimeout || 15) * 1000,
    connectionName: r.clientName ? `${r.clientName}:${role}` : undefined,
    lazyConnect: true,
    // Reconnect for ever, at most 2 s apart; a command waits through 20 reconnect attempts
    // (about half a minute) and then fails, so a lost Redis never stalls a caller silently.
    retryStrategy: (times) => Math.min(times * 100, 2000),
    maxRetriesPerRequest: 20,
  };
  if (parsed.kind === "socket") {
    options.path = parsed.socketPath;
  } else if (r.masterName) {
    options.sentinels = parsed.hosts.map(({ host, port }) => ({ host, port }));
    options.name = r.masterName;
    options.sentinelPassword = r.sentinelPassword || undefined;
  } else {
    if (r.clusterEnabled || parsed.hosts.length > 1) {
      throw new RedisConnectionError(
        `Redis Cluster is not supported for "${redactPassword(url)}": use one host or Sentinel`,
      );
    }
    options.host = parsed.host;
    options.port = parsed.port;
  }
  if (parsed.tls || config.tls) options.tls = {};
  return options;
}

/**
 * Opens one ioredis client and waits until it is ready. Fails with a
 * {@linkcode RedisConnectionError} naming the redacted URL when Redis cannot be reached; once
 * connected, the client reconnects by itself and reports errors to `onError`.
 */
export async function openRedis(
  url: string,
  config: Config,
  role: ConnectionRole,
  options: OpenRedisOptions = {},
): Promise<Redis> {
  const redisOpts = redisOptions(url, config, role);
  redisOpts.enableAutoPipelining = options.autoPipelining ?? true;
  const client = new Redis(redisOpts);
  let firstError: Error | undefined;
  let connected = false;
  client.on("error", (error: Error) => {
    if (!connected) firstError ??= error;
    else options.onError?.(error);
  });
  try {
    await client.connect();
    connected = true;
  } catch (error) {
    client.disconnect();
    const cause = firstError ?? error;
    const text = cause instanceof Error ? cause.message : String(cause);
    throw new RedisConnectionError(
      `Could not connect to Redis at "${redactPassword(url)}": ${text || "connection refused"}`,
      { cause },
    );
  }
  return client;
}

/** Closes a client: QUIT when it is connected, otherwise a plain disconnect. Never throws. */
export async function closeRedis(client: Redis | undefined): Promise<void> {
  if (!client) return;
  if (client.status === "ready") {
    try {
      await client.quit();
      return;
    } catch {
      // fall through
    }
  }
  client.disconnect();
}
