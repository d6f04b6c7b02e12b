/**
 * The delayed-task mover: moves due members of `delayed_tasks` (and of our requeued set) onto
 * their queues, earliest first, in one Lua script per batch.
 *
 * It does not poll fast. A timer is armed for the earliest score the last move saw; a publisher
 * of this library sends a notice on a pub/sub channel after each ZADD, which re-arms the timer
 * when the new task is due sooner; and a slow poll (machinery's `DelayedTasksPollPeriod`, 500 ms)
 * catches members added by Go senders, which send no notice.
 *
 * @module
 */
import type { Redis } from "ioredis";
import { MOVE_DUE, runScript } from "./_broker_scripts.ts";

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
