/**
 * The worker's run slots: a counting semaphore that bounds how many tasks run at once, apart
 * from how many messages the worker holds (running plus prefetched), so that prefetched
 * messages are ready the moment a slot frees without ever running more tasks than asked.
 *
 * @module
 */

/** Gives a slot back; calling it again does nothing. */
export type ReleaseSlot = () => void;

/** At most `limit` holders at once; waiters are served first come, first served. */
export class RunSlots {
  #free: number;
  #closed = false;
  #waiters: ((release: ReleaseSlot | undefined) => void)[] = [];

  /** Makes `limit` slots (at least one). */
  constructor(limit: number) {
    this.#free = Math.max(1, limit);
  }

  /**
   * Resolves with a release function once a slot is free, or with `undefined` once the slots
   * are closed (the caller then gives its message back).
   */
  acquire(): Promise<ReleaseSlot | undefined> {
    if (this.#closed) return Promise.resolve(undefined);
    if (this.#free > 0) {
      this.#free--;
      return Promise.resolve(this.#releaser());
    }
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  /** No more slots are handed out: every waiter, now and later, gets `undefined`. */
  close(): void {
    this.#closed = true;
    const waiters = this.#waiters;
    this.#waiters = [];
    for (const wake of waiters) wake(undefined);
  }

  #releaser(): ReleaseSlot {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const next = this.#waiters.shift();
      if (next) next(this.#releaser());
      else this.#free++;
    };
  }
}
