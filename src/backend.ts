/**
 * The result backend contract (Go machinery's `Backend` interface): where task states and group
 * metadata live. What each backend stores is described in `docs/wire.md#taskstate` and the
 * sections after it.
 *
 * @module
 */
import type { Signature } from "./wire/signature.ts";
import type { TaskResult, TaskState } from "./wire/state.ts";

/** Stores task states and group metadata. */
export interface Backend {
  /**
   * The URL it uses, as given: it may hold a password, so hide it before showing it (the
   * worker's start-up banner shows it with the password hidden).
   */
  readonly url?: string;
  /** Records a new group and its member UUIDs, in group order. */
  initGroup(groupUUID: string, taskUUIDs: string[]): Promise<void>;
  /** True when `groupTaskCount` members are SUCCESS or FAILURE. */
  groupCompleted(groupUUID: string, groupTaskCount: number): Promise<boolean>;
  /** The members' states, in the order the backend keeps (group order where it can). */
  groupTaskStates(groupUUID: string, groupTaskCount: number): Promise<TaskState[]>;
  /** True for exactly one caller per group: the one that must send the chord callback. */
  triggerChord(groupUUID: string): Promise<boolean>;
  /** Writes PENDING (the sender, before publishing). */
  setStatePending(signature: Signature): Promise<void>;
  /** Writes RECEIVED (the worker took the message). */
  setStateReceived(signature: Signature): Promise<void>;
  /** Writes STARTED (just before the call). */
  setStateStarted(signature: Signature): Promise<void>;
  /**
   * Optional: writes RECEIVED and then STARTED in one step, for a worker that decoded the
   * arguments before recording RECEIVED and has nothing to do in between. Both states are
   * written, in that order, as the two calls would write them; a backend that can do so for the
   * cost of one write implements it, and the worker uses it when present.
   */
  setStateReceivedAndStarted?(signature: Signature): Promise<void>;
  /** Writes RETRY (a retry is scheduled). */
  setStateRetry(signature: Signature): Promise<void>;
  /** Writes SUCCESS with the task's results. */
  setStateSuccess(signature: Signature, results: TaskResult[]): Promise<void>;
  /** Writes FAILURE with the error string. */
  setStateFailure(signature: Signature, error: string): Promise<void>;
  /**
   * Optional: writes FAILURE as `setStateFailure` does (the same stored bytes), unless the stored
   * state is final (SUCCESS or FAILURE), which is left alone; resolves with whether it wrote.
   * Check and write are one atomic step. `Server.cancelTask` uses it when present, so that a task
   * that finishes while it is being cancelled keeps its outcome; without it, the cancel reads the
   * state and then writes, and a task that finishes in between is recorded cancelled.
   */
  setStateFailureUnlessCompleted?(signature: Signature, error: string): Promise<boolean>;
  /** The stored state; rejects with `StateNotFoundError` when there is none. */
  getState(taskUUID: string): Promise<TaskState>;
  /** Deletes a task's state. */
  purgeState(taskUUID: string): Promise<void>;
  /** Deletes a group's metadata. */
  purgeGroupMeta(groupUUID: string): Promise<void>;
  /**
   * Connects now, so that an unreachable server is reported at start; rejects when it cannot.
   * Optional to call: the first call connects too.
   */
  connect(): Promise<void>;
  /** Releases connections. Idempotent. */
  close(): Promise<void>;
}
