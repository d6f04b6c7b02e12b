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
 * Where redsync gives up after its 32 tries, we keep trying with a growing back-off (up to 5 s
 * apart) for a few minutes: a chord whose lock is busy fires late rather than never. A key of
 * that name that cannot be a redsync lock (not a string, no expiry, or more than 8 s left: a
 * task state written under the UUID `TriggerChordMutex`, say) would block every chord until it
 * expires, so it is removed.
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
/** How long to keep trying after redsync's tries, by default. */
const DEFAULT_WAIT_MS = 5 * 60_000;
const MAX_BACKOFF_MS = 5_000;

/**
 * Deletes the lock key when it cannot be a redsync lock: another type, no expiry, or a longer
 * expiry than any redsync lock has. Returns 1 when it deleted it.
 */
export const CLEAR_IMPOSTOR_SCRIPT = `
local kind = redis.call('TYPE', KEYS[1])['ok']
if kind == 'none' then return 0 end
local ttl = redis.call('PTTL', KEYS[1])
if kind ~= 'string' or ttl == -1 or ttl > tonumber(ARGV[1]) then
  redis.call('DEL', KEYS[1])
  return 1
end
return 0
`;

/** Options for {@linkcode withChordMutex}. */
export interface ChordMutexOptions {
  /** How long to keep trying after redsync's 32 tries, in ms (5 minutes). */
  waitMs?: number;
  /** Stops the tries (the backend is closing). */
  signal?: AbortSignal;
  /** Told when a key that cannot be a lock was removed. */
  onImpostor?: () => void;
}

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

/**
 * Runs `fn` while holding `TriggerChordMutex`: redsync's 32 tries, then more with back-off
 * until `waitMs` passed; throws {@linkcode ChordLockError} if it still cannot.
 */
export async function withChordMutex<T>(
  client: Redis,
  fn: () => Promise<T>,
  options: ChordMutexOptions = {},
): Promise<T> {
  const value = lockValue();
  const giveUpAt = Date.now() + (options.waitMs ?? DEFAULT_WAIT_MS);
  let held = false;
  let backoff = 250;
  for (let i = 0; !held; i++) {
    if (options.signal?.aborted) break;
    if (i >= TRIES) {
      if (Date.now() >= giveUpAt) break;
      await clearImpostor(client, options);
      await sleep(backoff / 2 + Math.floor(Math.random() * backoff / 2));
      backoff = Math.min(MAX_BACKOFF_MS, backoff * 2);
    } else if (i > 0) await sleep(50 + Math.floor(Math.random() * 201));
    held = await tryLock(client, value);
  }
  if (!held) throw new ChordLockError();
  try {
    return await fn();
  } finally {
    await release(client, value);
  }
}

/** One redsync try: SET NX PX, counted only when it left a validity window. */
async function tryLock(client: Redis, value: string): Promise<boolean> {
  const start = Date.now();
  let ok = false;
  try {
    ok = (await client.set(CHORD_MUTEX_KEY, value, "PX", EXPIRY_MS, "NX")) === "OK";
  } catch {
    ok = false;
  }
  const elapsed = Date.now() - start;
  if (ok && elapsed <= TRY_TIMEOUT_MS && EXPIRY_MS - elapsed - DRIFT_MS > 0) return true;
  if (ok) await release(client, value);
  return false;
}

async function clearImpostor(client: Redis, options: ChordMutexOptions): Promise<void> {
  try {
    const cleared = await client.eval(CLEAR_IMPOSTOR_SCRIPT, 1, CHORD_MUTEX_KEY, EXPIRY_MS);
    if (cleared === 1) options.onImpostor?.();
  } catch {
    // Redis is away: the next try finds out again.
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
