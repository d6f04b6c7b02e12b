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
import { commandTimeoutMs, type Config, connectTimeoutMs } from "../config.ts";
import { tlsOptions } from "../net/tls.ts";
import { redactPassword } from "../urls.ts";
import { parseRedisURL } from "./url.ts";

/**
 * Redis could not be reached in time, or refused us (bad password, a database it does not have,
 * a TLS certificate that does not name the host).
 */
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
  /**
   * The longest a blocking command on this connection blocks for, in seconds: it is added to
   * the command timeout, so a `BLMOVE … 5` is not cut short (default 0).
   */
  blockSeconds?: number;
}

/**
 * The ioredis options for a machinery Redis URL and config. The dial gives up after Go's
 * `redis.connectTimeout` or our `connectTimeout`, whichever is shorter; each command after
 * `commandTimeout`.
 */
export function redisOptions(url: string, config: Config, role: ConnectionRole): RedisOptions {
  const parsed = parseRedisURL(url);
  const r = config.redis;
  const options: RedisOptions = {
    db: parsed.db,
    username: parsed.username || undefined,
    password: parsed.password || undefined,
    connectTimeout: Math.min((r.connectTimeout || 15) * 1000, connectTimeoutMs(config)),
    commandTimeout: commandTimeoutMs(config),
    connectionName: r.clientName ? `${r.clientName}:${role}` : undefined,
    lazyConnect: true,
    // Reconnect for ever, at most 2 s apart; a command fails after `commandTimeout` or 20
    // reconnect attempts, so a lost or silent Redis never stalls a caller.
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
  if (parsed.tls || config.tls) {
    // Sentinel hands out the master's address later: no name is known to check here.
    const host = parsed.kind === "tcp" && !r.masterName ? parsed.host : "";
    options.tls = tlsOptions(host, config.tlsCAFile);
  }
  return options;
}

/**
 * Opens one ioredis client and waits until it is ready and on its database. Fails with a
 * {@linkcode RedisConnectionError} naming the redacted URL when Redis cannot be reached, does
 * not answer within `connectTimeout` (an address that accepts TCP and never replies), or has no
 * such database (ioredis alone would carry on in database 0); once connected, the client
 * reconnects by itself and reports errors to `onError`.
 */
export async function openRedis(
  url: string,
  config: Config,
  role: ConnectionRole,
  options: OpenRedisOptions = {},
): Promise<Redis> {
  const redisOpts = redisOptions(url, config, role);
  redisOpts.enableAutoPipelining = options.autoPipelining ?? true;
  redisOpts.commandTimeout! += (options.blockSeconds ?? 0) * 1000;
  const client = new Redis(redisOpts);
  let firstError: Error | undefined;
  let connected = false;
  client.on("error", (error: Error) => {
    if (!connected) firstError ??= error;
    else options.onError?.(error);
  });
  const fail = (detail: string, cause: unknown): RedisConnectionError => {
    client.disconnect();
    return new RedisConnectionError(detail, { cause });
  };
  const where = `"${redactPassword(url)}"`;
  const limitMs = connectTimeoutMs(config);
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), limitMs);
  });
  try {
    const connecting = client.connect();
    connecting.catch(() => {}); // it may settle after the deadline gave up on it
    if (await Promise.race([connecting, deadline]) === "timeout") {
      const text = firstError ? `: ${firstError.message}` : "";
      throw fail(
        `Could not connect to Redis at ${where}: no reply within ${limitMs / 1000} s${text}`,
        firstError,
      );
    }
  } catch (error) {
    if (error instanceof RedisConnectionError) throw error;
    const cause = firstError ?? error;
    const text = cause instanceof Error ? cause.message : String(cause);
    throw fail(`Could not connect to Redis at ${where}: ${text || "connection refused"}`, cause);
  } finally {
    clearTimeout(timer);
  }
  const db = redisOpts.db ?? 0;
  if (db !== 0) {
    // ioredis reports a failed SELECT as an event and stays in database 0; Go's client fails.
    try {
      await client.select(db);
    } catch (error) {
      const text = error instanceof Error ? error.message : String(error);
      throw fail(`Redis at ${where} refused database ${db}: ${text}`, error);
    }
  }
  connected = true;
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
