/**
 * Unique tasks (see `docs/architecture.md#unique-tasks`): a send with `uniqueFor` claims a lock
 * named by its unique key, whose value is the task's UUID; while the lock is held, another send
 * with the same key enqueues nothing and rejects with {@link DuplicateTaskError}.
 *
 * The lock never outlives its task: the worker releases it when it records the final state, and
 * a claim that finds the lock held reads the holder's state and takes the lock over when that
 * state is final (SUCCESS or FAILURE), so a task that ended by any path (failure, dead letter,
 * cancellation, expiry, a worker that died after recording) frees its key. A retry keeps the lock:
 * its state is RETRY, then PENDING. The window (`uniqueFor`) is the lock's expiry, the bound for
 * everything else (a sender that died between claim and publish, say).
 *
 * @module
 */
import type { Backend } from "./backend.ts";
import type { Broker } from "./broker.ts";
import { StateNotFoundError } from "./errors.ts";
import { newSignature, type Signature } from "./wire/signature.ts";
import { encodeSignature } from "./wire/signature.ts";
import { isCompleted, type TaskState } from "./wire/state.ts";

/** The header that carries a unique task's key, so the worker can release its lock. */
export const UNIQUE_KEY_HEADER = "machinery_ts_unique_key";

/** A send refused because a task with the same unique key is not finished yet. */
export class DuplicateTaskError extends Error {
  /** The UUID of the task that holds the key. */
  readonly existingUUID: string;
  /** The unique key. */
  readonly uniqueKey: string;
  /** Creates the error for the task that holds `uniqueKey`. */
  constructor(existingUUID: string, uniqueKey: string) {
    super(`Task "${existingUUID}" with the same unique key "${uniqueKey}" is not finished yet`);
    this.name = "DuplicateTaskError";
    this.existingUUID = existingUUID;
    this.uniqueKey = uniqueKey;
  }
}

/** Where unique locks live: the Redis broker or backend, or the memory ones. */
export interface UniqueLocks {
  /** Takes `key` for `uuid` for `ttlMs`; resolves with the holder's UUID when it is taken. */
  claim(key: string, uuid: string, ttlMs: number): Promise<string | undefined>;
  /** Gives `key` to `uuid` for `ttlMs` if `holder` still holds it; true when it did. */
  replace(key: string, holder: string, uuid: string, ttlMs: number): Promise<boolean>;
  /** Frees `key` if `uuid` holds it. */
  release(key: string, uuid: string): Promise<void>;
}

/** Something that may keep unique locks (a broker or a backend). */
export interface MayKeepUniqueLocks {
  /** The unique locks it keeps, if it can keep them for every process that shares it. */
  readonly uniqueLocks?: UniqueLocks;
}

/** The locks senders and workers of one broker and backend share: the broker's, else the backend's. */
export function uniqueLocksOf(broker: Broker, backend: Backend): UniqueLocks | undefined {
  return (broker as MayKeepUniqueLocks).uniqueLocks ??
    (backend as MayKeepUniqueLocks).uniqueLocks;
}

/** The default unique key: the task name and a SHA-256 of its arguments as Go encodes them. */
export async function defaultUniqueKey(signature: Signature): Promise<string> {
  const bare = newSignature(signature.name, signature.args, { uuid: "" });
  const bytes = new TextEncoder().encode(encodeSignature(bare));
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  let hex = "";
  for (const b of digest) hex += b.toString(16).padStart(2, "0");
  return `${signature.name}:${hex}`;
}

/**
 * Claims `key` for the signature's task, taking it over from a holder whose state is final.
 * Rejects with {@link DuplicateTaskError} when a task that is not finished holds it.
 */
export async function claimUnique(
  locks: UniqueLocks,
  backend: Backend,
  key: string,
  uuid: string,
  ttlMs: number,
): Promise<void> {
  for (;;) {
    const holder = await locks.claim(key, uuid, ttlMs);
    if (holder === undefined || holder === uuid) return;
    const state = await stateOf(backend, holder);
    if (!state || !isCompleted(state)) throw new DuplicateTaskError(holder, key);
    if (await locks.replace(key, holder, uuid, ttlMs)) return;
    // Another sender took it over first (or it was released): try again.
  }
}

/** Frees the unique lock of a task that reached its final state (no-op without one). */
export async function releaseUnique(
  locks: UniqueLocks | undefined,
  signature: Signature,
): Promise<void> {
  const key = signature.headers?.[UNIQUE_KEY_HEADER];
  if (locks && typeof key === "string") await locks.release(key, signature.uuid);
}

async function stateOf(backend: Backend, uuid: string): Promise<TaskState | undefined> {
  try {
    return await backend.getState(uuid);
  } catch (error) {
    if (error instanceof StateNotFoundError) return undefined;
    throw error;
  }
}
