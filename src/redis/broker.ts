/**
 * The Redis broker: machinery's keys and bytes, at-least-once delivery.
 *
 * Keys shared with Go machinery (same names, same bytes):
 *
 * | Key | Type | Use |
 * |-----|------|-----|
 * | `<queue>` (`machinery_tasks`) | list | RPUSH to the tail; Go BLPOPs the head, we move from it |
 * | `delayed_tasks` (`redis.delayedTasksKey`) | sorted set | ETA tasks, scored in Unix ns |
 *
 * Keys of our own, all under the prefix `machinery:ts:` (option `keyPrefix`), which Go's BLPOP
 * loop never reads because it pops only its queue:
 *
 * | Key | Type | Use |
 * |-----|------|-----|
 * | `machinery:ts:taken:<consumer>` | hash | sequence number → message a consumer took and has not settled |
 * | `machinery:ts:landing:<consumer>` | list | the message a consumer's `BLMOVE` took, until its next fetch |
 * | `machinery:ts:consumers` | sorted set | consumer → lease (server ms of its last heartbeat) |
 * | `machinery:ts:consumer_queues` | hash | consumer → the queue its messages go back to |
 * | `machinery:ts:requeued` | sorted set | `requeue(delay)`ed messages, scored by due time (ns) |
 * | `machinery:ts:dead:<queue>` | list | rejected messages: JSON `{queue, reason, rejectedAt, body, bytes, truncated}` (newest 10,000, 64 MiB at most, 64 KiB of each body) |
 * | `machinery:ts:dead_bytes:<queue>` | string | the bytes in that list |
 * | `machinery:ts:delayed` | pub/sub channel | "a delayed task is due at <score>" notices |
 *
 * **At-least-once.** A consumer moves messages atomically from the queue into its processing
 * hash, numbered (a Lua `LPOP n`/`HSET` batch; when the queue is empty, `BLMOVE` into its
 * landing list, which the next batch empties into the hash), and renews a lease every
 * `heartbeatMs` (2 s). An ack is `HDEL` of the number; requeue and dead-lettering are one Lua
 * script each that removes the entry and, in the same step, requeues the message (tail of the
 * queue, or the requeued set when delayed) or dead-letters it. Every consuming broker runs a
 * recovery pass every `recoveryIntervalMs` (5 s): what consumers whose lease is older than
 * `leaseMs` (10 s) hold goes back to the head of their queue, oldest first. So a worker killed
 * with -9 has its tasks, running or prefetched, picked up again within about 15 s. A graceful
 * stop gives back anything unsettled at once. After a lost connection, a consumer compares its
 * processing hash with what it holds and gives back what it does not hold (a move whose reply
 * was lost). No script removes a message before what replaces it is written, so a queue or set
 * that a hostile write turned into another type makes the settle fail, never lose the message.
 *
 * **Size limit.** The fetch script measures each body in Redis: one over `maxMessageBytes` is
 * set aside in the dead-letter list (the reason and its first bytes) without leaving Redis, and
 * the worker gets only its size and first bytes. The `BLMOVE` runs with its reply switched off,
 * so no body reaches the process except through the fetch script.
 *
 * **Delayed tasks.** `publish` with a future ETA does `ZADD delayed_tasks <ns> <json>` plus a
 * pub/sub notice; consuming brokers arm a timer for the earliest score and move due members in
 * one Lua script (earliest first), RPUSHing each to its own `RoutingKey` unchanged. A poll every
 * `redis.delayedTasksPollPeriod` ms catches members added by Go senders.
 *
 * Connections: one for commands (auto-pipelined; publishers use only this one), one per running
 * consume for BLMOVE, and one for SUBSCRIBE while consuming.
 *
 * **Redis Cluster** (`redis.clusterEnabled`, or several hosts without `redis.masterName`): Go's
 * keys keep their names; our keys of a queue are tagged to its slot
 * (`machinery:ts:{<queue>}taken:<consumer>`, see `_keys.ts`), recovery and the requeued sets run
 * per queue (the queues consumers took from are kept in the set `machinery:ts:queues`), due
 * delayed tasks are claimed in `delayed_tasks`' slot and pushed one by one (`_delayed.ts`), and
 * the `BLMOVE` waits with its reply on (no `CLIENT REPLY SKIP` across a cluster client's
 * connections), so a body it moves reaches the process once, unread, before the fetch measures it.
 *
 * @module
 */
import type { RateLimiter } from "../rate_limit.ts";
import type { UniqueLocks } from "../unique.ts";
import { RATE_LIMIT_SCRIPTS, redisRateLimiter } from "./rate_limit.ts";
import { redisUniqueLocks, UNIQUE_SCRIPTS } from "./unique_locks.ts";
import type { Redis } from "ioredis";
import type { AdapterOptions } from "../adapter_options.ts";
import type { Broker, ConsumeOptions, Delivery, QueueDepth } from "../broker.ts";
import { consoleLogger, throttledWarning } from "../log.ts";
import { type Config, type ConfigInput, delayedTasksKey, resolveConfig } from "../config.ts";
import { nowNanos } from "../wire/go_time.ts";
import {
  decodeSignature,
  encodeSignature,
  etaUnixNanos,
  type Signature,
} from "../wire/signature.ts";
import { redactPassword } from "../urls.ts";
import { ClosedError } from "../errors.ts";
import { Batcher } from "./_batcher.ts";
import { markCancelled, watchCancelled } from "./_cancel.ts";
import { closeRedis, openRedis, usesCluster } from "./_connection.ts";
import { QueueConsumer } from "./_consumer.ts";
import { DelayedMover } from "./_delayed.ts";
import { type BrokerKeys, brokerKeys, DEFAULT_KEY_PREFIX } from "./_keys.ts";
import { slotTag } from "./_slot.ts";
import {
  PRIORITY_PICK,
  priorityChannel,
  priorityLevel,
  priorityListKey,
  priorityListKeys,
  priorityPassesKey,
  readyLength,
} from "./_priority.ts";
import {
  ALL_BROKER_SCRIPTS,
  defineScripts,
  DELAY,
  parseRequeuedMember,
  RECOVER,
  runScript,
} from "./_broker_scripts.ts";

export { RedisConnectionError } from "./_connection.ts";

/** Options for the Redis broker: `config` gives the default queue, the `redis` section, TLS. */
export interface RedisBrokerOptions extends AdapterOptions {
  /** The prefix of the broker's own keys (`machinery:ts:`). */
  keyPrefix?: string;
  /** A consumer whose lease is older than this is dead, in ms (10,000). */
  leaseMs?: number;
  /** How often a consumer renews its lease, in ms (2,000). */
  heartbeatMs?: number;
  /** How often a consuming broker looks for dead consumers, in ms (5,000). */
  recoveryIntervalMs?: number;
  /** The most entries kept in a dead-letter list (10,000). */
  deadLetterLimit?: number;
  /** The most bytes kept in a dead-letter list, oldest entries out first (64 MiB). */
  deadLetterMaxBytes?: number;
  /** The most bytes of a message body a dead letter keeps (64 KiB; the rest is cut off). */
  deadLetterBodyBytes?: number;
  /** Connection and background errors (default: a `logger` warning, at most one per 5 s). */
  onError?: (error: Error) => void;
}

/** A rejected message, as kept in the dead-letter list. */
export interface RedisDeadLetter {
  /** The queue it came from. */
  queue: string;
  /** Why it was set aside. */
  reason: string;
  /** When, as an ISO 8601 string. */
  rejectedAt: string;
  /** The message body, cut to its first `deadLetterBodyBytes` bytes. */
  body: string;
  /** The size of the whole body in bytes. */
  bytes?: number;
  /** True when `body` is only the beginning of the message. */
  truncated?: boolean;
}

/** Moves machinery task messages through Redis. */
export class RedisBroker implements Broker {
  /** The broker URL. */
  readonly url: string;
  /** The resolved configuration. */
  readonly config: Config;
  readonly #keys: BrokerKeys;
  readonly #delayedKey: string;
  readonly #leaseMs: number;
  readonly #heartbeatMs: number;
  readonly #recoveryMs: number;
  readonly #deadLetters: { limit: number; maxBytes: number; bodyBytes: number };
  readonly #onError: (error: Error) => void;
  readonly #closing = new AbortController();
  readonly #consumers = new Set<QueueConsumer>();
  readonly #loops = new Set<Promise<unknown>>();
  #commands?: Promise<Redis>;
  #background?: Promise<void>;
  #subscriber?: Redis;
  readonly #cancelWatchers = new Set<Redis>();
  #mover?: DelayedMover;
  #recoveryTimer?: ReturnType<typeof setInterval>;
  #closed?: Promise<void>;
  #rateLimiter?: RateLimiter;
  #uniqueLocks?: UniqueLocks;
  /**
   * The RPUSHes of one event-loop turn, sent as one RPUSH per list, in call order; then one
   * wake-up notice for each queue that received a priority task.
   */
  readonly #pushes = new Batcher<{ list: string; body: string; wake?: string }>(async (items) => {
    const client = await this.#client();
    const byList = new Map<string, string[]>();
    const wake = new Set<string>();
    for (const item of items) {
      const bodies = byList.get(item.list);
      if (bodies) bodies.push(item.body);
      else byList.set(item.list, [item.body]);
      if (item.wake !== undefined) wake.add(item.wake);
    }
    await Promise.all([...byList].map(([list, bodies]) => client.rpush(list, ...bodies)));
    if (wake.size === 0) return;
    const channel = priorityChannel(this.#keys.prefix);
    await Promise.all([...wake].map((queue) => client.publish(channel, queue)));
  }, 1000);

  /** Makes a broker for `url` (`redis://`, `rediss://`, `redis+socket://`); connects lazily. */
  constructor(url = "redis://127.0.0.1:6379", options: RedisBrokerOptions = {}) {
    this.url = url;
    this.config = resolveConfig(options.config);
    this.#keys = brokerKeys(options.keyPrefix ?? DEFAULT_KEY_PREFIX, usesCluster(url, this.config));
    this.#delayedKey = delayedTasksKey(this.config);
    this.#leaseMs = options.leaseMs ?? 10_000;
    this.#heartbeatMs = options.heartbeatMs ?? Math.min(2_000, Math.floor(this.#leaseMs / 3));
    this.#recoveryMs = options.recoveryIntervalMs ?? Math.min(5_000, this.#leaseMs / 2);
    this.#deadLetters = {
      limit: options.deadLetterLimit ?? 10_000,
      maxBytes: options.deadLetterMaxBytes ?? 64 * 1024 * 1024,
      bodyBytes: options.deadLetterBodyBytes ?? 64 * 1024,
    };
    this.#onError = options.onError ??
      throttledWarning(options.logger ?? consoleLogger(), `Redis broker ${redactPassword(url)}`);
  }

  /** Rate limits shared by every worker on this Redis (the broker's key prefix). */
  get rateLimiter(): RateLimiter {
    return this.#rateLimiter ??= redisRateLimiter(() => this.#client(), this.#keys.prefix);
  }

  /** Unique-task locks shared by every sender and worker on this Redis. */
  get uniqueLocks(): UniqueLocks {
    return this.#uniqueLocks ??= redisUniqueLocks(() => this.#client(), this.#keys.prefix);
  }

  /** Builds one from a config (its `broker` URL and `redis` section). */
  static fromConfig(config: ConfigInput, options: RedisBrokerOptions = {}): RedisBroker {
    return new RedisBroker(config.broker, { ...options, config });
  }

  /**
   * Connects now, so that an unreachable Redis is reported at start, with a
   * `RedisConnectionError` naming the URL (its password hidden).
   */
  async connect(): Promise<void> {
    await this.#client();
  }

  #client(): Promise<Redis> {
    if (this.#closing.signal.aborted) {
      return Promise.reject(new ClosedError("The Redis broker is closed"));
    }
    this.#commands ??= openRedis(this.url, this.config, "commands", {
      onError: this.#onError,
    }).then((client) => {
      defineScripts(client, [
        ...ALL_BROKER_SCRIPTS,
        ...RATE_LIMIT_SCRIPTS,
        ...UNIQUE_SCRIPTS,
        PRIORITY_PICK,
      ]);
      return client;
    }, (error) => {
      this.#commands = undefined;
      throw error;
    });
    return this.#commands;
  }

  adjustRoutingKey(signature: Signature): void {
    signature.routingKey ||= this.config.defaultQueue;
  }

  async publish(signature: Signature): Promise<void> {
    this.adjustRoutingKey(signature);
    const body = encodeSignature(signature);
    const eta = etaUnixNanos(signature);
    if (eta !== null && eta > nowNanos()) {
      const client = await this.#client();
      await runScript(client, DELAY, [this.#delayedKey], [
        eta.toString(),
        body,
        this.#keys.channel,
      ]);
    } else if (this.config.redis.priorityQueues && signature.priority > 0) {
      const queue = signature.routingKey;
      const list = priorityListKey(
        this.#keys.forQueue(queue).prefix,
        queue,
        priorityLevel(signature.priority),
      );
      await this.#pushes.add({ list, body, wake: queue });
    } else {
      await this.#pushes.add({ list: signature.routingKey, body });
    }
  }

  async consume(options: ConsumeOptions, handler: (delivery: Delivery) => void): Promise<void> {
    const signal = AbortSignal.any([options.signal, this.#closing.signal]);
    if (signal.aborted) return;
    const commands = await this.#client();
    await this.#startBackground(commands);
    const blockSeconds = Math.max(
      1,
      Math.ceil((this.config.redis.normalTasksPollPeriod || 1000) / 1000),
    );
    const blocking = await openRedis(this.url, this.config, "blocking", {
      autoPipelining: false,
      onError: this.#onError,
      blockSeconds,
    });
    const queueKeys = this.#keys.forQueue(options.queue);
    // On a cluster, recovery and the requeued-set moves find the queue's tagged keys by this set.
    if (this.#keys.cluster) await commands.sadd(this.#keys.queues, options.queue);
    const consumer = new QueueConsumer({
      commands,
      blocking,
      cluster: this.#keys.cluster,
      keys: queueKeys,
      id: consumerId(options.consumerTag),
      queue: options.queue,
      capacity: Math.max(1, options.capacity),
      blockSeconds,
      leaseMs: this.#leaseMs,
      heartbeatMs: this.#heartbeatMs,
      deadLetterLimit: this.#deadLetters.limit,
      deadLetterMaxBytes: this.#deadLetters.maxBytes,
      deadLetterBodyBytes: this.#deadLetters.bodyBytes,
      maxMessageBytes: this.config.maxMessageBytes,
      onError: this.#onError,
      onConsuming: options.onConsuming,
      priority: this.config.redis.priorityQueues
        ? {
          levels: priorityListKeys(queueKeys.prefix, options.queue),
          passes: priorityPassesKey(queueKeys.prefix, options.queue),
        }
        : undefined,
    });
    this.#consumers.add(consumer);
    const loop = (async () => {
      try {
        await consumer.run(signal, handler);
      } finally {
        // Retired already (nothing unsettled): wait for it, so `close` never races its script.
        if (consumer.retired) {
          await consumer.retire().catch(() => {});
          this.#consumers.delete(consumer);
        }
      }
    })();
    this.#loops.add(loop);
    try {
      await loop;
    } finally {
      this.#loops.delete(loop);
    }
  }

  /** Marks `uuid` cancelled until `until` (Unix ms) and tells every watching worker. */
  async cancelTask(uuid: string, until: number): Promise<void> {
    await markCancelled(await this.#client(), this.#keys, uuid, until);
  }

  /**
   * Reports the live cancellation marks, then each new one, on a subscriber connection of its
   * own, until `signal` aborts.
   */
  async watchCancellations(
    onCancel: (uuid: string, until: number) => void,
    signal: AbortSignal,
  ): Promise<void> {
    const commands = await this.#client();
    const subscriber = await openRedis(this.url, this.config, "subscriber", {
      autoPipelining: false,
      onError: this.#onError,
    });
    this.#cancelWatchers.add(subscriber);
    const stop = () => {
      this.#cancelWatchers.delete(subscriber);
      closeRedis(subscriber);
    };
    try {
      await watchCancelled(subscriber, commands, this.#keys, onCancel, this.#onError);
    } catch (error) {
      stop();
      throw error;
    }
    if (signal.aborted) stop();
    else signal.addEventListener("abort", stop, { once: true });
  }

  /** Starts the delayed mover and the recovery pass (once per broker). */
  #startBackground(commands: Redis): Promise<void> {
    this.#background ??= (async () => {
      try {
        this.#subscriber = await openRedis(this.url, this.config, "subscriber", {
          autoPipelining: false,
          onError: this.#onError,
        });
        this.#mover = new DelayedMover({
          commands,
          subscriber: this.#subscriber,
          delayedKey: this.#delayedKey,
          requeuedKey: this.#keys.requeued,
          channel: this.#keys.channel,
          defaultQueue: this.config.defaultQueue,
          keyPrefix: this.#keys.prefix,
          deadLetters: this.#deadLetters,
          priorityQueues: this.config.redis.priorityQueues,
          pollMs: this.config.redis.delayedTasksPollPeriod > 0
            ? this.config.redis.delayedTasksPollPeriod
            : 500,
          onError: this.#onError,
          cluster: this.#keys.cluster
            ? {
              claimsKey: `${this.#keys.prefix}{${slotTag(this.#delayedKey)}}delayed_claims`,
              keys: this.#keys,
              queues: () => this.#clusterQueues(commands),
              priorityChannel: priorityChannel(this.#keys.prefix),
            }
            : undefined,
        });
        await this.#mover.start();
        if (this.config.redis.priorityQueues) await this.#wakeOnPriority(this.#subscriber);
        this.#recoveryTimer = setInterval(() => this.recover(), this.#recoveryMs);
        this.recover();
      } catch (error) {
        this.#background = undefined;
        await this.#mover?.stop();
        await closeRedis(this.#subscriber);
        throw error;
      }
    })();
    return this.#background;
  }

  /** Wakes the idle consumers of a queue when a priority task is queued for it. */
  async #wakeOnPriority(subscriber: Redis): Promise<void> {
    const channel = priorityChannel(this.#keys.prefix);
    subscriber.on("message", (from: string, queue: string) => {
      if (from !== channel) return;
      for (const consumer of this.#consumers) if (consumer.queue === queue) consumer.wake();
    });
    await subscriber.subscribe(channel);
  }

  /**
   * Runs one recovery pass now: what consumers whose lease expired hold goes back
   * to their queues. Resolves with the number of messages moved.
   */
  async recover(): Promise<number> {
    try {
      const client = await this.#client();
      // One call per queue on a cluster (each queue's consumers live in its slot).
      const sets = this.#keys.cluster
        ? (await this.#clusterQueues(client)).map((queue) => this.#keys.forQueue(queue))
        : [this.#keys];
      let moved = 0;
      for (const keys of sets) {
        moved += await runScript<number>(client, RECOVER, [
          keys.consumers,
          keys.consumerQueues,
        ], [
          this.#leaseMs,
          Math.max(600_000, this.#leaseMs * 10),
          keys.processingPrefix,
          keys.landingPrefix,
        ]);
      }
      return moved;
    } catch (error) {
      if (!this.#closing.signal.aborted) {
        this.#onError(error instanceof Error ? error : new Error(String(error)));
      }
      return 0;
    }
  }

  /** The queues consumers took from (cluster only: their tagged keys are found by name). */
  async #clusterQueues(client: Redis): Promise<string[]> {
    return (await client.smembers(this.#keys.queues)).sort();
  }

  /** The requeued sets: the one set on a single Redis, each queue's on a cluster. */
  async #requeuedKeys(client: Redis): Promise<string[]> {
    if (!this.#keys.cluster) return [this.#keys.requeued];
    const queues = new Set([this.config.defaultQueue, ...await this.#clusterQueues(client)]);
    return [...queues].map((queue) => this.#keys.forQueue(queue).requeued);
  }

  async getPendingTasks(queue?: string): Promise<Signature[]> {
    const client = await this.#client();
    const items = await client.lrange(queue || this.config.defaultQueue, 0, -1);
    return decodeAll(items);
  }

  /**
   * `ready`: the queue's length plus its priority lists' (`_priority.ts`); `dead`:
   * its dead-letter list's. Delayed tasks of every queue share one sorted set, so they are not
   * counted per queue here.
   */
  async queueDepth(queue: string): Promise<QueueDepth> {
    const client = await this.#client();
    const keys = this.#keys.forQueue(queue);
    const [ready, dead] = await Promise.all([
      readyLength(client, keys.prefix, queue),
      client.llen(keys.dead(queue)),
    ]);
    return { ready, dead };
  }

  async getDelayedTasks(): Promise<Signature[]> {
    const client = await this.#client();
    const [delayed, ...requeuedSets] = await Promise.all([
      client.zrange(this.#delayedKey, 0, -1, "WITHSCORES"),
      ...(await this.#requeuedKeys(client)).map((key) => client.zrange(key, 0, -1, "WITHSCORES")),
    ]);
    const requeued = requeuedSets.flat();
    const held: { score: number; body: string }[] = [];
    for (let i = 0; i < delayed.length; i += 2) {
      held.push({ body: delayed[i], score: Number(delayed[i + 1]) });
    }
    for (let i = 0; i < requeued.length; i += 2) {
      held.push({ body: parseRequeuedMember(requeued[i]).body, score: Number(requeued[i + 1]) });
    }
    held.sort((a, b) => a.score - b.score);
    return decodeAll(held.map((h) => h.body));
  }

  /** The rejected messages of a queue (default: the default queue), oldest first. */
  async getDeadLetters(queue?: string): Promise<RedisDeadLetter[]> {
    const client = await this.#client();
    const name = queue || this.config.defaultQueue;
    const items = await client.lrange(this.#keys.forQueue(name).dead(name), 0, -1);
    return items.map((item) => JSON.parse(item) as RedisDeadLetter);
  }

  /**
   * Stops consuming, gives every unsettled message back to the head of its queue, and closes
   * the connections. Idempotent.
   */
  close(): Promise<void> {
    this.#closed ??= (async () => {
      this.#closing.abort();
      await Promise.allSettled([...this.#loops]);
      clearInterval(this.#recoveryTimer);
      await this.#mover?.stop();
      await Promise.allSettled([...this.#consumers].map((c) => c.retire()));
      this.#consumers.clear();
      await closeRedis(this.#subscriber);
      await Promise.all([...this.#cancelWatchers].map(closeRedis));
      this.#cancelWatchers.clear();
      const commands = await this.#commands?.catch(() => undefined);
      await closeRedis(commands);
    })();
    return this.#closed;
  }

  /** Closes the broker at the end of an `await using` block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function decodeAll(bodies: string[]): Signature[] {
  const out: Signature[] = [];
  for (const body of bodies) {
    try {
      out.push(decodeSignature(body));
    } catch {
      // A message no worker could decode is skipped here; the worker dead-letters it.
    }
  }
  return out;
}

function consumerId(tag: string): string {
  const safe = tag.replace(/[^A-Za-z0-9_.-]/g, "_").slice(0, 64) || "consumer";
  return `${safe}:${crypto.randomUUID()}`;
}
