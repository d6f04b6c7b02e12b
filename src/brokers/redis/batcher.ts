/**
 * Micro-batching: calls made while the previous batch is still being answered (or, when none
 * is, in the same turn of the event loop) are sent as one Redis command (one Lua script over
 * many keys). A busy worker therefore sends a few large scripts instead of many small ones:
 * Redis pays per command and per read much more than per key. An idle one still sends at the
 * end of the turn. Each caller gets its own promise.
 *
 * @module
 */
import { setImmediate } from "node:timers";

/** Collects items and flushes them in batches of at most `max`, one batch in flight at a time. */
export class Batcher<T> {
  readonly #send: (items: T[]) => Promise<unknown>;
  readonly #max: number;
  #items: T[] = [];
  #waiters: { resolve: () => void; reject: (e: unknown) => void }[] = [];
  #scheduled = false;
  #inFlight = 0;

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
      else if (!this.#scheduled && this.#inFlight === 0) {
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
    this.#inFlight++;
    let sent: Promise<unknown>;
    try {
      sent = this.#send(items);
    } catch (error) {
      sent = Promise.reject(error);
    }
    sent.then(
      () => {
        this.#landed();
        for (const w of waiters) w.resolve();
      },
      (error) => {
        this.#landed();
        for (const w of waiters) w.reject(error);
      },
    );
  }

  /** A batch was answered: what gathered meanwhile goes out now. */
  #landed(): void {
    this.#inFlight--;
    if (this.#inFlight === 0 && this.#items.length > 0 && !this.#scheduled) this.#flush();
  }
}
