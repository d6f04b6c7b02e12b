/**
 * The names of the Redis broker's own keys (the ones machinery does not have). They all start
 * with a prefix (`machinery:ts:` by default) that no machinery queue uses, so Go's BLPOP loop,
 * which pops only the queue it is told, never sees them.
 *
 * On a Redis Cluster the keys that belong to a queue (what its consumers hold, their leases, its
 * requeued set, dead letters, priority lists) carry a hash tag after the prefix, so they live in
 * the queue's slot and one script can touch the queue and them together:
 * `machinery:ts:{machinery_tasks}taken:<consumer>`. On a single Redis (or Sentinel) the names
 * stay untagged, as they always were, so a running fleet keeps finding its keys.
 *
 * @module
 */
import { slotTag } from "./_slot.ts";

/** The broker's own keys for one prefix. */
export interface BrokerKeys {
  /** The prefix itself. */
  readonly prefix: string;
  /** Sorted set: consumer id → its lease (the server time of its last heartbeat, ms). */
  readonly consumers: string;
  /** Hash: consumer id → the queue its messages go back to. */
  readonly consumerQueues: string;
  /** Sorted set of messages requeued with a delay; score = due time, Unix ns. */
  readonly requeued: string;
  /** The pub/sub channel that announces new delayed members (the message is the score). */
  readonly channel: string;
  /** Sorted set of cancelled task UUIDs; score = when the mark expires, Unix ms. */
  readonly cancelled: string;
  /** The pub/sub channel that announces a cancellation (`<until ms> <uuid>`). */
  readonly cancelChannel: string;
  /** The prefix of the processing hashes (the consumer id follows). */
  readonly processingPrefix: string;
  /** The prefix of the landing lists (the consumer id follows). */
  readonly landingPrefix: string;
  /** Hash: sequence number → message, for the messages a consumer took and has not settled. */
  processing(consumerId: string): string;
  /** List: where a consumer's `BLMOVE` puts a message, until its next fetch numbers it. */
  landing(consumerId: string): string;
  /** List: rejected messages of a queue, with the reason (JSON entries). */
  dead(queue: string): string;
  /** The byte count of a queue's dead-letter list (kept by the scripts that append to it). */
  deadBytes(queue: string): string;
  /** True on a Redis Cluster: the queue's keys are tagged to its slot. */
  readonly cluster: boolean;
  /**
   * Set (cluster only): the queues consumers took from, so recovery, the requeued sets and the
   * inspector find each queue's tagged keys.
   */
  readonly queues: string;
  /**
   * The keys of one queue: on a cluster, the same names under `<prefix>{<queue's tag>}`, in the
   * queue's slot (channels and the cancellation set stay global); on a single Redis, these keys.
   */
  forQueue(queue: string): BrokerKeys;
}

/** The default prefix of the broker's own keys. */
export const DEFAULT_KEY_PREFIX = "machinery:ts:";

/** The broker's keys under `prefix`, tagged by queue when `cluster` is true. */
export function brokerKeys(prefix: string = DEFAULT_KEY_PREFIX, cluster = false): BrokerKeys {
  if (cluster && /[{}]/.test(prefix)) {
    throw new Error(
      `The key prefix "${prefix}" holds a brace: on a Redis Cluster its hash tag would put every queue in one slot`,
    );
  }
  const base = plainKeys(prefix, cluster, prefix);
  if (!cluster) return base;
  const byQueue = new Map<string, BrokerKeys>();
  const forQueue = (queue: string): BrokerKeys => {
    let keys = byQueue.get(queue);
    if (!keys) {
      keys = {
        ...plainKeys(`${prefix}{${slotTag(queue)}}`, true, prefix),
        channel: base.channel,
        cancelled: base.cancelled,
        cancelChannel: base.cancelChannel,
        forQueue,
      };
      if (byQueue.size < 1000) byQueue.set(queue, keys);
    }
    return keys;
  };
  base.forQueue = forQueue;
  return base;
}

function plainKeys(prefix: string, cluster: boolean, globalPrefix: string): BrokerKeys {
  const processingPrefix = `${prefix}taken:`;
  const landingPrefix = `${prefix}landing:`;
  const keys: BrokerKeys = {
    cluster,
    queues: `${globalPrefix}queues`,
    forQueue: () => keys,
    prefix,
    consumers: `${prefix}consumers`,
    consumerQueues: `${prefix}consumer_queues`,
    requeued: `${prefix}requeued`,
    channel: `${prefix}delayed`,
    cancelled: `${prefix}cancelled`,
    cancelChannel: `${prefix}cancel`,
    processingPrefix,
    landingPrefix,
    processing: (id) => `${processingPrefix}${id}`,
    landing: (id) => `${landingPrefix}${id}`,
    dead: (queue) => `${prefix}dead:${queue}`,
    deadBytes: (queue) => `${prefix}dead_bytes:${queue}`,
  };
  return keys;
}

/** The worker registry's keys (`docs/wire.md`), under the same prefix as the broker's. */
export interface RegistryKeys {
  /** Sorted set: worker id → when its entry expires (ms); pruned by time on every beat. */
  readonly workers: string;
  /** String with a TTL: a worker's last heartbeat (JSON `WorkerInfo`). */
  worker(id: string): string;
  /** Hash for one minute (Unix minutes): `processed:<task>` / `failed:<task>` → count. */
  stats(minute: number): string;
}

/**
 * The registry's keys under `prefix`. On a cluster they share one hash tag (`{registry}`), so a
 * heartbeat's transaction and the MGET of the workers stay in one slot.
 */
export function registryKeys(prefix: string = DEFAULT_KEY_PREFIX, cluster = false): RegistryKeys {
  if (cluster) prefix = `${prefix}{registry}`;
  return {
    workers: `${prefix}workers`,
    worker: (id) => `${prefix}worker:${id}`,
    stats: (minute) => `${prefix}stats:${minute}`,
  };
}
