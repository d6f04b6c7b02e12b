/**
 * Async results: handles on sent tasks, chains and chords that wait for their results by polling
 * the result backend, as machinery's `AsyncResult` does.
 *
 * @module
 */
import type { Backend } from "./backend.ts";
import type { Signature } from "./wire/signature.ts";
import {
  decodeResults,
  isCompleted,
  isFailure,
  isSuccess,
  type TaskState,
  zeroTaskState,
} from "./wire/state.ts";
import {
  GroupNotFoundError,
  StateNotFoundError,
  TaskFailedError,
  TimeoutReachedError,
} from "./errors.ts";

/** How `get` waits. */
export interface GetOptions {
  /** Milliseconds between polls (default 20). */
  pollInterval?: number;
  /** Give up after this many milliseconds with `TimeoutReachedError` (default: wait forever). */
  timeout?: number;
  /** Stop waiting when aborted. */
  signal?: AbortSignal;
  /**
   * Called before each pause with the latest state read while the task is not done (its
   * `state` is `""` while nothing is stored): to show progress, or that nothing happens.
   */
  onState?: (state: TaskState) => void;
}

const DEFAULT_POLL_MS = 20;

/** A deadline and abort check shared by every wait. */
class Waiter {
  readonly #deadline: number;
  readonly #poll: number;
  readonly #signal?: AbortSignal;
  readonly #onState?: (state: TaskState) => void;

  constructor(options: GetOptions = {}) {
    this.#deadline = options.timeout === undefined ? Infinity : Date.now() + options.timeout;
    this.#poll = options.pollInterval ?? DEFAULT_POLL_MS;
    this.#signal = options.signal;
    this.#onState = options.onState;
  }

  /** Reports `result`'s latest state, then waits one poll interval (less near the deadline). */
  async pause(result: AsyncResult): Promise<void> {
    this.#onState?.(result.lastState);
    this.#signal?.throwIfAborted();
    const left = this.#deadline - Date.now();
    if (left <= 0) throw new TimeoutReachedError();
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, Math.min(this.#poll, left));
      const signal = this.#signal;
      function done() {
        clearTimeout(timer);
        signal?.removeEventListener("abort", done);
        resolve();
      }
      signal?.addEventListener("abort", done, { once: true });
    });
    this.#signal?.throwIfAborted();
  }
}

/** The handle `sendTask` returns. `T` is the task's list of result values. */
export class AsyncResult<T extends unknown[] = unknown[]> {
  /** The signature that was sent. */
  readonly signature: Signature;
  readonly #backend: Backend;
  #state: TaskState;
  #missing = false;

  /** Wraps a sent signature. */
  constructor(signature: Signature, backend: Backend) {
    this.signature = signature;
    this.#backend = backend;
    this.#state = zeroTaskState(signature.uuid);
  }

  /** The result backend this result reads. */
  get backend(): Backend {
    return this.#backend;
  }

  /** The latest state read, without reading again (`state` is `""` before the first read). */
  get lastState(): TaskState {
    return this.#state;
  }

  /** True when the last read found no stored state at all (not yet, or no longer). */
  get stateMissing(): boolean {
    return this.#missing;
  }

  /**
   * The latest known state. Once completed it is cached; while the backend has no state yet the
   * previous one is kept (its `state` is `""` before the first read).
   */
  async state(): Promise<TaskState> {
    if (isCompleted(this.#state)) return this.#state;
    try {
      this.#state = await this.#backend.getState(this.signature.uuid);
      this.#missing = false;
    } catch (error) {
      if (!(error instanceof StateNotFoundError)) throw error;
      this.#missing = true;
    }
    return this.#state;
  }

  /**
   * One look at the backend: the results if the task succeeded, `null` if it is not done yet.
   * Rejects with `TaskFailedError` if it failed.
   */
  async touch(): Promise<T | null> {
    const state = await this.state();
    if (isFailure(state)) throw new TaskFailedError(state.taskUUID, state.error);
    if (isSuccess(state)) return decodeResults(state.results) as T;
    return null;
  }

  /** Waits for the results, polling the backend. */
  async get(options: GetOptions = {}): Promise<T> {
    const waiter = new Waiter(options);
    for (;;) {
      const values = await this.touch();
      if (values) return values;
      await waiter.pause(this);
    }
  }

  /** Machinery's `GetWithTimeout`: `get` with a timeout in milliseconds. */
  getWithTimeout(timeoutMs: number, pollIntervalMs = DEFAULT_POLL_MS): Promise<T> {
    return this.get({ timeout: timeoutMs, pollInterval: pollIntervalMs });
  }
}

/** The handle `sendChain` returns; its results are the last link's. */
export class ChainAsyncResult<T extends unknown[] = unknown[]> {
  /** One result per link, in chain order. */
  readonly results: AsyncResult[];

  /** Wraps the links' results. */
  constructor(results: AsyncResult[]) {
    this.results = results;
  }

  /** Waits for every link in order; rejects with the first failure. */
  async get(options: GetOptions = {}): Promise<T> {
    const waiter = new Waiter(options);
    let last: unknown[] = [];
    for (const result of this.results) {
      for (;;) {
        const values = await result.touch();
        if (values) {
          last = values;
          break;
        }
        await waiter.pause(result);
      }
    }
    return last as T;
  }
}

/** The handle `sendChord` returns; its results are the callback's. */
export class ChordAsyncResult<T extends unknown[] = unknown[]> {
  /** The group members' results, in group order. */
  readonly groupResults: AsyncResult[];
  /** The callback's result. */
  readonly callbackResult: AsyncResult<T>;

  /** Wraps the members' and the callback's results. */
  constructor(groupResults: AsyncResult[], callbackResult: AsyncResult<T>) {
    this.groupResults = groupResults;
    this.callbackResult = callbackResult;
  }

  /**
   * Waits for every member, then the callback; rejects with the first failure. Rejects with
   * `StateNotFoundError` when the group's metadata expired (ResultsExpireIn) before the callback
   * was sent: the callback will then never be sent.
   */
  async get(options: GetOptions = {}): Promise<T> {
    const waiter = new Waiter(options);
    for (const result of [...this.groupResults, this.callbackResult]) {
      for (;;) {
        const values = await result.touch();
        if (values) break;
        if (result.stateMissing) await this.#checkGroup();
        await waiter.pause(result);
      }
    }
    return (await this.callbackResult.touch()) as T;
  }

  /** While a state is missing: rejects when the group's metadata is missing too. */
  async #checkGroup(): Promise<void> {
    const first = this.groupResults[0];
    const backend = first?.backend;
    const group = first?.signature.groupUUID;
    if (!backend || !group) return;
    try {
      await backend.groupTaskStates(group, this.groupResults.length);
    } catch (error) {
      // A member's state may be missing only for now (its message is still queued); the
      // group's metadata is written once, before the members are sent, so it never comes back.
      if (error instanceof GroupNotFoundError) {
        throw new StateNotFoundError(
          `Group "${group}" expired before its chord callback "${this.callbackResult.signature.uuid}" was sent (ResultsExpireIn): the callback will never be sent`,
        );
      }
    }
  }
}
