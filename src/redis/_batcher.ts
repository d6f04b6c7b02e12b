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

/** The items of a batch that failed on their own, by index; the others succeeded. */
export type ItemFailures = ReadonlyMap<number, Error>;

/** One batch being gathered: its items and the promise its callers share. */
interface Gathering<T> {
  items: T[];
  promise: Promise<ItemFailures | undefined>;
  resolve: (failures: ItemFailures | undefined) => void;
  reject: (error: unknown) => void;
}

/**
 * Collects items and flushes them in batches of at most `max`, one batch in flight at a time.
 *
 * `send` rejects to fail every item of a batch (the command failed), or resolves with the
 * items that failed on their own (a script that reports per item), so that one bad item never
 * fails its neighbours. Only a batcher made with `isolate` pays for a promise per item.
 */
export class Batcher<T> {
  readonly #send: (items: T[]) => Promise<ItemFailures | unknown>;
  readonly #max: number;
  readonly #isolate: boolean;
  #gathering?: Gathering<T>;
  #scheduled = false;
  #inFlight = 0;

  /** `send` delivers one batch; with `isolate`, it may resolve with per-item failures. */
  constructor(
    send: (items: T[]) => Promise<ItemFailures | unknown>,
    max = 200,
    isolate = false,
  ) {
    this.#send = send;
    this.#max = max;
    this.#isolate = isolate;
  }

  /** Queues an item; resolves once the batch holding it was sent and answered. */
  add(item: T): Promise<void> {
    const batch = this.#gathering ??= gathering<T>();
    const index = batch.items.push(item) - 1;
    if (batch.items.length >= this.#max) this.#flush();
    else if (!this.#scheduled && this.#inFlight === 0) {
      this.#scheduled = true;
      setImmediate(() => this.#flush());
    }
    if (!this.#isolate) return batch.promise as Promise<unknown> as Promise<void>;
    return batch.promise.then((failures) => {
      const failure = failures?.get(index);
      if (failure) throw failure;
    });
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
      (result) => {
        this.#landed();
        batch.resolve(this.#isolate ? result as ItemFailures | undefined : undefined);
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
  let resolve!: (failures: ItemFailures | undefined) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<ItemFailures | undefined>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { items: [], promise, resolve, reject };
}
