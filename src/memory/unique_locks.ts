/**
 * Unique-task locks for one process: what the memory broker keeps (see `src/unique.ts`).
 *
 * @module
 */
import type { UniqueLocks } from "../unique.ts";

/** Unique locks in one process (the memory broker and backend). */
export function memoryUniqueLocks(now: () => number = Date.now): UniqueLocks {
  const locks = new Map<string, { uuid: string; until: number }>();
  const holder = (key: string) => {
    const lock = locks.get(key);
    if (lock && lock.until <= now()) locks.delete(key);
    return locks.get(key)?.uuid;
  };
  return {
    claim(key, uuid, ttlMs) {
      const held = holder(key);
      if (held === undefined) locks.set(key, { uuid, until: now() + ttlMs });
      return Promise.resolve(held);
    },
    replace(key, expected, uuid, ttlMs) {
      const ok = holder(key) === expected;
      if (ok) locks.set(key, { uuid, until: now() + ttlMs });
      return Promise.resolve(ok);
    },
    release(key, uuid) {
      if (holder(key) === uuid) locks.delete(key);
      return Promise.resolve();
    },
  };
}
