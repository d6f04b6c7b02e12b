/**
 * Go machinery's chord lock: a redsync v4 mutex named `TriggerChordMutex` on one Redis
 * (quorum 1). Go workers take the same lock before they read and set `ChordTriggered`, so a TS
 * worker must take it too for a chord to fire exactly once in a mixed fleet.
 *
 * The protocol (redsync v4.8.1 defaults): `SET TriggerChordMutex <base64 of 16 random bytes> NX
 * PX 8000`; up to 32 tries, 50–250 ms apart at random; a try counts only when it finished within
 * 5 % of the expiry and left a validity window (expiry − elapsed − 1 % drift − 2 ms); release
 * with redsync's compare-and-delete script.
 *
 * @module
 */
import type { Redis } from "ioredis";

/** The one global lock key Go uses for every group. */
export const CHORD_MUTEX_KEY = "TriggerChordMutex";

/** redsync's release script, byte for byte. */
export const RELEASE_SCRIPT =
  'if redis.call("GET", KEYS[1]) == ARGV[1] then return redis.call("DEL", KEYS[1]) else return 0 end';

const EXPIRY_MS = 8000;
const TRIES = 32;
const DRIFT_MS = EXPIRY_MS * 0.01 + 2;
const TRY_TIMEOUT_MS = EXPIRY_MS * 0.05;

/** The lock could not be taken in 32 tries (Go's error text). */
export class ChordLockError extends Error {
  /** Creates the error with redsync's text. */
  constructor() {
    super("redsync: failed to acquire lock");
    this.name = "ChordLockError";
  }
}

/** A fresh lock value: base64 (standard, padded) of 16 random bytes, as redsync makes it. */
export function lockValue(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return btoa(String.fromCharCode(...bytes));
}

/** Runs `fn` while holding `TriggerChordMutex`; throws {@linkcode ChordLockError} if it cannot. */
export async function withChordMutex<T>(client: Redis, fn: () => Promise<T>): Promise<T> {
  const value = lockValue();
  let held = false;
  for (let i = 0; i < TRIES && !held; i++) {
    if (i > 0) await sleep(50 + Math.floor(Math.random() * 201));
    const start = Date.now();
    let ok = false;
    try {
      ok = (await client.set(CHORD_MUTEX_KEY, value, "PX", EXPIRY_MS, "NX")) === "OK";
    } catch {
      ok = false;
    }
    const elapsed = Date.now() - start;
    if (ok && elapsed <= TRY_TIMEOUT_MS && EXPIRY_MS - elapsed - DRIFT_MS > 0) {
      held = true;
    } else if (ok) {
      await release(client, value);
    }
  }
  if (!held) throw new ChordLockError();
  try {
    return await fn();
  } finally {
    await release(client, value);
  }
}

async function release(client: Redis, value: string): Promise<void> {
  try {
    await client.eval(RELEASE_SCRIPT, 1, CHORD_MUTEX_KEY, value);
  } catch {
    // The lock expires by itself after 8 s.
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
