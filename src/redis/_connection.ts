/**
 * Opening ioredis connections for a machinery Redis URL (`redis://`, `rediss://`,
 * `redis+socket://`, with Sentinel when `redis.masterName` is set, a Redis Cluster when
 * `redis.clusterEnabled` is set or the URL names several hosts without a master name), shared
 * by the Redis broker and the Redis result backend.
 *
 * A cluster client is an ioredis `Cluster`, handed out typed as `Redis` (the commands we use are
 * the same); {@linkcode isCluster} tells them apart where they differ. Its auto-pipelining is off:
 * ioredis batches per node and resends a whole batch on `MOVED`, which fails commands while
 * slots move after a failover (ioredis issue #2075).
 *
 * The clients speak RESP2 (ioredis 5): the Lua scripts' replies are plain arrays, as redigo and
 * go-redis see them.
 *
 * @module
 */
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from "ioredis";
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
    options.host = parsed.host;
    options.port = parsed.port;
  }
  if (parsed.tls || config.tls) {
    // Sentinel and a cluster hand out node addresses later: no name is known to check here.
    const host = parsed.kind === "tcp" && !r.masterName && !usesCluster(url, config)
      ? parsed.host
      : "";
    options.tls = tlsOptions(host, config.tlsCAFile);
    if (r.masterName) {
      // ioredis dials the sentinels, and the master they name, in plaintext unless told
      // both: a rediss:// URL must never fall back to plaintext.
      options.sentinelTLS = options.tls;
      options.enableTLSForSentinelMode = true;
    }
  }
  return options;
}

/**
 * True when `url` and `config` ask for a Redis Cluster: `redis.clusterEnabled`, or several hosts
 * in the URL without `redis.masterName` (which would make them sentinels).
 */
export function usesCluster(url: string, config: Config): boolean {
  const parsed = parseRedisURL(url);
  if (parsed.kind !== "tcp" || config.redis.masterName) return false;
  return config.redis.clusterEnabled || parsed.hosts.length > 1;
}

/** True when `client` is a cluster client made by {@linkcode openRedis}. */
export function isCluster(client: Redis): boolean {
  return (client as { isCluster?: boolean }).isCluster === true;
}

/** A cluster client for the URL's hosts, with the node options of {@linkcode redisOptions}. */
function clusterClient(url: string, redisOpts: RedisOptions): Redis {
  const parsed = parseRedisURL(url);
  if (parsed.db !== 0) {
    throw new RedisConnectionError(
      `A Redis Cluster has only database 0: "${
        redactPassword(url)
      }" asks for database ${parsed.db}`,
    );
  }
  const { host: _h, port: _p, retryStrategy, db: _db, lazyConnect: _l, ...nodeOptions } = redisOpts;
  const options: ClusterOptions = {
    redisOptions: nodeOptions,
    lazyConnect: true,
    clusterRetryStrategy: retryStrategy ?? undefined,
    enableAutoPipelining: false,
    // After a failover, give the cluster time to agree on the new master before resending.
    retryDelayOnFailover: 200,
    retryDelayOnClusterDown: 300,
    retryDelayOnTryAgain: 200,
    retryDelayOnMoved: 50,
    maxRedirections: 32,
    // The node names a cluster hands out are addresses: TLS checks them as they are.
    dnsLookup: (address, callback) => callback(null, address),
  };
  return new Cluster(parsed.hosts, options) as unknown as Redis;
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
  const cluster = usesCluster(url, config);
  const client = cluster ? clusterClient(url, redisOpts) : new Redis(redisOpts);
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
  if (db !== 0 && !cluster) {
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
