/**
 * One timer for every run's deadline. Runs are kept in a set, and a single `setTimeout` is armed
 * for the earliest deadline; when it fires, one pass over the set expires the runs that are due
 * and re-arms for the earliest of the rest. Adding and removing a run is a `Set` operation, so a
 * worker with a timeout on every task arms no timer per task: runs that end in time only leave the
 * timer armed for a deadline that has gone, and that one wake-up re-arms for the next.
 *
 * @module
 */

/** Something that must stop at `stopAt`. */
export interface Deadline {
  /** The Unix time (ms) it is due. */
  readonly stopAt: number;
  /** Called once, at or just after `stopAt`, unless removed before. */
  expire(): void;
}

/** The longest delay a timer takes without overflowing to about 1 ms (a signed 32-bit count). */
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Expires each added deadline at its time, with one timer for all of them. */
export class DeadlineTimers {
  readonly #live = new Set<Deadline>();
  #timer?: ReturnType<typeof setTimeout>;
  #armedFor = Infinity;

  /** Expires `deadline` at its `stopAt` unless it is removed first. */
  add(deadline: Deadline): void {
    this.#live.add(deadline);
    if (deadline.stopAt < this.#armedFor) this.#arm(deadline.stopAt);
  }

  /** Forgets `deadline` (it ended in time). */
  delete(deadline: Deadline): void {
    this.#live.delete(deadline);
  }

  /** Deadlines still waiting. */
  get size(): number {
    return this.#live.size;
  }

  /** Forgets every deadline and drops the timer. */
  clear(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedFor = Infinity;
    this.#live.clear();
  }

  #arm(at: number): void {
    clearTimeout(this.#timer);
    this.#armedFor = at;
    // A far deadline waits in steps: a longer delay would overflow and fire at once.
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, at - Date.now()));
    this.#timer = setTimeout(() => this.#sweep(), delay);
  }

  #sweep(): void {
    this.#timer = undefined;
    this.#armedFor = Infinity;
    const now = Date.now();
    let next = Infinity;
    for (const deadline of this.#live) {
      if (deadline.stopAt <= now) {
        this.#live.delete(deadline);
        deadline.expire();
      } else if (deadline.stopAt < next) next = deadline.stopAt;
    }
    if (next < Infinity && next < this.#armedFor) this.#arm(next);
  }
}
