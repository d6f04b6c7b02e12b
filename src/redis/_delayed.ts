/**
 * The delayed-task mover: moves due members of `delayed_tasks` (and of our requeued set) onto
 * their queues, earliest first, in one Lua script per batch.
 *
 * On a Redis Cluster `delayed_tasks` and the queues live in different slots, and no script may
 * touch two. Go's go-redis broker takes one due member at a time (WATCH, ZREM) and RPUSHes it
 * afterwards, which loses it when the worker dies between the two. Here a script claims due
 * members into a claims set in the delayed key's slot ({@linkcode CLAIM_DUE}); each is RPUSHed to
 * its queue and only then its claim removed. A claim left behind (the mover died, or Redis failed
 * over, between push and removal) is handed out again after {@linkcode STALE_CLAIM_MS}: a member
 * may then be pushed twice, never lost. Each queue's requeued set (tagged to the queue's slot)
 * is moved by the single-Redis script, one call per queue.
 *
 * It does not poll fast. A timer is armed for the earliest score the last move saw; a publisher
 * of this library sends a notice on a pub/sub channel after each ZADD, which re-arms the timer
 * when the new task is due sooner; and a slow poll (machinery's `DelayedTasksPollPeriod`, 500 ms)
 * catches members added by Go senders, which send no notice.
 *
 * @module
 */
import type { Redis } from "ioredis";
import { CLAIM_DUE, DEAD_LETTER_ADD, MOVE_DUE, runScript } from "./_broker_scripts.ts";
import type { BrokerKeys } from "./_keys.ts";
import { deadLetterEntry } from "./_consumer.ts";
import { priorityLevel, priorityListKey } from "./_priority.ts";

/** A claim older than this is handed out again (longer than any push takes, retries included). */
export const STALE_CLAIM_MS = 60_000;

/** What the mover needs on a Redis Cluster. */
export interface ClusterMoverOptions {
  /** The claims set, tagged to the delayed key's slot. */
  claimsKey: string;
  /** The broker's keys (each queue's tagged keys come from `forQueue`). */
  keys: BrokerKeys;
  /** The queues whose requeued sets to move (the broker's queue set). */
  queues: () => Promise<string[]>;
  /** The channel that wakes the consumers of a queue given a priority task. */
  priorityChannel: string;
}

/** What the mover needs. */
export interface DelayedMoverOptions {
  /** The client for commands (scripts). */
  commands: Redis;
  /** A client of its own for SUBSCRIBE, or undefined to rely on the timer and the poll. */
  subscriber?: Redis;
  /** The delayed set (`delayed_tasks`). */
  delayedKey: string;
  /** Our requeued set. */
  requeuedKey: string;
  /** The wake-up channel. */
  channel: string;
  /** The queue for a member without a routing key. */
  defaultQueue: string;
  /** The prefix of the broker's keys (a member its queue refuses becomes a dead letter). */
  keyPrefix: string;
  /** The dead-letter limits: entries, bytes, bytes of each body. */
  deadLetters: { limit: number; maxBytes: number; bodyBytes: number };
  /** Whether a due task with a priority goes to its priority list (`redis.priorityQueues`). */
  priorityQueues?: boolean;
  /** The fallback poll period in ms. */
  pollMs: number;
  /** Called with errors of the move script (the mover keeps going). */
  onError: (error: Error) => void;
  /** Set on a Redis Cluster: claim and push instead of one script. */
  cluster?: ClusterMoverOptions;
}

const BATCH = 200;
/** The longest a timer is armed for: a wrong clock estimate corrects itself by then. */
const MAX_TIMER_MS = 60_000;

/** Moves due delayed tasks onto their queues while it runs. */
export class DelayedMover {
  readonly #o: DelayedMoverOptions;
  #timer?: ReturnType<typeof setTimeout>;
  #timerAt = Infinity;
  #poll?: ReturnType<typeof setInterval>;
  #running?: Promise<void>;
  #again = false;
  #stopped = false;
  /** Server clock minus local clock, in ms, from the last script reply. */
  #offsetMs = 0;

  /** Makes a mover; `start` sets it going. */
  constructor(options: DelayedMoverOptions) {
    this.#o = options;
  }

  /** Subscribes to the notices, starts the poll and runs a first move. */
  async start(): Promise<void> {
    const { subscriber, channel, pollMs } = this.#o;
    if (subscriber) {
      subscriber.on("message", (from: string, score: string) => {
        if (from === channel) this.#notice(score);
      });
      await subscriber.subscribe(channel);
    }
    this.#poll = setInterval(() => this.run(), Math.max(10, pollMs));
    this.run();
  }

  /** Runs a move now (coalesced with one already running). */
  run(): void {
    if (this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    this.#running = this.#loop().finally(() => {
      this.#running = undefined;
      if (this.#again) {
        this.#again = false;
        this.run();
      }
    });
  }

  async #loop(): Promise<void> {
    try {
      if (this.#o.cluster) return await this.#clusterLoop(this.#o.cluster);
      for (;;) {
        if (this.#stopped) return;
        const localBefore = Date.now();
        const [moved, nextDelayed, nextRequeued, nowNs] = await runScript<
          [number, string | null, string | null, string]
        >(this.#o.commands, MOVE_DUE, [this.#o.delayedKey, this.#o.requeuedKey], [
          this.#o.defaultQueue,
          BATCH,
          this.#o.keyPrefix,
          this.#o.deadLetters.limit,
          this.#o.deadLetters.maxBytes,
          this.#o.deadLetters.bodyBytes,
          this.#o.priorityQueues ? 1 : 0,
        ]);
        const serverMs = Number(nowNs) / 1e6;
        this.#offsetMs = serverMs - (localBefore + Date.now()) / 2;
        if (moved >= BATCH) continue;
        const next = Math.min(
          nextDelayed === null ? Infinity : Number(nextDelayed),
          nextRequeued === null ? Infinity : Number(nextRequeued),
        );
        if (next !== Infinity) this.#arm(Date.now() + (next / 1e6 - serverMs));
        return;
      }
    } catch (error) {
      if (!this.#stopped) {
        this.#o.onError(error instanceof Error ? error : new Error(String(error)));
      }
    }
  }

  /** The cluster pass: claim and push due delayed members, then each queue's requeued set. */
  async #clusterLoop(cluster: ClusterMoverOptions): Promise<void> {
    const { commands } = this.#o;
    let next = Infinity;
    let serverMs = Date.now();
    for (;;) {
      if (this.#stopped) return;
      const localBefore = Date.now();
      const [claimed, nextDelayed, nowNs] = await runScript<[string[], string | null, string]>(
        commands,
        CLAIM_DUE,
        [this.#o.delayedKey, cluster.claimsKey],
        [BATCH, STALE_CLAIM_MS],
      );
      serverMs = Number(nowNs) / 1e6;
      this.#offsetMs = serverMs - (localBefore + Date.now()) / 2;
      await Promise.all(claimed.map((member) => this.#pushClaimed(cluster, member)));
      if (claimed.length < BATCH) {
        if (nextDelayed !== null) next = Number(nextDelayed);
        break;
      }
    }
    for (const queue of await cluster.queues()) {
      const keys = cluster.keys.forQueue(queue);
      for (;;) {
        if (this.#stopped) return;
        const [moved, , nextRequeued] = await runScript<
          [number, string | null, string | null, string]
        >(commands, MOVE_DUE, [keys.requeued, keys.requeued], [
          this.#o.defaultQueue,
          BATCH,
          keys.prefix,
          this.#o.deadLetters.limit,
          this.#o.deadLetters.maxBytes,
          this.#o.deadLetters.bodyBytes,
          0,
          1,
        ]);
        if (moved >= BATCH) continue;
        if (nextRequeued !== null) next = Math.min(next, Number(nextRequeued));
        break;
      }
    }
    if (next !== Infinity) this.#arm(Date.now() + (next / 1e6 - serverMs));
  }

  /**
   * Pushes one claimed member to the tail of its queue (or its priority list), then drops the
   * claim. A queue that refuses it (a key of another type) gets it as a dead letter instead.
   */
  async #pushClaimed(cluster: ClusterMoverOptions, member: string): Promise<void> {
    const { commands, defaultQueue, priorityQueues, deadLetters } = this.#o;
    const { queue, priority } = routeOf(member, defaultQueue);
    const keys = cluster.keys.forQueue(queue);
    const level = priorityQueues ? priorityLevel(priority) : 0;
    const list = level > 0 ? priorityListKey(keys.prefix, queue, level) : queue;
    try {
      await commands.rpush(list, member);
    } catch (error) {
      if (!/WRONGTYPE/.test(String(error))) throw error;
      await runScript(commands, DEAD_LETTER_ADD, [keys.dead(queue), keys.deadBytes(queue)], [
        deadLetterEntry(
          queue,
          `Could not move a due message to "${list}": ${(error as Error).message}`,
          member,
          deadLetters.bodyBytes,
        ),
        deadLetters.limit,
        deadLetters.maxBytes,
      ]);
    }
    if (level > 0) await commands.publish(cluster.priorityChannel, queue);
    await commands.zrem(cluster.claimsKey, member);
  }

  /** A publisher added a member due at `score` (Unix ns). */
  #notice(score: string): void {
    const dueMs = Number(score) / 1e6 - this.#offsetMs;
    if (Number.isFinite(dueMs)) this.#arm(dueMs);
  }

  /** Arms the timer for a local time, unless it is already armed for an earlier one. */
  #arm(localDueMs: number): void {
    if (this.#stopped) return;
    if (this.#timer !== undefined && this.#timerAt <= localDueMs) return;
    clearTimeout(this.#timer);
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, Math.ceil(localDueMs - Date.now())));
    this.#timerAt = localDueMs;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#timerAt = Infinity;
      this.run();
    }, delay);
  }

  /** Stops the timers and waits for a move in progress. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearInterval(this.#poll);
    this.#timer = undefined;
    await this.#running;
  }
}

/** The queue a delayed member goes to (its `RoutingKey`, else the default) and its priority. */
function routeOf(member: string, defaultQueue: string): { queue: string; priority: number } {
  try {
    const obj = JSON.parse(member);
    if (obj && typeof obj === "object") {
      let rk = obj.RoutingKey;
      if (rk === undefined) {
        const key = Object.keys(obj).find((k) => k.toLowerCase() === "routingkey");
        if (key) rk = obj[key];
      }
      const priority = Number(obj.Priority);
      return {
        queue: typeof rk === "string" && rk !== "" ? rk : defaultQueue,
        priority: Number.isFinite(priority) ? Math.floor(priority) : 0,
      };
    }
  } catch {
    // Not JSON: the default queue, whose worker dead-letters it.
  }
  return { queue: defaultQueue, priority: 0 };
}
