/**
 * Acks in batches: the acks a worker makes within one turn of the event loop go out as one
 * `basic.ack` with `multiple` set when they cover every delivery up to a tag, instead of a frame
 * (and a socket write) each. A delivery is acked only once the worker acked it: the batch stops
 * at the first delivery still running, and acks after that gap are sent one by one.
 *
 * A flush costs the acks it sends, not the deliveries still running: the unsettled deliveries
 * are kept in tag order in an array, walked only as far as the first one still running.
 *
 * @module
 */
import { setImmediate } from "node:timers";
import type { Channel, ConsumeMessage } from "amqplib";

const RUNNING = 0;
const ACKING = 1;
const SETTLED = 2;

/** One handed-out delivery, as the batcher tracks it. */
export interface AckEntry {
  /** The delivery. */
  readonly message: ConsumeMessage;
  /** Running, waiting for the next flush to ack it, or settled. */
  state: typeof RUNNING | typeof ACKING | typeof SETTLED;
  resolve?: () => void;
  reject?: (error: unknown) => void;
}

/** Tracks a channel's unsettled deliveries and sends their acks in batches. */
export class AckBatcher {
  readonly #channel: Channel;
  /** Deliveries in tag order (tags only grow on a channel); settled ones before `#head`. */
  #queue: AckEntry[] = [];
  #head = 0;
  /** Deliveries not settled yet. */
  #open = 0;
  /** Entries whose ack waits for the next flush, in the order they were acked. */
  #ready: AckEntry[] = [];
  #scheduled = false;
  readonly #flushNow = () => this.#flush();

  /** Batches acks on `channel`. */
  constructor(channel: Channel) {
    this.#channel = channel;
  }

  /** A delivery was handed out; settle it through the returned entry. */
  track(message: ConsumeMessage): AckEntry {
    const entry: AckEntry = { message, state: RUNNING };
    this.#queue.push(entry);
    this.#open++;
    return entry;
  }

  /** Acks the delivery with the next batch; resolves once the ack is written. */
  ack(entry: AckEntry): Promise<void> {
    if (entry.state !== RUNNING) return Promise.reject(new Error("The delivery is not open"));
    return new Promise((resolve, reject) => {
      entry.state = ACKING;
      entry.resolve = resolve;
      entry.reject = reject;
      this.#ready.push(entry);
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(this.#flushNow);
      }
    });
  }

  /** Settles the delivery some other way (`action` sends the nack or ack) right now. */
  settleNow(entry: AckEntry, action: () => void): void {
    this.#flush();
    if (entry.state !== SETTLED) this.#open--;
    entry.state = SETTLED;
    this.#advance();
    action();
  }

  #flush(): void {
    this.#scheduled = false;
    const ready = this.#ready;
    if (ready.length === 0) return;
    this.#ready = [];
    // The acked deliveries from the oldest unsettled one on, up to the first still running: one
    // multiple-ack covers them (and any settled another way in between, which RabbitMQ skips).
    const queue = this.#queue;
    let i = this.#head;
    let last: AckEntry | undefined;
    let count = 0;
    for (; i < queue.length; i++) {
      const entry = queue[i];
      if (entry.state === RUNNING) break;
      if (entry.state === ACKING) {
        entry.state = SETTLED;
        this.#open--;
        last = entry;
        count++;
      }
    }
    this.#head = i;
    this.#compact();
    if (last) {
      const message = last.message;
      this.#send(ready, () => this.#channel.ack(message, count > 1));
    }
    if (count === ready.length) return;
    // Acks after a delivery still running: one by one.
    for (const entry of ready) {
      if (entry.state !== ACKING) continue; // in the batch above
      entry.state = SETTLED;
      this.#open--;
      this.#send([entry], () => this.#channel.ack(entry.message, false));
    }
  }

  /** Moves the head past settled deliveries. */
  #advance(): void {
    const queue = this.#queue;
    let i = this.#head;
    while (i < queue.length && queue[i].state === SETTLED) i++;
    this.#head = i;
    this.#compact();
  }

  /**
   * Drops settled deliveries once they are most of the array: those before the head, and those
   * acked one by one behind a long-running delivery (which would otherwise pile up).
   */
  #compact(): void {
    const span = this.#queue.length - this.#head;
    if (this.#open === 0 || span === 0) {
      this.#queue = [];
      this.#head = 0;
    } else if (this.#head >= 1024 && this.#head * 2 >= this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head);
      this.#head = 0;
    } else if (span >= 1024 && span > 4 * this.#open) {
      this.#queue = this.#queue.slice(this.#head).filter((e) => e.state !== SETTLED);
      this.#head = 0;
    }
  }

  /** Writes an ack, then resolves (or rejects) the entries of `entries` it covered. */
  #send(entries: AckEntry[], write: () => void): void {
    let failure: { error: unknown } | undefined;
    try {
      write();
    } catch (error) {
      failure = { error };
    }
    for (const e of entries) {
      if (e.state !== SETTLED || !e.resolve) continue;
      const { resolve, reject } = e;
      e.resolve = e.reject = undefined;
      if (failure) reject!(failure.error);
      else resolve();
    }
  }
}
