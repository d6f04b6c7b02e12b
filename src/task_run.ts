/**
 * One run of a task that can be aborted: by its timeout or deadline, by a cancellation, or by
 * the worker quitting abruptly. It makes the task's `AbortSignal` only when the task asks for
 * it, and waits for the task at most a grace period after the abort, so that a task that
 * ignores its signal does not hold its run slot for ever.
 *
 * @module
 */
import type { TaskAbortedError } from "./task_deadline.ts";

/** What `settle` resolves with when the task did not stop within the grace period. */
export const ABANDONED: unique symbol = Symbol("abandoned");

/** The abortable state of one run. */
export class TaskRun {
  readonly #parent: AbortSignal;
  #controller?: AbortController;
  #unlink?: () => void;
  #abortedWith?: TaskAbortedError;
  #onAbort?: () => void;
  #cleanups: (() => void)[] = [];

  /** A run that also stops when `parent` (the worker's abrupt-quit signal) aborts. */
  constructor(parent: AbortSignal) {
    this.#parent = parent;
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

  /** Calls `cleanup` when the run is over (its deadline cancelled, its entry removed). */
  onDispose(cleanup: () => void): void {
    this.#cleanups.push(cleanup);
  }

  /** Detaches the run from the worker's signal once it is over, and runs the clean-ups. */
  dispose(): void {
    this.#unlink?.();
    this.#onAbort = undefined;
    const cleanups = this.#cleanups;
    this.#cleanups = [];
    for (const cleanup of cleanups) cleanup();
  }
}
