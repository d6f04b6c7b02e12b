/**
 * The shared rate limiter on Redis (see `src/rate_limit.ts`): one script per reservation, a
 * GCRA whose state is one key per task name, `<prefix>rate:<name>`, holding the theoretical
 * arrival time in ms of the server clock (`TIME`), so workers on hosts with skewed clocks agree.
 * The key expires once it is in the past, so an idle limit costs nothing.
 *
 * @module
 */
import type { Redis } from "ioredis";
import type { RateLimiter } from "../rate_limit.ts";
import { runScript, type ScriptDef } from "./_broker_scripts.ts";

/**
 * KEYS[1] the name's GCRA key; ARGV interval ms, burst. Reserves the next start and returns the
 * wait for it in ms (0: start now), as a string to keep fractions.
 */
const RESERVE: ScriptDef = {
  name: "machineryRateReserve",
  keys: 1,
  lua: `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000
local interval = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
if tat < now then tat = now end
local allow_at = tat - (burst - 1) * interval
if allow_at < now then allow_at = now end
local next_tat = tat + interval
redis.call('SET', KEYS[1], string.format('%.3f', next_tat), 'PX', math.ceil(next_tat - now) + 1000)
return string.format('%.3f', allow_at - now)
`,
};

/** The scripts to define on a client when it is made (ioredis pipelines copy them then). */
export const RATE_LIMIT_SCRIPTS: ScriptDef[] = [RESERVE];

/**
 * A limiter shared by every worker that reaches the same Redis with the same `prefix`, on the
 * client `connect` gives (made with {@linkcode RATE_LIMIT_SCRIPTS}).
 */
export function redisRateLimiter(connect: () => Promise<Redis>, prefix: string): RateLimiter {
  return {
    async reserve(name, limit) {
      const wait = await runScript<string>(await connect(), RESERVE, [`${prefix}rate:${name}`], [
        limit.intervalMs,
        limit.burst,
      ]);
      return Number(wait);
    },
  };
}
