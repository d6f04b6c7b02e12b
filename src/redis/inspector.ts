/**
 * The Redis inspector: counts, pages and repairs over the broker's keys (`docs/wire.md`). Lists
 * are read by range (`LRANGE`/`ZRANGE` with offsets) and counted with `LLEN`/`ZCARD`; nothing
 * reads a whole queue. Repairs are Lua scripts, one atomic step per message.
 *
 * @module
 */
import type { Redis } from "ioredis";
import type { AdapterOptions } from "../adapter_options.ts";
import { type Config, delayedTasksKey, resolveConfig } from "../config.ts";
import { priorityListKeys, readyLength } from "./_priority.ts";
import type {
  DeadLetterRecord,
  DeadLetterSelection,
  Inspector,
  MessageLocation,
  Page,
  QueueCounts,
  QueuedTask,
} from "../inspector.ts";
import { decodeSignature, type Signature } from "../wire/signature.ts";
import { closeRedis, openRedis, usesCluster } from "./_connection.ts";
import { defineScripts, parseRequeuedMember, runScript } from "./_broker_scripts.ts";
import { LOCATE, PURGE, TAKE_DEAD } from "./_inspector_scripts.ts";
import { type BrokerKeys, brokerKeys, DEFAULT_KEY_PREFIX } from "./_keys.ts";

/** Options for the Redis inspector. */
export interface RedisInspectorOptions extends AdapterOptions {
  /** The prefix of the broker's own keys (`machinery:ts:`). */
  keyPrefix?: string;
}

/** The most delayed members counted per queue; beyond it `delayed` is unknown (`null`). */
const DELAYED_COUNT_LIMIT = 10_000;
/** How many messages of each place `locate` searches. */
const LOCATE_LIMIT = 100_000;
const DEFAULT_PAGE = 20;
/** A consumer whose lease was renewed this recently counts as live when listing queues. */
const LIVE_CONSUMER_MS = 60_000;

/** Inspects and repairs the queues of a Redis broker. */
export class RedisInspector implements Inspector {
  readonly #url: string;
  readonly #config: Config;
  readonly #keys: BrokerKeys;
  readonly #delayedKey: string;
  #client?: Promise<Redis>;
  #closed = false;

  /** Makes an inspector for the broker at `url`; connects on first use. */
  constructor(url: string, options: RedisInspectorOptions = {}) {
    this.#url = url;
    this.#config = resolveConfig(options.config);
    this.#keys = brokerKeys(
      options.keyPrefix ?? DEFAULT_KEY_PREFIX,
      usesCluster(url, this.#config),
    );
    this.#delayedKey = delayedTasksKey(this.#config);
  }

  /** Connects now (an unreachable Redis fails here, naming the URL). */
  async connect(): Promise<void> {
    await this.#redis();
  }

  #redis(): Promise<Redis> {
    this.#client ??= openRedis(this.#url, this.#config, "commands").then((client) => {
      defineScripts(client, [TAKE_DEAD, PURGE, LOCATE]);
      return client;
    }, (error) => {
      this.#client = undefined;
      throw error;
    });
    return this.#client;
  }

  /** The queues given, else the default queue and those consumers read that beat recently. */
  async #queueNames(queues?: string[]): Promise<string[]> {
    if (queues && queues.length > 0) return queues;
    const client = await this.#redis();
    if (this.#keys.cluster) {
      // Each queue's consumers are in its slot: ask each queue consumers ever took from.
      const known = await client.smembers(this.#keys.queues);
      const live = await Promise.all(known.map(async (queue) =>
        await client.zcount(
          this.#keys.forQueue(queue).consumers,
          Date.now() - LIVE_CONSUMER_MS,
          "+inf",
        ) > 0
      ));
      return [...new Set([this.#config.defaultQueue, ...known.filter((_, i) => live[i])])].sort();
    }
    const ids = await client.zrangebyscore(
      this.#keys.consumers,
      Date.now() - LIVE_CONSUMER_MS,
      "+inf",
    );
    const consumed = ids.length === 0 ? [] : await client.hmget(this.#keys.consumerQueues, ...ids);
    const names = consumed.filter((q): q is string => q !== null);
    return [...new Set([this.#config.defaultQueue, ...names])].sort();
  }

  async queues(queues?: string[]): Promise<QueueCounts[]> {
    const client = await this.#redis();
    const names = await this.#queueNames(queues);
    const [delayed, held] = await Promise.all([this.#delayedByQueue(client), this.#held(client)]);
    return await Promise.all(names.map(async (queue) => {
      const keys = this.#keys.forQueue(queue);
      const [ready, dead] = await Promise.all([
        readyLength(client, keys.prefix, queue),
        client.llen(keys.dead(queue)),
      ]);
      return {
        queue,
        ready,
        delayed: delayed === null ? null : delayed.get(queue) ?? 0,
        held: held.get(queue) ?? 0,
        dead,
      };
    }));
  }

  /**
   * Delayed and requeued members by destination queue. The sets hold no index by queue, so this
   * reads them, but only while they are small; beyond that the count is unknown.
   */
  async #delayedByQueue(client: Redis): Promise<Map<string, number> | null> {
    const requeuedKeys = await this.#requeuedKeys(client);
    const [a, ...sizes] = await Promise.all([
      client.zcard(this.#delayedKey),
      ...requeuedKeys.map((key) => client.zcard(key)),
    ]);
    const b = sizes.reduce((x, y) => x + y, 0);
    if (a + b > DELAYED_COUNT_LIMIT) return null;
    const counts = new Map<string, number>();
    const add = (queue: string) => counts.set(queue, (counts.get(queue) ?? 0) + 1);
    if (a > 0) {
      for (const body of await client.zrange(this.#delayedKey, 0, -1)) {
        add(routingKeyOf(body) || this.#config.defaultQueue);
      }
    }
    for (const [i, key] of requeuedKeys.entries()) {
      if (sizes[i] === 0) continue;
      for (const member of await client.zrange(key, 0, -1)) {
        add(parseRequeuedMember(member).queue);
      }
    }
    return counts;
  }

  /** The queues consumers took from (cluster), with the default queue. */
  async #knownQueues(client: Redis): Promise<string[]> {
    const known = await client.smembers(this.#keys.queues);
    return [...new Set([this.#config.defaultQueue, ...known])].sort();
  }

  /** The requeued sets: one on a single Redis, one per known queue on a cluster. */
  async #requeuedKeys(client: Redis): Promise<string[]> {
    if (!this.#keys.cluster) return [this.#keys.requeued];
    return (await this.#knownQueues(client)).map((q) => this.#keys.forQueue(q).requeued);
  }

  /** Messages held by live consumers (processing hash plus landing list), by queue. */
  async #held(client: Redis): Promise<Map<string, number>> {
    const keySets = this.#keys.cluster
      ? (await this.#knownQueues(client)).map((q) => this.#keys.forQueue(q))
      : [this.#keys];
    const held = new Map<string, number>();
    await Promise.all(keySets.map(async (keys) => {
      const ids = await client.zrange(keys.consumers, 0, -1);
      await Promise.all(ids.map(async (id) => {
        const [queue, taken, landing] = await Promise.all([
          client.hget(keys.consumerQueues, id),
          client.hlen(keys.processing(id)),
          client.llen(keys.landing(id)),
        ]);
        if (queue !== null) held.set(queue, (held.get(queue) ?? 0) + taken + landing);
      }));
    }));
    return held;
  }

  /**
   * A page of the tasks waiting in `queue`, in the order a worker takes them: its priority lists
   * from the highest level down, then Go's list.
   */
  async pending(queue: string, page: Page = {}): Promise<QueuedTask[]> {
    const client = await this.#redis();
    const [start, stop] = range(page);
    const lists = [...priorityListKeys(this.#keys.forQueue(queue).prefix, queue).reverse(), queue];
    const lengths = await Promise.all(lists.map((list) => client.llen(list)));
    const reads: Promise<string[]>[] = [];
    let offset = 0;
    lists.forEach((list, i) => {
      const [from, to] = [Math.max(start - offset, 0), Math.min(stop - offset, lengths[i] - 1)];
      if (from <= to) reads.push(client.lrange(list, from, to));
      offset += lengths[i];
    });
    const bodies = (await Promise.all(reads)).flat();
    return bodies.map((body) => ({ queue, body, signature: decodeOrNull(body), eta: null }));
  }

  /** The delayed and requeued sets merged by due time: each is read up to the page's end only. */
  async delayed(page: Page = {}): Promise<QueuedTask[]> {
    const client = await this.#redis();
    const [start, stop] = range(page);
    const [delayed, ...requeuedSets] = await Promise.all([
      client.zrange(this.#delayedKey, 0, stop, "WITHSCORES"),
      ...(await this.#requeuedKeys(client)).map((key) => client.zrange(key, 0, stop, "WITHSCORES")),
    ]);
    const requeued = requeuedSets.flat();
    const all: (QueuedTask & { score: number })[] = [];
    for (let i = 0; i < delayed.length; i += 2) {
      const body = delayed[i];
      const signature = decodeOrNull(body);
      const queue = signature?.routingKey || routingKeyOf(body) || this.#config.defaultQueue;
      all.push({ queue, body, signature, ...due(delayed[i + 1]) });
    }
    for (let i = 0; i < requeued.length; i += 2) {
      const { queue, body } = parseRequeuedMember(requeued[i]);
      all.push({ queue, body, signature: decodeOrNull(body), ...due(requeued[i + 1]) });
    }
    all.sort((x, y) => x.score - y.score);
    return all.slice(start, stop + 1).map(({ score: _, ...task }) => task);
  }

  async deadLetters(queue: string, page: Page = {}): Promise<DeadLetterRecord[]> {
    const client = await this.#redis();
    const [start, stop] = range(page);
    const entries = await client.lrange(this.#keys.forQueue(queue).dead(queue), start, stop);
    return entries.map((entry) => deadLetterOf(queue, entry));
  }

  retryDeadLetters(queue: string, selection: DeadLetterSelection): Promise<number> {
    return this.#takeDead(queue, selection, true);
  }

  deleteDeadLetters(queue: string, selection: DeadLetterSelection): Promise<number> {
    return this.#takeDead(queue, selection, false);
  }

  /**
   * Takes the selected entries out of the dead-letter list one by one (each an atomic script,
   * which does nothing when a concurrent call took the entry already); when retrying, the
   * original body goes back on the tail of its queue in the same step. An entry whose body was
   * cut is never retried (it would run a different message): it stays, and is not counted.
   */
  async #takeDead(queue: string, selection: DeadLetterSelection, retry: boolean): Promise<number> {
    const client = await this.#redis();
    const keys = this.#keys.forQueue(queue);
    const deadKey = keys.dead(queue);
    const entries = await client.lrange(deadKey, 0, -1); // bounded: the list keeps 10,000 at most
    const wanted = "uuids" in selection ? new Set(selection.uuids) : undefined;
    const taken = await Promise.all(entries.map(async (entry) => {
      const letter = deadLetterOf(queue, entry);
      if (wanted && (letter.uuid === null || !wanted.has(letter.uuid))) return 0;
      if (retry && letter.truncated) return 0;
      const target = letter.queue || queue;
      if (this.#keys.cluster && this.#keys.forQueue(target).prefix !== keys.prefix) {
        // Another slot on a cluster: onto its queue first, then out of the list (a failure
        // between the two leaves a copy in the list, never nothing).
        if (retry) await client.rpush(target, letter.body);
        return await runScript<number>(
          client,
          TAKE_DEAD,
          [deadKey, keys.deadBytes(queue), deadKey],
          [
            entry,
            "",
            "0",
          ],
        );
      }
      return await runScript<number>(client, TAKE_DEAD, [
        deadKey,
        keys.deadBytes(queue),
        target,
      ], [entry, retry ? letter.body : "", retry ? "1" : "0"]);
    }));
    return taken.reduce((a, b) => a + b, 0);
  }

  async purge(queue: string): Promise<number> {
    const client = await this.#redis();
    const levels = priorityListKeys(this.#keys.forQueue(queue).prefix, queue);
    return await runScript<number>(client, PURGE, [queue, ...levels], []);
  }

  async locate(uuid: string, queues: string[]): Promise<MessageLocation> {
    const client = await this.#redis();
    const names = await this.#queueNames(queues);
    const needle = `"UUID":${JSON.stringify(uuid)}`;
    const reply = this.#keys.cluster
      ? await this.#locateOnCluster(client, needle, uuid, names)
      : await runScript<string[]>(client, LOCATE, [
        this.#delayedKey,
        this.#keys.requeued,
        this.#keys.consumers,
        this.#keys.consumerQueues,
      ], [needle, uuid, LOCATE_LIMIT, this.#keys.prefix, ...names]);
    if (reply.length === 0) {
      return {
        where: "unknown",
        detail: `Not found in ${names.join(", ")} (first ${LOCATE_LIMIT} of each), delayed, ` +
          "held or dead letters: it ran already, or waits somewhere else",
      };
    }
    const [where, queue, detail] = reply;
    if (where === "queue") return { where, queue };
    if (where === "held") return { where, queue, consumer: detail };
    if (where === "dead") return { where, queue, reason: deadLetterOf(queue, detail).reason };
    const member = queue.startsWith("{") ? { queue: "", body: queue } : parseRequeuedMember(queue);
    return {
      where: "delayed",
      queue: member.queue || routingKeyOf(member.body) || this.#config.defaultQueue,
      eta: due(detail).eta,
    };
  }

  /**
   * LOCATE on a cluster: one call per queue (its list, consumers, requeued set and dead letters
   * share its slot; its requeued set stands in for the delayed set), then `delayed_tasks`, which
   * lives in a slot of its own, read here.
   */
  async #locateOnCluster(
    client: Redis,
    needle: string,
    uuid: string,
    names: string[],
  ): Promise<string[]> {
    for (const queue of names) {
      const keys = this.#keys.forQueue(queue);
      const reply = await runScript<string[]>(client, LOCATE, [
        keys.requeued,
        keys.requeued,
        keys.consumers,
        keys.consumerQueues,
      ], [needle, uuid, LOCATE_LIMIT, keys.prefix, queue]);
      if (reply.length > 0) return reply;
    }
    const delayed = await client.zrange(this.#delayedKey, 0, LOCATE_LIMIT - 1, "WITHSCORES");
    for (let i = 0; i < delayed.length; i += 2) {
      if (delayed[i].includes(needle)) return ["delayed", delayed[i], delayed[i + 1]];
    }
    return [];
  }

  /** Closes the connection. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await closeRedis(await this.#client?.catch(() => undefined));
  }
}

/** LRANGE/ZRANGE bounds for a page. */
function range(page: Page): [number, number] {
  const offset = Math.max(0, Math.floor(page.offset ?? 0));
  const limit = Math.max(1, Math.floor(page.limit ?? DEFAULT_PAGE));
  return [offset, offset + limit - 1];
}

/** A score in Unix ns as the ETA text, plus the score for sorting. */
function due(score: string): { eta: string; score: number } {
  const ms = Number(score) / 1e6;
  return { eta: new Date(ms).toISOString(), score: ms };
}

function decodeOrNull(body: string): Signature | null {
  try {
    return decodeSignature(body);
  } catch {
    return null;
  }
}

/** The RoutingKey of a task body, without decoding the rest ("" when absent). */
function routingKeyOf(body: string): string {
  return stringField(body, "RoutingKey");
}

/** A top-level string field of a task body found by its text ("" when absent or unreadable). */
function stringField(body: string, field: string): string {
  const match = new RegExp(`"${field}":("(?:[^"\\\\]|\\\\.)*")`).exec(body);
  if (!match) return "";
  try {
    return JSON.parse(match[1]);
  } catch {
    return "";
  }
}

/** A dead-letter entry as the API returns it. */
function deadLetterOf(queue: string, entry: string): DeadLetterRecord {
  let parsed: Record<string, unknown> = {};
  try {
    parsed = JSON.parse(entry);
  } catch {
    // An entry some other program wrote: shown as it is.
  }
  const body = typeof parsed.body === "string" ? parsed.body : entry;
  const signature = decodeOrNull(body);
  return {
    queue: typeof parsed.queue === "string" ? parsed.queue : queue,
    uuid: signature?.uuid ?? (stringField(body, "UUID") || null),
    name: signature?.name ?? (stringField(body, "Name") || null),
    reason: typeof parsed.reason === "string" ? parsed.reason : "",
    rejectedAt: typeof parsed.rejectedAt === "string" ? parsed.rejectedAt : null,
    body,
    truncated: parsed.truncated === true,
  };
}
