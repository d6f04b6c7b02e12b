/**
 * Micro-batching: calls made in the same turn of the event loop are sent as one Redis command
 * (one Lua script over many keys), so a busy worker sends a few scripts per turn instead of a
 * few per task. Each caller still gets its own promise.
 *
 * @module
 */
import { setImmediate } from "node:timers";

/** Collects items and flushes them in batches of at most `max`. */
export class Batcher<T> {
  readonly #send: (items: T[]) => Promise<unknown>;
  readonly #max: number;
  #items: T[] = [];
  #waiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  #scheduled = false;

  /** `send` delivers one batch; it rejects to fail every item in it. */
  constructor(send: (items: T[]) => Promise<unknown>, max = 200) {
    this.#send = send;
    this.#max = max;
  }

  /** Queues an item; resolves once the batch holding it was sent and answered. */
  add(item: T): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#items.push(item);
      this.#waiters.push({ resolve, reject });
      if (this.#items.length >= this.#max) this.#flush();
      else if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#scheduled = false;
    if (this.#items.length === 0) return;
    const items = this.#items;
    const waiters = this.#waiters;
    this.#items = [];
    this.#waiters = [];
    let sent: Promise<unknown>;
    try {
      sent = this.#send(items);
    } catch (error) {
      sent = Promise.reject(error);
    }
    sent.then(
      () => waiters.forEach((w) => w.resolve()),
      (error) => waiters.forEach((w) => w.reject(error)),
    );
  }
}
