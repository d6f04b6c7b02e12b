/**
 * A publishing session: one RabbitMQ connection with a confirm channel for publishes and a plain
 * channel for declarations and reads, opened on first use and opened again after it is lost.
 * Declarations are remembered per connection, so a queue is declared once, not on every publish.
 *
 * Every publish waits for its own publisher confirm: amqplib matches confirms to publishes by
 * delivery tag and calls each publish's callback, so concurrent publishes on the shared channel
 * never take each other's confirms (`docs/wire.md#publisher-confirms-per-publish`).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { Channel, ChannelModel, ConfirmChannel } from "amqplib";
import type { AMQPURL } from "./url.ts";
import { ClosedError } from "../errors.ts";
import {
  AMQPError,
  closeQuietly,
  confirmChannelClosed,
  describeError,
  dial,
  type DialOptions,
  isTransient,
  openChannel,
  openConfirmChannel,
} from "./_connection.ts";
import type { QueuePlan } from "./_topology.ts";

const DECLARED_LIMIT = 20_000;

/** `run`'s default options (one object, not one per call). */
const RETRY: { retry?: boolean } = Object.freeze({ retry: true });

/** Message properties, in our own terms. */
export interface PublishProperties {
  /** `content-type`. */
  contentType?: string;
  /** Delivery mode 2 when true. */
  persistent?: boolean;
  /** The priority (sent only when above 0, as Go's client does). */
  priority?: number;
  /** Headers (sent only when not empty, as Go's client does). */
  headers?: Record<string, unknown> | null;
  /** A per-message TTL in milliseconds, as a string. */
  expiration?: string;
}

/** A publish RabbitMQ refused (a `basic.nack`). */
export class PublishNackedError extends Error {
  /** Creates the error. */
  constructor(message: string) {
    super(message);
    this.name = "PublishNackedError";
  }
}

/** Options for a session. */
export interface SessionOptions extends DialOptions {
  /** How long an operation keeps retrying while RabbitMQ is unreachable, in ms (default 30000). */
  retryForMs?: number;
}

interface Declaration {
  /** When it was made (`Date.now()`). */
  at: number;
  /** Settles with the declaration. */
  done: Promise<void>;
  /** True once RabbitMQ answered it: callers need not wait. */
  ok: boolean;
}

interface Live {
  conn: ChannelModel;
  confirm?: Promise<ConfirmChannel>;
  /** The confirm channel once open (for publishing without waiting on `confirm`). */
  confirmOpen?: ConfirmChannel;
  plain?: Promise<Channel>;
  declared: Map<string, Declaration>;
  exchanges: Map<string, Declaration>;
  closed: boolean;
  scope?: SessionScope;
}

/** What an operation inside `run` gets. */
export interface SessionScope {
  /** The channel for declarations and `basic.get`. */
  channel(): Promise<Channel>;
  /**
   * Declares the exchange once per connection (durable, not auto-delete, not internal).
   * Returns `undefined` when RabbitMQ has already answered the declaration, so the caller need
   * not wait (`await` takes a turn of the microtask queue even for a settled promise).
   */
  declareExchange(exchange: string, type: string): Promise<void> | undefined;
  /**
   * Declares and binds a queue once per connection; again once the last declaration is older
   * than `maxAgeMs` (for queues with `x-expires`). Returns `undefined` when an answered
   * declaration is still fresh.
   */
  declareQueue(plan: QueuePlan, maxAgeMs?: number): Promise<void> | undefined;
  /**
   * Publishes and waits for RabbitMQ's confirm. A string body is sent as UTF-8, encoded at the
   * moment of publishing (no buffer is kept while the confirm is awaited).
   */
  publish(
    exchange: string,
    routingKey: string,
    body: Uint8Array | string,
    properties: PublishProperties,
  ): Promise<void>;
  /** Forgets a declaration (after deleting the queue). */
  forget(queue: string): void;
}

/** One connection for publishing and reading, re-opened on demand after it is lost. */
export class Session {
  readonly #urls: AMQPURL[];
  readonly #options: SessionOptions;
  #live?: Promise<Live>;
  /** The connection `#live` resolved to, while it is open. */
  #current?: Live;
  #closed = false;
  /** Operations running now; `close` waits for them. */
  #running = 0;
  #whenIdle?: () => void;

  /** Makes a session; nothing connects until the first operation. */
  constructor(urls: AMQPURL[], options: SessionOptions = {}) {
    this.#urls = urls;
    this.#options = options;
  }

  /**
   * Makes sure a connection is open: dials every URL once, in order, unless one is open already,
   * and rejects at once (no retrying) when none answers. Idempotent.
   */
  async connect(): Promise<void> {
    if (this.#closed) throw new ClosedError("The AMQP connection is closed");
    await this.#connect();
  }

  /**
   * Runs `operation` on a live connection. If the connection or a channel is lost on the way
   * (RabbitMQ restarting, a network failure), it reconnects with back-off (100 ms doubling to
   * 5 s) and runs the operation again, for up to `retryForMs`; `retry: false` fails at once.
   * A rejected request (a declaration that does not match, a nack) is never retried.
   *
   * On an open connection the first attempt starts at once, without an async frame of its own:
   * a publisher may have thousands of operations waiting for confirms, and each frame kept alive
   * that long is work for the garbage collector.
   */
  run<T>(
    operation: (scope: SessionScope, attempt: number) => Promise<T>,
    options: { retry?: boolean } = RETRY,
  ): Promise<T> {
    const started = Date.now();
    const live = this.#current;
    if (this.#closed || live === undefined || live.closed) {
      return this.#retrying(operation, options, started, undefined);
    }
    this.#running++;
    let work: Promise<T>;
    try {
      work = operation(live.scope ??= this.#scope(live), 1);
    } catch (error) {
      work = Promise.reject(error);
    }
    return work.then(this.#finished, (error) => {
      this.#finished(undefined);
      return this.#retrying(operation, options, started, { error, live });
    });
  }

  /**
   * Declares the exchange and the plan's queue (once per connection), publishes and waits for
   * the confirm; retried like `run` after a lost connection. On an open connection whose
   * declarations RabbitMQ already answered, this is one `basic.publish` holding one promise and
   * one callback until the confirm: the least a publish can keep alive (thousands wait at once).
   */
  publish(job: PublishJob): Promise<void> {
    const live = this.#current;
    const ch = live?.confirmOpen;
    if (this.#closed || live === undefined || live.closed || ch === undefined) {
      return this.run((s) => publishJob(s, job));
    }
    const scope = live.scope ??= this.#scope(live);
    if (
      scope.declareExchange(job.exchange, job.exchangeType) !== undefined ||
      scope.declareQueue(job.plan) !== undefined
    ) {
      return this.run((s) => publishJob(s, job));
    }
    const started = Date.now();
    this.#running++;
    return new Promise<void>((resolve, reject) => {
      const confirmed = (err: unknown): void => {
        this.#finished(undefined);
        if (!err) return resolve();
        const error = confirmError(ch, err);
        if (error instanceof PublishNackedError) return reject(error);
        this.#retrying((s) => publishJob(s, job), RETRY, started, { error, live }).then(
          resolve,
          reject,
        );
      };
      try {
        sendConfirmed(ch, job.exchange, job.routingKey, job.body, job.properties, confirmed);
      } catch (error) {
        confirmed(new AMQPError(`Publish failed: ${describeError(error)}`, { cause: error }));
      }
    });
  }

  /** Counts an operation done; the last one lets a waiting `close` go on. */
  readonly #finished = <V>(value: V): V => {
    if (--this.#running === 0) this.#whenIdle?.();
    return value;
  };

  /** The attempts of `run` after a failed first one (or when no connection is open yet). */
  async #retrying<T>(
    operation: (scope: SessionScope, attempt: number) => Promise<T>,
    options: { retry?: boolean },
    started: number,
    firstFailure: { error: unknown; live: Live | undefined } | undefined,
  ): Promise<T> {
    const deadline = started + (options.retry === false ? 0 : this.#options.retryForMs ?? 30_000);
    let delay = 100;
    let failure = firstFailure;
    let attempt = failure ? 1 : 0;
    for (;;) {
      if (failure) {
        const { error, live } = failure;
        if (error instanceof PublishNackedError || !isTransient(error) || this.#closed) {
          throw error;
        }
        if (live && live.closed) this.#forgetLive(live);
        if (Date.now() + delay > deadline) {
          throw error instanceof AMQPError ? error : new AMQPError(describeError(error), {
            cause: error,
          });
        }
        await new Promise((r) => setTimeout(r, delay));
        delay = Math.min(delay * 2, 5000);
        failure = undefined;
      }
      attempt++;
      if (this.#closed) throw new ClosedError("The AMQP connection is closed");
      let live: Live | undefined;
      try {
        live = this.#current;
        if (live === undefined || live.closed) live = await this.#connect();
        this.#running++;
        try {
          return await operation(live.scope ??= this.#scope(live), attempt);
        } finally {
          this.#finished(undefined);
        }
      } catch (error) {
        failure = { error, live };
      }
    }
  }

  #forgetLive(live: Live): void {
    if (this.#current === live) this.#current = undefined;
    this.#live?.then((current) => {
      if (current === live) this.#live = undefined;
    }, () => {});
  }

  #connect(): Promise<Live> {
    if (this.#live) return this.#live;
    const attempt = (async (): Promise<Live> => {
      const conn = await dial(this.#urls, this.#options);
      const live: Live = {
        conn,
        declared: new Map(),
        exchanges: new Map(),
        closed: false,
      };
      conn.on("close", () => {
        live.closed = true;
        this.#forgetLive(live);
      });
      if (this.#closed) await closeQuietly(conn);
      else this.#current = live;
      return live;
    })();
    this.#live = attempt;
    attempt.catch(() => {
      if (this.#live === attempt) this.#live = undefined;
    });
    return attempt;
  }

  #scope(live: Live): SessionScope {
    const plain = (): Promise<Channel> => {
      if (!live.plain) {
        const opened = openChannel(live.conn);
        live.plain = opened;
        opened.then((ch) =>
          ch.on("close", () => {
            if (live.plain === opened) live.plain = undefined;
            // A failed declaration closes the channel: later declarations start over.
            live.declared.clear();
            live.exchanges.clear();
          }), () => {
          if (live.plain === opened) live.plain = undefined;
        });
      }
      return live.plain;
    };
    const confirm = (): Promise<ConfirmChannel> => {
      if (!live.confirm) {
        const opened = openConfirmChannel(live.conn);
        live.confirm = opened;
        opened.then((ch) => {
          if (live.confirm === opened) live.confirmOpen = ch;
          ch.on("close", () => {
            if (live.confirm === opened) {
              live.confirm = undefined;
              live.confirmOpen = undefined;
            }
          });
        }, () => {
          if (live.confirm === opened) live.confirm = undefined;
        });
      }
      return live.confirm;
    };
    const declareExchange = (exchange: string, type: string): Promise<void> | undefined => {
      if (exchange === "") return undefined;
      const key = `${exchange}\u0000${type}`;
      const known = live.exchanges.get(key);
      if (known) return known.ok ? undefined : known.done;
      const done = plain().then((ch) =>
        ch.assertExchange(exchange, type, { durable: true, autoDelete: false, internal: false })
      ).then(() => {
        declaration.ok = true;
      });
      const declaration: Declaration = { at: Date.now(), done, ok: false };
      live.exchanges.set(key, declaration);
      done.catch(() => {
        if (live.exchanges.get(key) === declaration) live.exchanges.delete(key);
      });
      return done;
    };
    return {
      channel: plain,
      declareExchange,
      declareQueue(plan: QueuePlan, maxAgeMs = Infinity): Promise<void> | undefined {
        const key = declarationKey(plan);
        const now = maxAgeMs === Infinity ? 0 : Date.now();
        const known = live.declared.get(key);
        if (known && now - known.at < maxAgeMs) return known.ok ? undefined : known.done;
        // Per-task state queues would pile up here: forget them all now and then.
        if (live.declared.size >= DECLARED_LIMIT) live.declared.clear();
        const declaration: Declaration = { at: Date.now(), done: Promise.resolve(), ok: false };
        declaration.done = (async () => {
          const ch = await plain();
          await ch.assertQueue(plan.queue, {
            durable: plan.durable,
            autoDelete: plan.autoDelete,
            exclusive: false,
            arguments: plan.args,
          });
          if (plan.bindExchange !== "") {
            await ch.bindQueue(plan.queue, plan.bindExchange, plan.bindingKey, plan.bindingArgs);
          }
          declaration.ok = true;
        })();
        const done = declaration.done;
        live.declared.set(key, declaration);
        done.catch(() => {
          if (live.declared.get(key) === declaration) live.declared.delete(key);
        });
        return done;
      },
      publish(exchange, routingKey, body, properties): Promise<void> {
        const ch = live.confirmOpen;
        if (ch) return publishConfirmed(ch, exchange, routingKey, body, properties);
        return confirm().then((opened) =>
          publishConfirmed(opened, exchange, routingKey, body, properties)
        );
      },
      forget(queue: string): void {
        for (const key of live.declared.keys()) {
          if (key.startsWith(`${queue}\u0000`)) live.declared.delete(key);
        }
      },
    };
  }

  /** Waits for running operations, then closes the connection. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    if (this.#running > 0) await new Promise<void>((resolve) => this.#whenIdle = resolve);
    const live = await this.#live?.catch(() => undefined);
    this.#live = undefined;
    if (live) await closeQuietly(live.conn);
  }
}

/** A publish for `Session.publish`: where it goes, what it declares first, what it sends. */
export interface PublishJob {
  /** The exchange, declared first (`""`: the default exchange, not declared). */
  exchange: string;
  /** The exchange type. */
  exchangeType: string;
  /** The queue declared (and bound) before publishing. */
  plan: QueuePlan;
  /** The routing key. */
  routingKey: string;
  /** The body: a string is sent as UTF-8. */
  body: Uint8Array | string;
  /** The message properties. */
  properties: PublishProperties;
}

/** The declarations and the publish of a job, inside `run`. */
async function publishJob(s: SessionScope, job: PublishJob): Promise<void> {
  await s.declareExchange(job.exchange, job.exchangeType);
  await s.declareQueue(job.plan);
  await s.publish(job.exchange, job.routingKey, job.body, job.properties);
}

/** What a failed confirm means: a nack (RabbitMQ refused the message) or a lost channel. */
function confirmError(ch: ConfirmChannel, err: unknown): Error {
  if (confirmChannelClosed(ch)) {
    return err instanceof AMQPError
      ? err
      : new AMQPError(`Publish failed: ${describeError(err)}`, { cause: err });
  }
  return new PublishNackedError(`Failed delivery: RabbitMQ refused the message`);
}

/** Publishes on a confirm channel; resolves with RabbitMQ's ack, rejects on a nack. */
function publishConfirmed(
  ch: ConfirmChannel,
  exchange: string,
  routingKey: string,
  body: Uint8Array | string,
  properties: PublishProperties,
): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    try {
      sendConfirmed(ch, exchange, routingKey, body, properties, (err) => {
        if (!err) resolve();
        else reject(confirmError(ch, err));
      });
    } catch (error) {
      reject(new AMQPError(`Publish failed: ${describeError(error)}`, { cause: error }));
    }
  });
}

/** The bytes amqplib sends for a body. */
function content(body: Uint8Array | string): Buffer {
  return typeof body === "string" ? encodeScratch(body) : toBuffer(body);
}

let scratch = Buffer.allocUnsafe(64 * 1024);

/**
 * `text` as UTF-8 in a buffer shared by every publish, valid until the next call: amqplib copies
 * a message's content into its frames before `publish` returns, so no buffer per message is
 * needed (on Bun each one is garbage-collector work while thousands of publishes are in flight).
 */
function encodeScratch(text: string): Buffer {
  if (text.length * 3 > scratch.length) {
    const length = Buffer.byteLength(text, "utf8");
    if (length > scratch.length) scratch = Buffer.allocUnsafe(Math.max(length, scratch.length * 2));
  }
  return scratch.subarray(0, scratch.write(text, 0, "utf8"));
}

/** A Node Buffer of the bytes (amqplib wants a Buffer): the same one, or a view. */
export function toBuffer(bytes: Uint8Array): Buffer {
  if (Buffer.isBuffer(bytes)) return bytes;
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The key a queue declaration is remembered by. */
function declarationKey(plan: QueuePlan): string {
  return `${plan.queue}\u0000${plan.bindExchange}\u0000${plan.bindingKey}`;
}
/** What amqplib's channel takes below `publish`: a `basic.publish` and its properties. */
interface RawPublishChannel {
  sendMessage(fields: object, properties: object, content: Buffer): boolean;
  pushConfirmCallback(callback: (err: unknown) => void): void;
}

/**
 * Publishes on a confirm channel; `confirmed` gets RabbitMQ's answer. This is what amqplib's
 * `ConfirmChannel.publish` does, minus its argument builder, which always adds a `headers`
 * table (empty when there are none): Go's client leaves the property out, so we send the
 * properties as Go does (`docs/wire.md#amqp-message-properties`).
 */
function sendConfirmed(
  ch: ConfirmChannel,
  exchange: string,
  routingKey: string,
  body: Uint8Array | string,
  properties: PublishProperties,
  confirmed: (err: unknown) => void,
): void {
  const raw = ch as unknown as RawPublishChannel;
  const fields = publishFields(exchange, routingKey, properties);
  raw.sendMessage(fields, fields, content(body));
  raw.pushConfirmCallback(confirmed);
}

/**
 * The `basic.publish` method fields and the message properties, in one object as amqplib's
 * encoder reads them: absent properties stay undefined, so they are not sent at all.
 */
function publishFields(
  exchange: string,
  routingKey: string,
  p: PublishProperties,
): Record<string, unknown> {
  return {
    exchange,
    routingKey,
    mandatory: false,
    immediate: false,
    contentType: p.contentType || undefined,
    deliveryMode: p.persistent ? 2 : undefined,
    priority: p.priority && p.priority > 0 ? p.priority : undefined,
    headers: p.headers && hasKeys(p.headers) ? p.headers : undefined,
    expiration: p.expiration,
  };
}

/** Whether an object has an own key (without building the array `Object.keys` would). */
function hasKeys(object: Record<string, unknown>): boolean {
  for (const key in object) if (Object.hasOwn(object, key)) return true;
  return false;
}
