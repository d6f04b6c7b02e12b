/**
 * TriggerChord on memcached with compare-and-swap, so that exactly one caller sees `true`.
 *
 * Each try reads the group meta with its CAS value. If `ChordTriggered` is set, another caller
 * won. Otherwise it stores the meta with `ChordTriggered: true` under that CAS value: memcached
 * stores it only if nobody wrote the item since the read, so of the callers that read the same
 * untriggered meta exactly one store succeeds; the others see `exists`, read again and find the
 * flag set. The stored bytes are Go's (`ChordTriggered: true`, `Lock: false`), and the item's
 * expiry restarts, as Go's Replace does.
 *
 * Go machinery's own TriggerChord is not atomic: it spins while `Lock` is true, sets `Lock`,
 * replaces the meta with `ChordTriggered: true` and returns true. A meta with `Lock: true` and
 * no `ChordTriggered` is therefore a Go worker in the middle of triggering the chord itself, and
 * this returns false for it. Among TS workers the chord fires exactly once; in a fleet that
 * mixes Go workers, a Go worker can still fire it a second time (its read and its write are not
 * one step), which nothing on this side can prevent.
 *
 * @module
 */
import { BackendError, GroupNotFoundError } from "../errors.ts";
import { decodeGroupMeta, encodeGroupMeta } from "../wire/state.ts";
import type { MemcacheItem, StoreOutcome } from "./_client.ts";

/** The two calls the trigger needs (a {@linkcode MemcacheClient} has them). */
export interface CasStore {
  /** Reads an item with its CAS value; null on a miss. */
  get(key: string): Promise<MemcacheItem | null>;
  /** Stores an item if its CAS value is still `cas`. */
  set(key: string, value: string, expiration: number, cas?: Uint8Array): Promise<StoreOutcome>;
}

/** Tries before giving up when other writers keep changing the meta (each loss is one write). */
const MAX_TRIES = 100;

/** True for exactly one caller per group: the one that must send the chord callback. */
export async function triggerChordCas(
  store: CasStore,
  groupUUID: string,
  expiration: () => number,
): Promise<boolean> {
  for (let i = 0; i < MAX_TRIES; i++) {
    const item = await store.get(groupUUID);
    if (item === null) throw new GroupNotFoundError(groupUUID);
    const meta = decodeGroupMeta(item.value);
    if (meta.chordTriggered || meta.lock) return false;
    meta.chordTriggered = true;
    const outcome = await store.set(groupUUID, encodeGroupMeta(meta), expiration(), item.cas);
    if (outcome === "stored") return true;
    if (outcome === "not_found") throw new GroupNotFoundError(groupUUID);
  }
  throw new BackendError(
    `Could not update the group meta of ${groupUUID}: it changed ${MAX_TRIES} times in a row`,
  );
}
