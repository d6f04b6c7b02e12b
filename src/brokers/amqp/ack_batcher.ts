/**
 * Acks in batches: the acks a worker makes within one turn of the event loop go out as one
 * `basic.ack` with `multiple` set when they cover every delivery up to a tag, instead of a frame
 * (and a socket write) each. A delivery is acked only once the worker acked it: the batch stops
 * at the first delivery still running, and acks after that gap are sent one by one.
 *
 * @module
 */
import { setImmediate } from "node:timers";
import type { Channel, ConsumeMessage } from "amqplib";

interface Entry {
  message: ConsumeMessage;
  waiting?: { resolve: () => void; reject: (error: unknown) => void };
}

/** Tracks a channel's unsettled deliveries and sends their acks in batches. */
export class AckBatcher {
  readonly #channel: Channel;
  /** Unsettled deliveries by delivery tag, in tag order (tags only grow on a channel). */
  readonly #open = new Map<number, Entry>();
  #scheduled = false;

  /** Batches acks on `channel`. */
  constructor(channel: Channel) {
    this.#channel = channel;
  }

  /** A delivery was handed out. */
  track(message: ConsumeMessage): void {
    this.#open.set(message.fields.deliveryTag, { message });
  }

  /** Acks `message` with the next batch; resolves once the ack is written. */
  ack(message: ConsumeMessage): Promise<void> {
    const entry = this.#open.get(message.fields.deliveryTag);
    if (!entry) return Promise.reject(new Error("The delivery is not open"));
    return new Promise((resolve, reject) => {
      entry.waiting = { resolve, reject };
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  /** Settles `message` some other way (`action` sends the nack or ack) right now. */
  settleNow(message: ConsumeMessage, action: () => void): void {
    this.#flush();
    this.#open.delete(message.fields.deliveryTag);
    action();
  }

  #flush(): void {
    this.#scheduled = false;
    const run: Entry[] = [];
    const rest: Entry[] = [];
    let contiguous = true;
    for (const entry of this.#open.values()) {
      if (!entry.waiting) contiguous = false;
      else if (contiguous) run.push(entry);
      else rest.push(entry);
    }
    if (run.length > 0) {
      for (const e of run) this.#open.delete(e.message.fields.deliveryTag);
      this.#send(run, () => this.#channel.ack(run[run.length - 1].message, run.length > 1));
    }
    for (const e of rest) {
      this.#open.delete(e.message.fields.deliveryTag);
      this.#send([e], () => this.#channel.ack(e.message, false));
    }
  }

  #send(entries: Entry[], write: () => void): void {
    try {
      write();
      for (const e of entries) e.waiting!.resolve();
    } catch (error) {
      for (const e of entries) e.waiting!.reject(error);
    }
  }
}
