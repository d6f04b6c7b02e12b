/**
 * The AMQP inspector: what RabbitMQ can tell without the management plugin, and honest about
 * the rest (`docs/wire.md#amqp`).
 *
 * - Counts come from passive declares (`checkQueue`): `ready` is the queue's message count and
 *   `dead` that of `<queue>.dead_letters`. Messages held by workers (unacked) and tasks waiting
 *   in delay queues are not counted by a passive declare: they are `null` (unknown).
 * - Pending and delayed tasks cannot be listed: reading a work queue means taking its messages
 *   away from the workers, and putting them back marks them redelivered. Those calls fail with
 *   {@linkcode InspectionUnsupportedError}.
 * - Dead-letter queues have no consumer, so they are read with `get` (no ack) and every message
 *   is given back with one `nack` (requeue), which RabbitMQ puts back in its place. Retry
 *   publishes the original body to its queue with a publisher confirm, then acks the dead copy:
 *   a crash in between leaves a duplicate, never a loss.
 *
 * @module
 */
import type { Channel, ChannelModel, GetMessage } from "amqplib";
import type { AdapterOptions } from "../adapter_options.ts";
import { resolveConfig } from "../config.ts";
import { InspectionUnsupportedError } from "../errors.ts";
import type {
  DeadLetterRecord,
  DeadLetterSelection,
  Inspector,
  MessageLocation,
  Page,
  QueueCounts,
  QueuedTask,
} from "../inspector.ts";
import { decodeSignature } from "../wire/signature.ts";
import { type AMQPURL, parseAMQPURLs } from "./url.ts";
import {
  AMQPError,
  closeQuietly,
  describeError,
  dial,
  type DialOptions,
  dialOptions,
  openChannel,
  openConfirmChannel,
  replyCode,
} from "./_connection.ts";
import { deadLetterQueuePlan } from "./_topology.ts";

const DEFAULT_PAGE = 20;
/** The most dead letters read in one call (they are all held unacked until it ends). */
const MAX_DEAD_READ = 10_000;

/** Inspects and repairs the queues of a RabbitMQ broker. */
export class AMQPInspector implements Inspector {
  readonly #urls: AMQPURL[];
  readonly #dial: DialOptions;
  readonly #defaultQueue: string;
  #conn?: Promise<ChannelModel>;
  #closed = false;

  /** Makes an inspector for the broker at `url`; connects on first use. */
  constructor(url: string, options: AdapterOptions = {}) {
    const config = resolveConfig(options.config);
    this.#urls = parseAMQPURLs(url, config.multipleBrokerSeparator);
    this.#dial = dialOptions(config);
    this.#defaultQueue = config.defaultQueue || "machinery_tasks";
  }

  /** Connects now (an unreachable RabbitMQ fails here, naming the URLs). */
  async connect(): Promise<void> {
    await this.#connection();
  }

  #connection(): Promise<ChannelModel> {
    this.#conn ??= dial(this.#urls, this.#dial).catch((error) => {
      this.#conn = undefined;
      throw error;
    });
    return this.#conn;
  }

  /** Runs `body` on a channel of its own (a failed passive declare closes the channel). */
  async #withChannel<T>(body: (channel: Channel) => Promise<T>): Promise<T> {
    const channel = await openChannel(await this.#connection());
    try {
      return await body(channel);
    } finally {
      await channel.close().catch(() => {});
    }
  }

  /** A queue's ready count, or `null` when the queue does not exist. */
  async #count(queue: string): Promise<number | null> {
    try {
      return await this.#withChannel(async (ch) => (await ch.checkQueue(queue)).messageCount);
    } catch (error) {
      if (replyCode(error) === 404) return null;
      throw new AMQPError(`Could not check queue "${queue}": ${describeError(error)}`, {
        cause: error,
      });
    }
  }

  async queues(queues?: string[]): Promise<QueueCounts[]> {
    const names = queues && queues.length > 0 ? queues : [this.#defaultQueue];
    return await Promise.all(names.map(async (queue) => {
      const [ready, dead] = await Promise.all([
        this.#count(queue),
        this.#count(deadLetterQueuePlan(queue).queue),
      ]);
      return { queue, ready: ready ?? 0, delayed: null, held: null, dead: dead ?? 0 };
    }));
  }

  pending(_queue: string, _page?: Page): Promise<QueuedTask[]> {
    return Promise.reject(
      new InspectionUnsupportedError(
        "RabbitMQ cannot list a queue's messages without taking them from the workers: " +
          'its count is in "queues"',
      ),
    );
  }

  delayed(_page?: Page): Promise<QueuedTask[]> {
    return Promise.reject(
      new InspectionUnsupportedError(
        "RabbitMQ keeps delayed tasks in delay queues that cannot be listed by ETA",
      ),
    );
  }

  async deadLetters(queue: string, page: Page = {}): Promise<DeadLetterRecord[]> {
    const offset = Math.max(0, Math.floor(page.offset ?? 0));
    const limit = Math.max(1, Math.floor(page.limit ?? DEFAULT_PAGE));
    const out: DeadLetterRecord[] = [];
    await this.#scanDead(queue, offset + limit, (message, index) => {
      if (index >= offset) out.push(deadLetterOf(queue, message));
      return "keep";
    });
    return out;
  }

  async retryDeadLetters(queue: string, selection: DeadLetterSelection): Promise<number> {
    const conn = await this.#connection();
    const confirm = await openConfirmChannel(conn);
    try {
      return await this.#scanDead(queue, MAX_DEAD_READ, async (message) => {
        const letter = deadLetterOf(queue, message);
        if (!selected(letter, selection)) return "keep";
        // The dead copy kept these properties of the original (see `#deadLetter` in broker.ts).
        const p = message.properties;
        const {
          "x-machinery-reason": _reason,
          "x-machinery-queue": _queue,
          ...headers
        } = (p.headers ?? {}) as Record<string, unknown>;
        await new Promise<void>((resolve, reject) => {
          confirm.sendToQueue(letter.queue, message.content, {
            contentType: p.contentType ?? undefined,
            persistent: p.deliveryMode === 2,
            priority: p.priority ?? undefined,
            headers,
          }, (error: unknown) => error ? reject(error) : resolve());
        });
        return "ack";
      });
    } finally {
      await confirm.close().catch(() => {});
    }
  }

  async deleteDeadLetters(queue: string, selection: DeadLetterSelection): Promise<number> {
    return await this.#scanDead(
      queue,
      MAX_DEAD_READ,
      (message) => selected(deadLetterOf(queue, message), selection) ? "ack" : "keep",
    );
  }

  /**
   * Reads up to `max` messages of the dead-letter queue without acking them; `visit` says
   * which to ack (removed for good). Every other message is given back, in its place, when the
   * channel nacks them all at the end. Resolves to the number acked.
   */
  async #scanDead(
    queue: string,
    max: number,
    visit: (message: GetMessage, index: number) => "ack" | "keep" | Promise<"ack" | "keep">,
  ): Promise<number> {
    const name = deadLetterQueuePlan(queue).queue;
    if (await this.#count(name) === null) return 0;
    return await this.#withChannel(async (channel) => {
      let acked = 0;
      try {
        for (let index = 0; index < max; index++) {
          const message = await channel.get(name, { noAck: false });
          if (message === false) break;
          if (await visit(message, index) === "ack") {
            channel.ack(message);
            acked++;
          }
        }
      } finally {
        channel.nackAll(true);
      }
      return acked;
    });
  }

  async purge(queue: string): Promise<number> {
    try {
      return await this.#withChannel(async (ch) => (await ch.purgeQueue(queue)).messageCount);
    } catch (error) {
      if (replyCode(error) === 404) return 0;
      throw new AMQPError(`Could not purge queue "${queue}": ${describeError(error)}`, {
        cause: error,
      });
    }
  }

  /** Only dead letters can be searched: other messages would have to be taken from workers. */
  async locate(uuid: string, queues: string[]): Promise<MessageLocation> {
    const names = queues.length > 0 ? queues : [this.#defaultQueue];
    for (const queue of names) {
      let found: DeadLetterRecord | undefined;
      await this.#scanDead(queue, MAX_DEAD_READ, (message) => {
        const letter = deadLetterOf(queue, message);
        if (found === undefined && letter.uuid === uuid) found = letter;
        return "keep";
      });
      if (found) return { where: "dead", queue: found.queue, reason: found.reason };
    }
    return {
      where: "unknown",
      detail: "Not in the dead letters; RabbitMQ cannot search its queues without consuming",
    };
  }

  /** Closes the connection. Idempotent. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await closeQuietly(await this.#conn?.catch(() => undefined));
  }
}

function selected(letter: DeadLetterRecord, selection: DeadLetterSelection): boolean {
  return "all" in selection || (letter.uuid !== null && selection.uuids.includes(letter.uuid));
}

function deadLetterOf(queue: string, message: GetMessage): DeadLetterRecord {
  const body = message.content.toString("utf8");
  const headers = (message.properties.headers ?? {}) as Record<string, unknown>;
  let uuid: string | null = null;
  let name: string | null = null;
  try {
    const signature = decodeSignature(body);
    uuid = signature.uuid;
    name = signature.name;
  } catch {
    // Undecodable (often why it is here): no UUID to show.
  }
  const reason = headers["x-machinery-reason"];
  const from = headers["x-machinery-queue"];
  return {
    queue: typeof from === "string" && from !== "" ? from : queue,
    uuid,
    name,
    reason: typeof reason === "string" ? reason : String(reason ?? ""),
    rejectedAt: message.properties.timestamp
      ? new Date(Number(message.properties.timestamp) * 1000).toISOString()
      : null,
    body,
    truncated: false,
  };
}
