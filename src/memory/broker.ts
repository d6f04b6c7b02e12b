/**
 * The in-process broker: queues in memory, delayed tasks on timers. The embedded default for the
 * demo and for tests. Messages are stored as the same JSON bytes the networked brokers carry.
 *
 * @module
 */
import type { Broker, ConsumeOptions, Delivery, QueueDepth } from "../broker.ts";
import { localRateLimiter, type RateLimiter } from "../rate_limit.ts";
import type { UniqueLocks } from "../unique.ts";
import { memoryUniqueLocks } from "./unique_locks.ts";
import type { AdapterOptions } from "../adapter_options.ts";
import { type ConfigInput, resolveConfig } from "../config.ts";
import { ClosedError } from "../errors.ts";
import {
  decodeSignature,
  encodeSignature,
  etaUnixNanos,
  type Signature,
} from "../wire/signature.ts";

/** A message set aside, with why. */
export interface DeadLetter {
  /** The message body. */
  body: string;
  /** Why it was set aside. */
  reason: string;
}

interface Message {
  body: string;
  redelivered: boolean;
}

interface Consumer {
  queue: string;
  capacity: number;
  unsettled: number;
  handler: (delivery: Delivery) => void;
}

/** Options for the memory broker: its `config.defaultQueue` fills an empty routing key. */
export type MemoryBrokerOptions = AdapterOptions;

/** The longest delay a timer takes without overflowing (a signed 32-bit count of ms). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Queues in this process. */
export class MemoryBroker implements Broker {
  /** The URL it was made with (`memory://` or `eager`). */
  readonly url: string;
  /** Messages rejected by workers. */
  readonly deadLetters: DeadLetter[] = [];
  readonly #defaultQueue: string;
  readonly #queues = new Map<string, Message[]>();
  readonly #delayed = new Map<ReturnType<typeof setTimeout>, { body: string; eta: bigint }>();
  readonly #consumers = new Set<Consumer>();
  readonly #outstanding = new Map<Message, string>();
  readonly #cancelMarks = new Map<string, number>();
  readonly #cancelWatchers = new Set<(uuid: string, until: number) => void>();
  #closed = false;
  /** Rate limits: this process is every worker of a memory broker, so they are exact. */
  readonly rateLimiter: RateLimiter = localRateLimiter();
  /** Unique-task locks for the senders and workers of this process. */
  readonly uniqueLocks: UniqueLocks = memoryUniqueLocks();

  /** Makes an empty broker (`url` is `memory://` or `eager`; it names no server). */
  constructor(url = "memory://", options: MemoryBrokerOptions = {}) {
    this.url = url;
    this.#defaultQueue = resolveConfig(options.config).defaultQueue;
  }

  /** Builds one from a config (its `broker` URL is `memory://`). */
  static fromConfig(config: ConfigInput, options: MemoryBrokerOptions = {}): MemoryBroker {
    return new MemoryBroker(config.broker, { ...options, config });
  }

  /** Resolves at once: there is nothing to connect to. */
  connect(): Promise<void> {
    return Promise.resolve();
  }

  adjustRoutingKey(signature: Signature): void {
    signature.routingKey ||= this.#defaultQueue;
  }

  publish(signature: Signature): Promise<void> {
    // Accepting it would lose it: a closed broker delivers nothing.
    if (this.#closed) return Promise.reject(new ClosedError("The memory broker is closed"));
    this.adjustRoutingKey(signature);
    const body = encodeSignature(signature);
    const eta = etaUnixNanos(signature);
    if (eta !== null && eta > nowNanos()) {
      this.#delay(signature.routingKey, body, eta);
    } else {
      this.#push(signature.routingKey, { body, redelivered: false });
    }
    return Promise.resolve();
  }

  /** Puts raw bytes on a queue, as a foreign sender would (interop and bad-input tests). */
  publishRaw(queue: string, body: string): void {
    this.#push(queue, { body, redelivered: false });
  }

  /**
   * Holds a message until its ETA; a timer that fires early is re-armed, so it never runs early.
   * A timer longer than 2^31 - 1 ms overflows to about 1 ms in every runtime, so a far ETA waits
   * in steps of at most that long.
   */
  #delay(queue: string, body: string, eta: bigint, redelivered = false): void {
    const ms = Number((eta - nowNanos()) / 1_000_000n) + 1;
    const timer = setTimeout(() => {
      this.#delayed.delete(timer);
      if (eta > nowNanos()) this.#delay(queue, body, eta, redelivered);
      else this.#push(queue, { body, redelivered });
    }, Math.min(Math.max(0, ms), MAX_TIMER_MS));
    this.#delayed.set(timer, { body, eta });
  }

  #push(queue: string, message: Message, front = false): void {
    if (this.#closed) return;
    let list = this.#queues.get(queue);
    if (!list) this.#queues.set(queue, list = []);
    if (front) list.unshift(message);
    else list.push(message);
    this.#dispatch(queue);
  }

  /** Hands queued messages to consumers with free capacity. */
  #dispatch(queue: string): void {
    const list = this.#queues.get(queue);
    if (!list) return;
    for (const consumer of this.#consumers) {
      if (consumer.queue !== queue) continue;
      while (list.length > 0 && consumer.unsettled < consumer.capacity) {
        this.#deliver(consumer, list.shift()!);
      }
    }
  }

  #deliver(consumer: Consumer, message: Message): void {
    consumer.unsettled++;
    this.#outstanding.set(message, consumer.queue);
    let settled = false;
    /** Claims the delivery for one settle; false when it was settled already. */
    const settle = (): boolean => {
      if (settled) return false;
      settled = true;
      consumer.unsettled--;
      this.#outstanding.delete(message);
      queueMicrotask(() => this.#dispatch(consumer.queue));
      return true;
    };
    const queue = consumer.queue;
    consumer.handler({
      body: message.body,
      redelivered: message.redelivered,
      ack: () => {
        if (!settle()) return alreadySettled();
        return Promise.resolve();
      },
      requeue: (delayMs, body = message.body) => {
        if (!settle()) return alreadySettled();
        const again = { body, redelivered: true };
        if (delayMs <= 0) this.#push(queue, again);
        else {this.#delay(
            queue,
            body,
            nowNanos() + BigInt(Math.ceil(delayMs)) * 1_000_000n,
            true,
          );}
        return Promise.resolve();
      },
      reject: (reason) => {
        if (!settle()) return alreadySettled();
        this.deadLetters.push({ body: message.body, reason });
        return Promise.resolve();
      },
    });
  }

  consume(options: ConsumeOptions, handler: (delivery: Delivery) => void): Promise<void> {
    if (this.#closed) return Promise.reject(new ClosedError("The memory broker is closed"));
    const consumer: Consumer = {
      queue: options.queue,
      capacity: Math.max(1, options.capacity),
      unsettled: 0,
      handler,
    };
    return new Promise((resolve) => {
      const stop = () => {
        this.#consumers.delete(consumer);
        resolve();
      };
      if (options.signal.aborted) return stop();
      options.signal.addEventListener("abort", stop, { once: true });
      this.#consumers.add(consumer);
      options.onConsuming?.(true);
      this.#dispatch(options.queue);
    });
  }

  /** `ready`: the messages waiting in `queue`. */
  queueDepth(queue: string): Promise<QueueDepth> {
    return Promise.resolve({ ready: this.#queues.get(queue)?.length ?? 0 });
  }

  /** Marks `uuid` cancelled until `until` and tells the watching workers of this broker. */
  cancelTask(uuid: string, until: number): Promise<void> {
    if (this.#closed) return Promise.reject(new ClosedError("The memory broker is closed"));
    this.#cancelMarks.set(uuid, until);
    for (const watcher of this.#cancelWatchers) watcher(uuid, until);
    return Promise.resolve();
  }

  /** Reports the live marks, then each new one until `signal` aborts. */
  watchCancellations(
    onCancel: (uuid: string, until: number) => void,
    signal: AbortSignal,
  ): Promise<void> {
    if (signal.aborted) return Promise.resolve();
    const now = Date.now();
    for (const [uuid, until] of this.#cancelMarks) {
      if (until > now) onCancel(uuid, until);
      else this.#cancelMarks.delete(uuid);
    }
    this.#cancelWatchers.add(onCancel);
    signal.addEventListener("abort", () => this.#cancelWatchers.delete(onCancel), { once: true });
    return Promise.resolve();
  }

  getPendingTasks(queue?: string): Promise<Signature[]> {
    const list = this.#queues.get(queue || this.#defaultQueue) ?? [];
    return Promise.resolve(list.map((m) => decodeSignature(m.body)));
  }

  getDelayedTasks(): Promise<Signature[]> {
    const held = [...this.#delayed.values()].sort((a, b) => (a.eta < b.eta ? -1 : 1));
    return Promise.resolve(held.map((m) => decodeSignature(m.body)));
  }

  /**
   * Stops timers. Messages handed out but never settled (an abrupt stop) go back to the front of
   * their queues, in order, as a networked broker would redeliver them. Publishing afterwards
   * rejects with `ClosedError`. Idempotent.
   */
  close(): Promise<void> {
    // Last handed out first: each goes in front of the one handed out after it, so the queue
    // keeps the order the messages had.
    for (const [message, queue] of [...this.#outstanding].reverse()) {
      const list = this.#queues.get(queue) ?? [];
      list.unshift({ body: message.body, redelivered: true });
      this.#queues.set(queue, list);
    }
    this.#outstanding.clear();
    this.#closed = true;
    for (const timer of this.#delayed.keys()) clearTimeout(timer);
    this.#delayed.clear();
    this.#consumers.clear();
    this.#cancelWatchers.clear();
    return Promise.resolve();
  }
}

function alreadySettled(): Promise<void> {
  return Promise.reject(new Error("The delivery was already settled"));
}

function nowNanos(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}
