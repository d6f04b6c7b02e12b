/**
 * Unique-task locks on Redis (see `src/unique.ts`): `<prefix>unique:<key>` holds the UUID of the
 * task that claimed the key, with the window as its expiry (`PX`). Each step is one script, so
 * two senders never both take a key, and a release never frees a lock another task took over.
 *
 * @module
 */
import type { Redis } from "ioredis";
import type { UniqueLocks } from "../unique.ts";
import { runScript, type ScriptDef } from "./_broker_scripts.ts";

/** KEYS[1] lock; ARGV uuid, ttl ms. Returns the holder, or false when this call took it. */
const CLAIM: ScriptDef = {
  name: "machineryUniqueClaim",
  keys: 1,
  lua: `
local holder = redis.call('GET', KEYS[1])
if holder then return holder end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return false
`,
};

/** KEYS[1] lock; ARGV expected holder, uuid, ttl ms. Returns 1 when it took the lock over. */
const REPLACE: ScriptDef = {
  name: "machineryUniqueReplace",
  keys: 1,
  lua: `
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return 1
`,
};

/** KEYS[1] lock; ARGV uuid. Deletes the lock only while that task holds it. */
const RELEASE: ScriptDef = {
  name: "machineryUniqueRelease",
  keys: 1,
  lua: `
if redis.call('GET', KEYS[1]) == ARGV[1] then redis.call('DEL', KEYS[1]) end
return 0
`,
};

/** The scripts to define on a client when it is made (ioredis pipelines copy them then). */
export const UNIQUE_SCRIPTS: ScriptDef[] = [CLAIM, REPLACE, RELEASE];

/** Unique locks under `prefix` on the client `connect` gives (made with {@linkcode UNIQUE_SCRIPTS}). */
export function redisUniqueLocks(connect: () => Promise<Redis>, prefix: string): UniqueLocks {
  const lockKey = (key: string) => `${prefix}unique:${key}`;
  return {
    async claim(key, uuid, ttlMs) {
      const held = await runScript<string | null>(await connect(), CLAIM, [lockKey(key)], [
        uuid,
        Math.max(1, Math.ceil(ttlMs)),
      ]);
      return held ?? undefined;
    },
    async replace(key, holder, uuid, ttlMs) {
      const done = await runScript<number>(await connect(), REPLACE, [lockKey(key)], [
        holder,
        uuid,
        Math.max(1, Math.ceil(ttlMs)),
      ]);
      return done === 1;
    },
    async release(key, uuid) {
      await runScript(await connect(), RELEASE, [lockKey(key)], [uuid]);
    },
  };
}
