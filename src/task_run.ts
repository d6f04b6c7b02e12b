/**
 * One run of a task that can be aborted: by its timeout or deadline, by a cancellation, or by
 * the worker quitting abruptly. It makes the task's `AbortSignal` only when the task asks for
 * it, and waits for the task at most a grace period after the abort, so that a task that
 * ignores its signal does not hold its run slot for ever.
 *
 * @module
 */
import type { RunLimits, TaskAbortedError } from "./task_deadline.ts";
import type { Deadline } from "./deadline_timers.ts";

/** What `settle` resolves with when the task did not stop within the grace period. */
export const ABANDONED: unique symbol = Symbol("abandoned");

/** The abortable state of one run; with limits, also its deadline. */
export class TaskRun implements Deadline {
  /** When the run must stop (Unix ms): its timeout or deadline, or `Infinity`. */
  readonly stopAt: number;
  readonly #limits?: RunLimits;
  readonly #parent: AbortSignal;
  #controller?: AbortController;
  #unlink?: () => void;
  #abortedWith?: TaskAbortedError;
  #onAbort?: () => void;

  /** A run limited by `limits`, that also stops when `parent` (an abrupt quit) aborts. */
  constructor(parent: AbortSignal, limits?: RunLimits) {
    this.#parent = parent;
    this.#limits = limits;
    this.stopAt = limits?.stopAt ?? Infinity;
  }

  /** Its timeout or deadline passed: aborts with the limit's error. */
  expire(): void {
    if (this.#limits) this.abort(this.#limits.error());
  }

  /** The task's signal, made on first use. */
  get signal(): AbortSignal {
    if (this.#controller) return this.#controller.signal;
    const controller = new AbortController();
    this.#controller = controller;
    if (this.#abortedWith) controller.abort(this.#abortedWith);
    else if (this.#parent.aborted) controller.abort(this.#parent.reason);
    else {
      const follow = () => controller.abort(this.#parent.reason);
      this.#parent.addEventListener("abort", follow, { once: true });
      this.#unlink = () => this.#parent.removeEventListener("abort", follow);
    }
    return controller.signal;
  }

  /** Why the run was aborted (a timeout, a deadline, a cancellation), if it was. */
  get abortedWith(): TaskAbortedError | undefined {
    return this.#abortedWith;
  }

  /** Fires the task's signal with `error`; the first reason wins. */
  abort(error: TaskAbortedError): void {
    if (this.#abortedWith) return;
    this.#abortedWith = error;
    this.#controller?.abort(error);
    this.#onAbort?.();
  }

  /**
   * Resolves or rejects as `returned` does; once the run is aborted, resolves with `ABANDONED`
   * if the task has not settled `graceMs` later.
   */
  settle<T>(returned: Promise<T>, graceMs: number): Promise<T | typeof ABANDONED> {
    return new Promise((resolve, reject) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      returned.then((value) => {
        clearTimeout(timer);
        resolve(value);
      }, (error) => {
        clearTimeout(timer);
        reject(error);
      });
      this.#onAbort = () => {
        timer = setTimeout(() => resolve(ABANDONED), graceMs);
      };
      if (this.#abortedWith) this.#onAbort();
    });
  }

  /** Detaches the run from the worker's signal once it is over. */
  dispose(): void {
    this.#unlink?.();
    this.#onAbort = undefined;
  }
}
