/**
 * The AMQP broker (RabbitMQ), wire-compatible with Go machinery's (`docs/wire.md#amqp`): the same exchange,
 * queues, bindings, routing keys, message properties and delay queues, so Go and TypeScript
 * senders and workers share one RabbitMQ.
 *
 * What it does better than Go's, without changing what Go processes see:
 * - every publish waits for its own publisher confirm (no mismatch under concurrency);
 * - publishers declare the queue that is consumed, not an extra `machinery_task` queue that grows
 *   forever (see `publishQueuePlan` in `_topology.ts`);
 * - a message the worker gives back with a delay (an unregistered task) waits in a
 *   `requeue.<ms>.<queue>` queue instead of looping hot;
 * - a message the worker rejects (undecodable) is kept in `<queue>.dead_letters` with its reason;
 * - a lost connection ends `consume` with an error (the worker reconnects with back-off), and
 *   publishers reconnect and retry on their own.
 *
 * @module
 */
import type { ConsumeMessage } from "amqplib";
import type { Broker, ConsumeOptions, Delivery, QueueDepth } from "../broker.ts";
import type { AdapterOptions } from "../adapter_options.ts";
import { type ConfigInput, resolveConfig } from "../config.ts";
import { logSafe } from "../log.ts";
import { ClosedError } from "../errors.ts";
import { JsonNumber } from "../wire/json.ts";
import { consoleLogger, type Logger } from "../log.ts";
import {
  decodeSignature,
  encodeSignature,
  etaUnixNanos,
  type Signature,
} from "../wire/signature.ts";
import { type AMQPURL, parseAMQPURLs } from "./url.ts";
import {
  AMQPError,
  closeQuietly,
  describeError,
  dial,
  type DialOptions,
  dialOptions,
} from "./_connection.ts";
import { runConsumer } from "./_consumer.ts";
import { CANCEL_STREAM, cancelEntry, cancelStreamPlan, watchCancelStream } from "./_cancel.ts";
import { type PublishProperties, Session } from "./_session.ts";
import {
  adjustedRoutingKey,
  consumerQueuePlan,
  deadLetterQueuePlan,
  deadLettersOnDeliveryLimit,
  delayQueuePlan,
  publishQueuePlan,
  type QueuePlan,
  requeueQueuePlan,
  type TopologySettings,
} from "./_topology.ts";

/**
 * Options for the AMQP broker. The config gives the default queue, the `amqp` section (exchange,
 * exchange type, binding key, prefetch, queue arguments, delay queues) and
 * `multipleBrokerSeparator`.
 */
export interface AMQPBrokerOptions extends AdapterOptions {
  /** How long a publish keeps retrying while RabbitMQ is unreachable, in ms (30000). */
  publishRetryMs?: number;
  /** The stream queue that keeps cancellation marks (default `machinery_ts_cancellations`). */
  cancelStream?: string;
}

const JSON_TYPE = "application/json";

/** Go machinery's AMQP broker on RabbitMQ. */
export class AMQPBroker implements Broker {
  /** The broker URL, as given (several joined by the separator when so configured). */
  readonly url: string;
  readonly #urls: AMQPURL[];
  readonly #topology: TopologySettings;
  readonly #prefetchCount: number;
  readonly #session: Session;
  readonly #dial: DialOptions;
  readonly #logger: Logger;
  readonly #cancelStream: QueuePlan;
  /** What closes each running consumer (its channel, then its connection). */
  readonly #consumers = new Set<() => Promise<void>>();
  /** Stopped consumers closing their channel and connection (acks first). */
  readonly #closingConsumers = new Set<Promise<void>>();
  readonly #publishPlans = new Map<string, QueuePlan>();
  #closed = false;

  /**
   * Makes a broker for `url` (`amqp://user:pass@host:5672/vhost`, `amqps://…`; several URLs
   * joined by `config.multipleBrokerSeparator` are tried in order until one connects). Nothing
   * connects until `connect`, the first publish or a consume.
   */
  constructor(url = "amqp://guest:guest@localhost:5672/", options: AMQPBrokerOptions = {}) {
    const config = resolveConfig(options.config);
    this.url = url;
    this.#urls = parseAMQPURLs(url, config.multipleBrokerSeparator);
    const amqp = config.amqp;
    this.#topology = {
      exchange: amqp.exchange,
      exchangeType: amqp.exchangeType || "direct",
      bindingKey: amqp.bindingKey,
      defaultQueue: config.defaultQueue || "machinery_tasks",
      queueDeclareArgs: amqp.queueDeclareArgs ?? null,
      queueBindingArgs: amqp.queueBindingArgs ?? null,
      autoDelete: amqp.autoDelete,
      delayedQueue: amqp.delayedQueue,
    };
    this.#prefetchCount = amqp.prefetchCount;
    this.#logger = options.logger ?? consoleLogger();
    this.#cancelStream = cancelStreamPlan(options.cancelStream ?? CANCEL_STREAM);
    this.#dial = dialOptions(config);
    this.#session = new Session(this.#urls, {
      ...this.#dial,
      retryForMs: options.publishRetryMs ?? 30_000,
    });
  }

  /** Builds one from a config (its `broker` URL or URLs, default queue and `amqp` section). */
  static fromConfig(config: ConfigInput, options: AMQPBrokerOptions = {}): AMQPBroker {
    return new AMQPBroker(config.broker, { ...options, config });
  }

  /**
   * Connects now, so that an unreachable RabbitMQ is reported at start: dials the URLs once, in
   * order, and rejects with an `AMQPError` naming them (passwords hidden) when none answers.
   * Idempotent. A connection lost later is reopened with back-off by the next publish.
   */
  async connect(): Promise<void> {
    this.#checkOpen();
    await this.#session.connect();
  }

  /** The queue to declare before publishing with `routingKey`, made once per routing key. */
  #publishPlan(routingKey: string): QueuePlan {
    let plan = this.#publishPlans.get(routingKey);
    if (plan === undefined) {
      if (this.#publishPlans.size >= 1000) this.#publishPlans.clear();
      plan = publishQueuePlan(routingKey, this.#topology);
      this.#publishPlans.set(routingKey, plan);
    }
    return plan;
  }

  adjustRoutingKey(signature: Signature): void {
    signature.routingKey = adjustedRoutingKey(signature.routingKey, this.#topology);
  }

  /**
   * Publishes a task, persistent, with its priority and headers, and resolves once RabbitMQ
   * confirms it. A task whose ETA is ahead goes through a delay queue; the delay is rounded up to
   * the next millisecond, so it never runs early.
   */
  publish(signature: Signature): Promise<void> {
    // Not an async function: a publish waiting for its confirm keeps no frame of its own alive.
    try {
      return this.#publish(signature);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #publish(signature: Signature): Promise<void> {
    this.#checkOpen();
    this.adjustRoutingKey(signature);
    const body = encodeSignature(signature);
    const routingKey = signature.routingKey;
    const t = this.#topology;
    const target = this.#publishPlan(routingKey);
    const eta = etaUnixNanos(signature);
    const aheadNs = eta === null ? 0n : eta - BigInt(Date.now()) * 1_000_000n;
    // Empty headers are not sent (as Go's client does): no table for them.
    const headers = isEmpty(signature.headers) ? null : toTable(signature.headers);
    if (aheadNs <= 0n) {
      const properties: PublishProperties = {
        contentType: JSON_TYPE,
        persistent: true,
        priority: signature.priority,
        headers,
      };
      return this.#session.publish({
        exchange: t.exchange,
        exchangeType: t.exchangeType,
        plan: target,
        routingKey,
        body,
        properties,
      });
    }
    const delayMs = Number((aheadNs + 999_999n) / 1_000_000n);
    const delay = delayQueuePlan(delayMs, routingKey, t);
    const properties: PublishProperties = { contentType: JSON_TYPE, persistent: true, headers };
    if (t.delayedQueue) properties.expiration = String(delayMs);
    return this.#session.run(async (s) => {
      await s.declareExchange(t.exchange, t.exchangeType);
      // The queue the message lands in after its delay must exist, or it would be dropped.
      await s.declareQueue(target);
      // A per-delay queue expires 2×delay after its last declaration: declare it again before
      // a publish could outlive it.
      await s.declareQueue(delay, t.delayedQueue ? Infinity : delayMs);
      await s.publish(t.exchange, delay.queue, body, properties);
    });
  }

  consume(options: ConsumeOptions, handler: (delivery: Delivery) => void): Promise<void> {
    if (this.#closed) return Promise.reject(new ClosedError());
    const capacity = Math.max(1, options.capacity);
    const prefetch = this.#prefetchCount > 0 ? Math.min(this.#prefetchCount, capacity) : capacity;
    return runConsumer(
      {
        urls: this.#urls,
        dial: this.#dial,
        exchange: this.#topology.exchange,
        exchangeType: this.#topology.exchangeType,
        plan: consumerQueuePlan(options.queue, this.#topology),
        deadLetterPlan: deadLettersOnDeliveryLimit(options.queue, this.#topology)
          ? deadLetterQueuePlan(options.queue, this.#topology)
          : undefined,
        prefetch,
        requeueLater: (queue, message, delayMs, body) =>
          this.#requeueLater(queue, message, delayMs, body),
        deadLetter: (queue, message, reason) => this.#deadLetter(queue, message, reason),
        track: (close) => {
          if (this.#closed) {
            close();
            return () => {};
          }
          this.#consumers.add(close);
          return () => this.#consumers.delete(close);
        },
        closing: (done) => {
          this.#closingConsumers.add(done);
          done.finally(() => this.#closingConsumers.delete(done));
        },
      },
      options,
      handler,
    );
  }

  /**
   * Republishes a delivery (or `body` in its place) into `requeue.<ms>.<queue>`, which
   * dead-letters it back later.
   */
  #requeueLater(
    queue: string,
    message: ConsumeMessage,
    delayMs: number,
    body?: string,
  ): Promise<void> {
    const plan = requeueQueuePlan(Math.ceil(delayMs), queue, this.#topology);
    return this.#session.run(async (s) => {
      await s.declareQueue(plan, Math.ceil(delayMs));
      await s.publish("", plan.queue, body ?? message.content, copyProperties(message));
    }, { retry: false });
  }

  /** Keeps a rejected delivery in `<queue>.dead_letters` with the reason in its headers. */
  #deadLetter(queue: string, message: ConsumeMessage, reason: string): Promise<void> {
    const plan = deadLetterQueuePlan(queue, this.#topology);
    this.#logger.error(
      logSafe(`Moving a message of "${queue}" to "${plan.queue}": ${reason}`),
    );
    const properties = copyProperties(message);
    properties.headers = {
      ...(properties.headers ?? {}),
      "x-machinery-reason": reason,
      "x-machinery-queue": queue,
    };
    return this.#session.run(async (s) => {
      await s.declareQueue(plan);
      await s.publish("", plan.queue, message.content, properties);
    }, { retry: false });
  }

  /**
   * Marks `uuid` cancelled until `until` (Unix ms): an entry in the `machinery_ts_cancellations`
   * stream (`cancelStream`), which every watching worker reads.
   */
  cancelTask(uuid: string, until: number): Promise<void> {
    this.#checkOpen();
    return this.#session.run(async (s) => {
      await s.declareQueue(this.#cancelStream);
      const entry = cancelEntry(uuid, until);
      await s.publish("", this.#cancelStream.queue, entry, { persistent: true });
    });
  }

  /**
   * Reports the live cancellation marks, then each new one, reading the stream on a connection
   * of its own (again after a lost connection) until `signal` aborts.
   */
  async watchCancellations(
    onCancel: (uuid: string, until: number) => void,
    signal: AbortSignal,
  ): Promise<void> {
    this.#checkOpen();
    const stop = new AbortController();
    const stopped = AbortSignal.any([signal, stop.signal]);
    const close = () => {
      stop.abort();
      return Promise.resolve();
    };
    this.#consumers.add(close);
    stopped.addEventListener("abort", () => this.#consumers.delete(close), { once: true });
    const onError = (error: Error) =>
      this.#logger.warn(`Reading cancellations failed: ${describeError(error)}`);
    await watchCancelStream(
      this.#cancelStream.queue,
      this.#urls,
      this.#dial,
      onCancel,
      onError,
      stopped,
    );
  }

  /**
   * The tasks waiting in a queue (default: the default queue): every ready message is read
   * without acking, then all are given back. Messages that do not decode are skipped.
   */
  async getPendingTasks(queue?: string): Promise<Signature[]> {
    this.#checkOpen();
    const name = queue || this.#topology.defaultQueue;
    const conn = await dial(this.#urls, this.#dial);
    try {
      const channel = await conn.createChannel();
      channel.on("error", () => {});
      const out: Signature[] = [];
      for (;;) {
        const message = await channel.get(name, { noAck: false });
        if (message === false) break;
        try {
          out.push(decodeSignature(message.content.toString("utf8")));
        } catch {
          // Not a task message: leave it for the worker to deal with.
        }
      }
      channel.nackAll(true);
      await channel.close();
      return out;
    } catch (error) {
      throw new AMQPError(`Could not read queue "${name}": ${describeError(error)}`, {
        cause: error,
      });
    } finally {
      await closeQuietly(conn);
    }
  }

  /**
   * `ready`: the queue's message count from a passive declare (`queue.declare` with
   * `passive`), which reads nothing. Dead letters are not counted here: a passive declare of a
   * queue that does not exist yet would close the shared channel.
   */
  queueDepth(queue: string): Promise<QueueDepth> {
    this.#checkOpen();
    return this.#session.run(async (s) => {
      const channel = await s.channel();
      return { ready: (await channel.checkQueue(queue)).messageCount };
    }, { retry: false });
  }

  /** Not available on RabbitMQ (delay queues cannot be listed by ETA), as in machinery. */
  getDelayedTasks(): Promise<Signature[]> {
    return Promise.reject(new AMQPError("Not implemented"));
  }

  /**
   * Closes the publishing connection and every consumer connection. Deliveries not yet acked go
   * back to their queues (RabbitMQ redelivers them). Idempotent.
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const consumers = [...this.#consumers];
    this.#consumers.clear();
    await Promise.allSettled([
      this.#session.close(),
      ...consumers.map((close) => close()),
      ...this.#closingConsumers,
    ]);
  }

  /** Closes the broker at the end of an `await using` block. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  #checkOpen(): void {
    if (this.#closed) throw new ClosedError();
  }
}

/** The properties of a received message, for publishing a copy of it. */
function copyProperties(message: ConsumeMessage): PublishProperties {
  const p = message.properties;
  return {
    contentType: p.contentType ?? undefined,
    persistent: p.deliveryMode === 2,
    priority: p.priority ?? undefined,
    headers: p.headers ?? undefined,
  };
}

/**
 * Signature headers as an AMQP table: strings, booleans and numbers as they are, exact JSON
 * numbers as numbers (integers beyond 2^53 as int64), nested maps and lists converted in turn.
 */
export function toTable(
  headers: Record<string, unknown> | null | undefined,
): Record<string, unknown> {
  const table: Record<string, unknown> = {};
  for (const [key, value] of Object.entries(headers ?? {})) table[key] = toField(value);
  return table;
}

function isEmpty(headers: Record<string, unknown> | null | undefined): boolean {
  for (const _ in headers) return false;
  return true;
}

function toField(value: unknown): unknown {
  if (value === null || value === undefined) return null;
  if (typeof value === "bigint") return { "!": "long", value: Number(value) };
  if (Array.isArray(value)) return value.map(toField);
  if (value instanceof Uint8Array) return value;
  if (value instanceof JsonNumber) {
    const n = value.toNumber();
    return Number.isInteger(n) ? n : { "!": "double", value: n };
  }
  if (typeof value === "object") return toTable(value as Record<string, unknown>);
  return value;
}

// Re-exported so that code importing the broker can name its error from the same module.
export { AMQPError } from "./_connection.ts";
