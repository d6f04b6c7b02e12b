/**
 * The `setState*` half of the {@linkcode Backend} contract, written once: each call builds its
 * state (as Go machinery's `tasks.NewXState` does) and hands it to the backend's one write.
 *
 * @module
 */
import type { Backend } from "./backend.ts";
import type { Signature } from "./wire/signature.ts";
import {
  failureState,
  pendingState,
  receivedState,
  retryState,
  startedState,
  successState,
  type TaskResult,
  type TaskState,
} from "./wire/state.ts";

/**
 * A base for result backends: extend it and implement {@linkcode StateWriter.writeState}; the
 * six `setState*` methods of {@linkcode Backend} come with it. A backend with a faster way to
 * write one of the states overrides that method.
 */
export abstract class StateWriter implements
  Pick<
    Backend,
    | "setStatePending"
    | "setStateReceived"
    | "setStateStarted"
    | "setStateRetry"
    | "setStateSuccess"
    | "setStateFailure"
  > {
  /**
   * Stores `state`, the new state of `signature`'s task. PENDING (the first state) replaces
   * whatever is stored; a later state keeps the stored TaskName and CreatedAt, as Go's backends
   * do. May throw instead of rejecting (a result JSON cannot hold): the callers reject then.
   */
  protected abstract writeState(signature: Signature, state: TaskState): Promise<void>;

  /** Writes PENDING (the sender, before publishing). */
  setStatePending(signature: Signature): Promise<void> {
    return this.#write(signature, pendingState(signature));
  }

  /** Writes RECEIVED (the worker took the message). */
  setStateReceived(signature: Signature): Promise<void> {
    return this.#write(signature, receivedState(signature));
  }

  /** Writes STARTED (just before the call). */
  setStateStarted(signature: Signature): Promise<void> {
    return this.#write(signature, startedState(signature));
  }

  /** Writes RETRY (a retry is scheduled). */
  setStateRetry(signature: Signature): Promise<void> {
    return this.#write(signature, retryState(signature));
  }

  /** Writes SUCCESS with the task's results. */
  setStateSuccess(signature: Signature, results: TaskResult[]): Promise<void> {
    return this.#write(signature, successState(signature, results));
  }

  /** Writes FAILURE with the error string. */
  setStateFailure(signature: Signature, error: string): Promise<void> {
    return this.#write(signature, failureState(signature, error));
  }

  #write(signature: Signature, state: TaskState): Promise<void> {
    // Not async: the write's own promise is returned, with no extra one per state.
    try {
      return this.writeState(signature, state);
    } catch (error) {
      return Promise.reject(error);
    }
  }
}
