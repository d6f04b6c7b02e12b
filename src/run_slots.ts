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
  readonly #waiters: ((release: ReleaseSlot | undefined) => void)[] = [];

  /** Makes `limit` slots (at least one). */
  constructor(limit: number) {
    this.#free = Math.max(1, limit);
  }

  /**
   * Resolves with a release function once a slot is free, or with `undefined` when `signal`
   * aborts first (the caller then gives its message back).
   */
  acquire(signal: AbortSignal): Promise<ReleaseSlot | undefined> {
    if (signal.aborted) return Promise.resolve(undefined);
    if (this.#free > 0) {
      this.#free--;
      return Promise.resolve(this.#releaser());
    }
    return new Promise((resolve) => {
      const onAbort = () => {
        const at = this.#waiters.indexOf(wake);
        if (at >= 0) this.#waiters.splice(at, 1);
        resolve(undefined);
      };
      const wake = (release: ReleaseSlot | undefined) => {
        signal.removeEventListener("abort", onAbort);
        resolve(release);
      };
      signal.addEventListener("abort", onAbort, { once: true });
      this.#waiters.push(wake);
    });
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
