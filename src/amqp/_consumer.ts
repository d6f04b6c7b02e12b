/**
 * One consume run: a connection of its own, the consumer queue declared as machinery declares
 * it, `basic.qos` and `basic.consume` with manual acks, and a {@link Delivery} per message.
 *
 * The run resolves when the worker's signal is aborted and rejects when the connection or channel
 * is lost (RabbitMQ restarting, a network failure), so the worker reconnects. Nothing is acked
 * until the worker settles a delivery, so an unsettled message of a lost connection or of a
 * killed worker is redelivered by RabbitMQ.
 *
 * @module
 */
import type { Channel, ChannelModel, ConsumeMessage } from "amqplib";
import type { ConsumeOptions, Delivery } from "../broker.ts";
import type { AMQPURL } from "./url.ts";
import {
  AMQPError,
  closeQuietly,
  describeError,
  dial,
  type DialOptions,
  openChannel,
} from "./_connection.ts";
import type { QueuePlan } from "./_topology.ts";
import { AckBatcher, type AckEntry } from "./_ack_batcher.ts";

const UTF8 = new TextDecoder("utf-8", { ignoreBOM: true });

/** What a consume run needs from the broker. */
export interface ConsumerSetup {
  /** Broker URLs, tried in order. */
  urls: AMQPURL[];
  /** Dial options. */
  dial: DialOptions;
  /** The exchange and its type, declared first. */
  exchange: string;
  /** The exchange type. */
  exchangeType: string;
  /** The consumer queue's declaration. */
  plan: QueuePlan;
  /** The queue the consumer queue dead-letters into, declared before it (none: unset). */
  deadLetterPlan?: QueuePlan;
  /** `basic.qos` prefetch count. */
  prefetch: number;
  /** Puts a message back after `delayMs`, resolving once RabbitMQ holds the copy. */
  requeueLater(
    queue: string,
    message: ConsumeMessage,
    delayMs: number,
    body?: string,
  ): Promise<void>;
  /** Sets a message aside with a reason, resolving once RabbitMQ holds the copy. */
  deadLetter(queue: string, message: ConsumeMessage, reason: string): Promise<void>;
  /**
   * Called once the connection is open with what closes the run, so the broker's `close()` can
   * call it; the returned function forgets it.
   */
  track(close: () => Promise<void>): () => void;
  /** Called with a stopped consumer's graceful close, so the broker's `close()` waits for it. */
  closing(done: Promise<void>): void;
}

/** Runs one consume until the signal aborts (resolve) or the connection is lost (reject). */
export async function runConsumer(
  setup: ConsumerSetup,
  options: ConsumeOptions,
  handler: (delivery: Delivery) => void,
): Promise<void> {
  const conn = await dial(setup.urls, setup.dial);
  let channel: Channel | undefined;
  const untrack = setup.track(async () => {
    // The channel first: its close waits for the acks written before it, which a connection
    // close could overtake (the acked message would then be redelivered).
    await channel?.close().catch(() => {});
    await closeQuietly(conn);
  });
  try {
    channel = await openChannel(conn);
    if (setup.exchange !== "") {
      await channel.assertExchange(setup.exchange, setup.exchangeType, {
        durable: true,
        autoDelete: false,
        internal: false,
      });
    }
    const { plan, deadLetterPlan } = setup;
    // RabbitMQ drops what it dead-letters into a queue that does not exist yet.
    if (deadLetterPlan) {
      await channel.assertQueue(deadLetterPlan.queue, {
        durable: deadLetterPlan.durable,
        autoDelete: deadLetterPlan.autoDelete,
        exclusive: false,
        arguments: deadLetterPlan.args,
      });
    }
    await channel.assertQueue(plan.queue, {
      durable: plan.durable,
      autoDelete: plan.autoDelete,
      exclusive: false,
      arguments: plan.args,
    });
    if (plan.bindExchange !== "") {
      await channel.bindQueue(plan.queue, plan.bindExchange, plan.bindingKey, plan.bindingArgs);
    }
    await channel.prefetch(setup.prefetch, false);
  } catch (error) {
    untrack();
    await closeQuietly(conn);
    throw new AMQPError(`Could not start consuming "${options.queue}": ${describeError(error)}`, {
      cause: error,
    });
  }
  return new Consumer(conn, channel, setup, options, handler, untrack).run();
}

class Consumer {
  /**
   * True once the connection or channel closed under the deliveries: RabbitMQ requeues what was
   * unacked, so their copies here are dropped.
   */
  lost = false;
  #unsettled = 0;
  #stopping = false;
  #finished = false;
  #tag: string | undefined;
  readonly #acks: AckBatcher;
  #resolve!: () => void;
  #reject!: (error: Error) => void;

  constructor(
    readonly conn: ChannelModel,
    readonly channel: Channel,
    readonly setup: ConsumerSetup,
    readonly options: ConsumeOptions,
    readonly handler: (delivery: Delivery) => void,
    readonly untrack: () => void,
  ) {
    this.#acks = new AckBatcher(channel);
  }

  run(): Promise<void> {
    const done = new Promise<void>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    const lost = (why: string) => () => {
      this.options.onConsuming?.(false);
      this.#finish(
        new AMQPError(`The AMQP ${why} was closed while consuming "${this.options.queue}"`),
      );
    };
    this.conn.on("close", lost("connection"));
    this.channel.on("close", lost("channel"));
    const stop = () => this.#stop();
    this.options.signal.addEventListener("abort", stop, { once: true });
    done.finally(() => this.options.signal.removeEventListener("abort", stop)).catch(() => {});
    // Aborted while we dialled and declared (a signal right after launch): no event will come.
    if (this.options.signal.aborted) this.#stop();
    this.channel.consume(this.options.queue, (message) => this.#onMessage(message), {
      consumerTag: this.options.consumerTag || undefined,
      noAck: false,
      exclusive: false,
    }).then((reply) => {
      this.#tag = reply.consumerTag;
      if (this.#stopping) this.#cancel();
      else this.options.onConsuming?.(true);
    }, (error) =>
      this.#finish(
        new AMQPError(`Could not consume "${this.options.queue}": ${describeError(error)}`, {
          cause: error,
        }),
      ));
    return done;
  }

  #onMessage(message: ConsumeMessage | null): void {
    if (message === null) {
      // RabbitMQ cancelled the consumer (the queue was deleted).
      this.#finish(new AMQPError(`RabbitMQ cancelled the consumer of "${this.options.queue}"`));
      return;
    }
    this.#unsettled++;
    this.handler(new AMQPDelivery(this, this.#acks.track(message)));
  }

  /** Runs a delivery's settling `action`, then counts it settled. */
  async settle(action: Promise<void>): Promise<void> {
    try {
      await action;
    } finally {
      this.#unsettled--;
      this.#maybeClose();
    }
  }

  /** Acks with the next batch. */
  ack(entry: AckEntry): Promise<void> {
    return this.settle(this.#acks.ack(entry));
  }

  /**
   * Gives the message back, at once or through a requeue queue after `delayMs`; a replacement
   * `body` always goes through a requeue queue (a nack can only give back the original).
   */
  requeue(entry: AckEntry, delayMs: number, body?: string): Promise<void> {
    const message = entry.message;
    const republish = delayMs > 0 || body !== undefined;
    return this.settle((async () => {
      if (republish) {
        await this.setup.requeueLater(this.options.queue, message, Math.max(1, delayMs), body);
      }
      this.#acks.settleNow(entry, () => {
        if (republish) this.channel.ack(message);
        else this.channel.nack(message, false, true);
      });
    })());
  }

  /** Moves the message to the dead-letter queue with `reason`, then acks it. */
  reject(entry: AckEntry, reason: string): Promise<void> {
    const message = entry.message;
    return this.settle((async () => {
      await this.setup.deadLetter(this.options.queue, message, reason);
      this.#acks.settleNow(entry, () => this.channel.ack(message));
    })());
  }

  /**
   * Stops fetching: cancels the consumer, then resolves. Deliveries that arrived before the
   * cancel was confirmed were handed out too; the channel stays open until every handed-out
   * delivery is settled.
   */
  #stop(): void {
    if (this.#stopping || this.#finished) return;
    this.#stopping = true;
    if (this.#tag !== undefined) this.#cancel();
  }

  #cancel(): void {
    this.channel.cancel(this.#tag!).catch(() => {}).then(() => {
      this.#resolve();
      this.#maybeClose();
    });
  }

  #maybeClose(): void {
    if (!this.#stopping || this.#unsettled > 0 || this.#finished) return;
    this.#finished = true;
    this.untrack();
    // The channel first: its close waits for the acks sent before it, which a connection close
    // could overtake. The broker's `close` waits for this, so a process that exits right after
    // its worker stopped does not lose the acks still queued in the client.
    this.setup.closing(this.channel.close().catch(() => {}).then(() => closeQuietly(this.conn)));
  }

  #finish(error: Error): void {
    if (this.#finished) return;
    this.#finished = true;
    this.lost = true;
    this.untrack();
    closeQuietly(this.conn);
    // Stopping and the connection went: nothing is left to fetch either way.
    if (this.#stopping) this.#resolve();
    else this.#reject(error);
  }
}

/** One message handed to the worker; settled once, through its consumer. */
class AMQPDelivery implements Delivery {
  readonly body: string;
  readonly redelivered: boolean;
  readonly #consumer: Consumer;
  readonly #entry: AckEntry;
  #settled = false;

  constructor(consumer: Consumer, entry: AckEntry) {
    this.#consumer = consumer;
    this.#entry = entry;
    // Buffer#toString("utf8") is slow on Bun; TextDecoder gives the same text (U+FFFD for bad
    // bytes, a leading BOM kept) on both runtimes.
    this.body = UTF8.decode(entry.message.content);
    this.redelivered = entry.message.fields.redelivered;
  }

  ack(): Promise<void> {
    if (!this.#claim()) return alreadySettled();
    return this.#consumer.ack(this.#entry);
  }

  requeue(delayMs: number, body?: string): Promise<void> {
    if (!this.#claim()) return alreadySettled();
    return this.#consumer.requeue(this.#entry, delayMs, body);
  }

  reject(reason: string): Promise<void> {
    if (!this.#claim()) return alreadySettled();
    return this.#consumer.reject(this.#entry, reason);
  }

  /** False once the connection is gone: RabbitMQ gives the message to another consumer. */
  stillHeld(): Promise<boolean> {
    return Promise.resolve(!this.#consumer.lost);
  }

  #claim(): boolean {
    if (this.#settled) return false;
    this.#settled = true;
    return true;
  }
}

function alreadySettled(): Promise<void> {
  return Promise.reject(new Error("The delivery was already settled"));
}
