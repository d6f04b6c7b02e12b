/**
 * One timer for many deadlines: a min-heap of due times behind a single `setTimeout` armed for
 * the earliest. A worker with a timeout on every task adds deadlines in the order it starts
 * them, so a new one is rarely the earliest and the timer is rarely re-armed; a cancelled entry
 * is only marked and dropped when it reaches the top.
 *
 * @module
 */

/** Cancels a scheduled call; calling it again, or after the call, does nothing. */
export type CancelDeadline = () => void;

/** The longest delay a timer takes without overflowing to about 1 ms (a signed 32-bit count). */
const MAX_TIMER_MS = 2 ** 31 - 1;

interface Entry {
  at: number;
  seq: number;
  fire: (() => void) | undefined;
}

/** Calls each callback at (or just after) its due time, with one timer for all of them. */
export class DeadlineTimers {
  readonly #heap: Entry[] = [];
  #seq = 0;
  #cancelled = 0;
  #timer?: ReturnType<typeof setTimeout>;
  #armedFor = Infinity;

  /** Calls `fire` at Unix time `at` (ms); returns a function that cancels it. */
  schedule(at: number, fire: () => void): CancelDeadline {
    const entry: Entry = { at, seq: this.#seq++, fire };
    this.#push(entry);
    if (at < this.#armedFor) this.#arm();
    return () => {
      if (entry.fire === undefined) return;
      entry.fire = undefined;
      this.#cancelled++;
      // Nothing left to wait for: no timer stays armed for a call that will never happen.
      if (this.#cancelled === this.#heap.length) this.clear();
      else if (this.#cancelled > 32 && this.#cancelled * 2 > this.#heap.length) this.#compact();
    };
  }

  /** Entries still waiting (cancelled ones not yet dropped included). */
  get size(): number {
    return this.#heap.length;
  }

  /** Drops every entry and the timer. */
  clear(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedFor = Infinity;
    this.#heap.length = 0;
    this.#cancelled = 0;
  }

  /** Drops the cancelled entries (most, when runs end well before their deadlines). */
  #compact(): void {
    const live = this.#heap.filter((e) => e.fire !== undefined);
    this.#heap.length = 0;
    this.#cancelled = 0;
    for (const entry of live) this.#push(entry);
    this.#arm();
  }

  #arm(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armedFor = Infinity;
    while (this.#heap.length > 0 && this.#heap[0].fire === undefined) this.#pop();
    if (this.#heap.length === 0) return;
    const at = this.#heap[0].at;
    this.#armedFor = at;
    // A far deadline waits in steps: a longer delay would overflow and fire at once.
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, at - Date.now()));
    this.#timer = setTimeout(() => this.#run(), delay);
  }

  #run(): void {
    this.#timer = undefined;
    this.#armedFor = Infinity;
    const now = Date.now();
    while (this.#heap.length > 0 && this.#heap[0].at <= now) {
      const entry = this.#pop();
      const fire = entry.fire;
      entry.fire = undefined; // a cancel after the call must not count it as cancelled
      fire?.();
    }
    this.#arm();
  }

  #push(entry: Entry): void {
    const heap = this.#heap;
    heap.push(entry);
    let i = heap.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!before(heap[i], heap[parent])) break;
      [heap[i], heap[parent]] = [heap[parent], heap[i]];
      i = parent;
    }
  }

  #pop(): Entry {
    const heap = this.#heap;
    const top = heap[0];
    if (top.fire === undefined) this.#cancelled--;
    const last = heap.pop()!;
    if (heap.length > 0) {
      heap[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let min = i;
        if (l < heap.length && before(heap[l], heap[min])) min = l;
        if (r < heap.length && before(heap[r], heap[min])) min = r;
        if (min === i) break;
        [heap[i], heap[min]] = [heap[min], heap[i]];
        i = min;
      }
    }
    return top;
  }
}

function before(a: Entry, b: Entry): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}
