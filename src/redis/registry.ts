/**
 * The worker registry in Redis (`docs/wire.md`, "our own keys"): a key per worker with a TTL,
 * an index sorted by expiry that every beat prunes, and per-minute counter hashes. A worker
 * writes all of it in one heartbeat every few seconds (one pipelined round trip), never per
 * task; a worker killed with -9 stops renewing and its key expires within one TTL.
 *
 * @module
 */
import type { Redis } from "ioredis";
import type { AdapterOptions } from "../adapter_options.ts";
import { type Config, resolveConfig } from "../config.ts";
import type { TaskStats, WorkerInfo, WorkerRegistry } from "../inspector.ts";
import { closeRedis, openRedis, usesCluster } from "./_connection.ts";
import { DEFAULT_KEY_PREFIX, type RegistryKeys, registryKeys } from "./_keys.ts";

/** Options for the Redis worker registry. */
export interface RedisRegistryOptions extends AdapterOptions {
  /** The prefix of its keys (`machinery:ts:`, the broker's). */
  keyPrefix?: string;
}

/** How long a minute's counters are kept, in seconds. */
const STATS_KEEP_SECONDS = 2 * 60 * 60;

/** Worker heartbeats and task counters in Redis. */
export class RedisRegistry implements WorkerRegistry {
  readonly #url: string;
  readonly #config: Config;
  readonly #keys: RegistryKeys;
  #client?: Promise<Redis>;
  #closed = false;

  /** Makes a registry on the Redis at `url`; connects on first use. */
  constructor(url: string, options: RedisRegistryOptions = {}) {
    this.#url = url;
    this.#config = resolveConfig(options.config);
    this.#keys = registryKeys(
      options.keyPrefix ?? DEFAULT_KEY_PREFIX,
      usesCluster(url, this.#config),
    );
  }

  /** Connects now (an unreachable Redis fails here, naming the URL). */
  async connect(): Promise<void> {
    await this.#redis();
  }

  #redis(): Promise<Redis> {
    this.#client ??= openRedis(this.#url, this.#config, "commands").catch((error) => {
      this.#client = undefined;
      throw error;
    });
    return this.#client;
  }

  async beat(info: WorkerInfo, ttlMs: number, finished: TaskStats[]): Promise<void> {
    const client = await this.#redis();
    const now = Date.now();
    const multi = client.multi()
      .set(this.#keys.worker(info.id), JSON.stringify(info), "PX", ttlMs)
      .zadd(this.#keys.workers, now + ttlMs, info.id)
      .zremrangebyscore(this.#keys.workers, "-inf", now);
    const counts = finished.filter((s) => s.processed > 0 || s.failed > 0);
    if (counts.length > 0) {
      const key = this.#keys.stats(Math.floor(now / 60_000));
      for (const { task, processed, failed } of counts) {
        if (processed > 0) multi.hincrby(key, `processed:${task}`, processed);
        if (failed > 0) multi.hincrby(key, `failed:${task}`, failed);
      }
      multi.expire(key, STATS_KEEP_SECONDS);
    }
    await multi.exec();
  }

  async remove(id: string): Promise<void> {
    const client = await this.#redis();
    await client.multi().del(this.#keys.worker(id)).zrem(this.#keys.workers, id).exec();
  }

  /** The live workers, by name then host and pid (their keys are read with one MGET). */
  async workers(): Promise<WorkerInfo[]> {
    const client = await this.#redis();
    const ids = await client.zrangebyscore(this.#keys.workers, Date.now(), "+inf");
    if (ids.length === 0) return [];
    const values = await client.mget(ids.map((id) => this.#keys.worker(id)));
    const out: WorkerInfo[] = [];
    for (const value of values) {
      if (value === null) continue; // expired between the two reads
      try {
        out.push(JSON.parse(value) as WorkerInfo);
      } catch {
        // Not ours: skipped.
      }
    }
    return out.sort((a, b) =>
      a.name.localeCompare(b.name) || a.host.localeCompare(b.host) || a.pid - b.pid
    );
  }

  async stats(minutes: number): Promise<TaskStats[]> {
    const client = await this.#redis();
    const now = Math.floor(Date.now() / 60_000);
    const span = Math.max(1, Math.min(Math.floor(minutes), STATS_KEEP_SECONDS / 60));
    const hashes = await Promise.all(
      Array.from({ length: span }, (_, i) => client.hgetall(this.#keys.stats(now - i))),
    );
    const byTask = new Map<string, TaskStats>();
    for (const hash of hashes) {
      for (const [field, value] of Object.entries(hash)) {
        const colon = field.indexOf(":");
        const kind = field.slice(0, colon);
        const task = field.slice(colon + 1);
        let entry = byTask.get(task);
        if (!entry) byTask.set(task, entry = { task, processed: 0, failed: 0 });
        if (kind === "processed") entry.processed += Number(value);
        else if (kind === "failed") entry.failed += Number(value);
      }
    }
    return [...byTask.values()].sort((a, b) => a.task.localeCompare(b.task));
  }

  /** Closes the connection. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await closeRedis(await this.#client?.catch(() => undefined));
  }
}
