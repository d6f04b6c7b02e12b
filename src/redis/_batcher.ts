/**
 * Micro-batching: calls made while the previous batch is still being answered (or, when none
 * is, in the same turn of the event loop) are sent as one Redis command (one Lua script over
 * many keys). A busy worker therefore sends a few large scripts instead of many small ones:
 * Redis pays per command and per read much more than per key. An idle one still sends at the
 * end of the turn. The callers of one batch share its promise (one allocation per batch, not
 * per call: a worker makes several calls per task).
 *
 * @module
 */
import { setImmediate } from "node:timers";

/** One batch being gathered: its items and the promise its callers share. */
interface Gathering<T> {
  items: T[];
  promise: Promise<void>;
  resolve: () => void;
  reject: (error: unknown) => void;
}

/** Collects items and flushes them in batches of at most `max`, one batch in flight at a time. */
export class Batcher<T> {
  readonly #send: (items: T[]) => Promise<unknown>;
  readonly #max: number;
  #gathering?: Gathering<T>;
  #scheduled = false;
  #inFlight = 0;

  /** `send` delivers one batch; it rejects to fail every item in it. */
  constructor(send: (items: T[]) => Promise<unknown>, max = 200) {
    this.#send = send;
    this.#max = max;
  }

  /** Queues an item; resolves once the batch holding it was sent and answered. */
  add(item: T): Promise<void> {
    const batch = this.#gathering ??= gathering<T>();
    batch.items.push(item);
    if (batch.items.length >= this.#max) this.#flush();
    else if (!this.#scheduled && this.#inFlight === 0) {
      this.#scheduled = true;
      setImmediate(() => this.#flush());
    }
    return batch.promise;
  }

  #flush(): void {
    this.#scheduled = false;
    const batch = this.#gathering;
    if (!batch) return;
    this.#gathering = undefined;
    this.#inFlight++;
    let sent: Promise<unknown>;
    try {
      sent = this.#send(batch.items);
    } catch (error) {
      sent = Promise.reject(error);
    }
    sent.then(
      () => {
        this.#landed();
        batch.resolve();
      },
      (error) => {
        this.#landed();
        batch.reject(error);
      },
    );
  }

  /** A batch was answered: what gathered meanwhile goes out now. */
  #landed(): void {
    this.#inFlight--;
    if (this.#inFlight === 0 && this.#gathering && !this.#scheduled) this.#flush();
  }
}

function gathering<T>(): Gathering<T> {
  let resolve!: () => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { items: [], promise, resolve, reject };
}
