/**
 * The broker contract: how tasks travel from senders to workers. Every adapter (memory, Redis,
 * AMQP) implements it and passes `tests/conformance/`.
 *
 * @module
 */
import type { Signature } from "./wire/signature.ts";

/**
 * One message handed to a worker. Exactly one of `ack`, `requeue` or `reject` settles it; until
 * then the broker counts it against the consumer's capacity and, if the worker dies, gives it to
 * another worker.
 */
export interface Delivery {
  /** The raw message body, as the sender wrote it. */
  readonly body: string;
  /** True when the broker knows this message was handed out before. */
  readonly redelivered: boolean;
  /**
   * Set when the broker measured the body over its size limit before reading it: the message
   * is set aside already (a dead letter with the reason), `body` holds only its first bytes,
   * and settling the delivery changes nothing.
   */
  readonly oversizeBytes?: number;
  /** The message is done with: remove it for good. */
  ack(): Promise<void>;
  /**
   * Give the message back to be delivered again after `delayMs` (0: at once): unchanged, or
   * as `body` (the same task with updated headers, such as its back-off count).
   */
  requeue(delayMs: number, body?: string): Promise<void>;
  /** Set the message aside for good with a reason (a dead-letter list or queue). */
  reject(reason: string): Promise<void>;
  /**
   * Optional: resolves false once the broker has given this message back to be delivered again
   * (the consumer's lease lapsed while the process was paused, or its connection closed), so
   * another copy runs elsewhere. The worker asks before it starts a task and before it records
   * an outcome, and drops a message that is no longer held: no state, no follow-ups, no
   * settling. Cheap while the consumer is known to hold it; otherwise it asks the broker.
   */
  stillHeld?(): Promise<boolean>;
}

/** What a queue holds, by state; a state a broker cannot count is left out. */
export interface QueueDepth {
  /** Waiting to be taken. */
  ready?: number;
  /** Held for a future ETA. */
  delayed?: number;
  /** Taken by workers and not settled. */
  held?: number;
  /** Set aside in the dead-letter list. */
  dead?: number;
}

/** What a worker asks of `Broker.consume`. */
export interface ConsumeOptions {
  /** The queue to take messages from. */
  queue: string;
  /** The most deliveries that may be unsettled at once (the worker's concurrency). */
  capacity: number;
  /** A tag naming this consumer (the AMQP consumer tag). */
  consumerTag: string;
  /** Aborting it stops fetching; `consume` then resolves. Unsettled deliveries stay valid. */
  signal: AbortSignal;
  /**
   * Told `true` once the broker consumes (the consumer is registered, the first fetch is on its
   * way), and `false` when it learns the connection is lost, before it reconnects or rejects;
   * `/readyz` answers from it.
   */
  onConsuming?: (consuming: boolean) => void;
}

/** Moves task messages from senders to workers. */
export interface Broker {
  /**
   * The URL it uses, as given: it may hold a password, so hide it before showing it (the
   * worker's start-up banner shows it with the password hidden).
   */
  readonly url?: string;
  /**
   * Publishes a task. Fills in an empty routing key (see `adjustRoutingKey`), and holds a task
   * whose ETA is in the future until that time. Resolves once the broker holds the message.
   */
  publish(signature: Signature): Promise<void>;
  /**
   * Hands messages of `options.queue` to `handler` until `options.signal` is aborted, never more
   * than `options.capacity` unsettled at once. Rejects if the connection fails; the worker then
   * calls it again.
   */
  consume(options: ConsumeOptions, handler: (delivery: Delivery) => void): Promise<void>;
  /** Sets an empty routing key the way machinery does for this broker (`docs/wire.md#routing-key`). */
  adjustRoutingKey(signature: Signature): void;
  /** The tasks waiting in a queue (default: the default queue), oldest first. */
  getPendingTasks(queue?: string): Promise<Signature[]>;
  /** The tasks held for a future ETA, earliest first. */
  getDelayedTasks(): Promise<Signature[]>;
  /**
   * Counts `queue` by state, cheaply (no message is read): the worker's metrics sample it every
   * few seconds. Optional: a broker that cannot count leaves it out.
   */
  queueDepth?(queue: string): Promise<QueueDepth>;
  /**
   * Optional: marks task `uuid` cancelled until Unix time `until` (ms), and tells every worker
   * that watches cancellations. A broker without it cannot cancel tasks.
   */
  cancelTask?(uuid: string, until: number): Promise<void>;
  /**
   * Optional, with `cancelTask`: calls `onCancel` for each live mark, then for each new one, until
   * `signal` aborts. Resolves once the marks present now were reported and new ones are heard.
   */
  watchCancellations?(
    onCancel: (uuid: string, until: number) => void,
    signal: AbortSignal,
  ): Promise<void>;
  /**
   * Connects now, so that an unreachable server is reported at start; rejects when it cannot.
   * Optional to call: the first publish or consume connects too.
   */
  connect(): Promise<void>;
  /** Releases connections and timers. Idempotent. */
  close(): Promise<void>;
}
