/**
 * Priorities on Redis (opt-in, `redis.priorityQueues`): the per-level lists and the pick that
 * moves their heads into a consumer's landing list before each fetch.
 *
 * Go machinery ignores `Priority` on Redis and keeps one list per queue. With the switch on, a
 * task whose priority is above 0 goes to `<prefix>prio:<queue>:<level>` instead (level = its
 * priority, at most {@linkcode MAX_PRIORITY_LEVEL}); a default-priority task stays on Go's
 * list, which counts as level 0. The pick rule (`docs/architecture.md`):
 *
 * - each pick takes the head of the highest level that has tasks (FIFO within a level);
 * - except that a level passed over {@linkcode PRIORITY_PASS_LIMIT} picks in a row while it had
 *   tasks is due, and the highest due level is taken first; a pick resets the count of the
 *   level taken, and a level that runs empty forgets its count.
 *
 * So a waiting level is taken within `PRIORITY_PASS_LIMIT + MAX_PRIORITY_LEVEL + 1` picks (the
 * limit, plus at most one pick for each higher due level), and within `PRIORITY_PASS_LIMIT + 1`
 * when only two levels have tasks.
 *
 * @module
 */
import type { Redis } from "ioredis";
import type { ScriptDef } from "./_scripts.ts";

/** The highest level: a priority above it counts as this level. */
export const MAX_PRIORITY_LEVEL = 9;

/** The picks a level with tasks may be passed over before it is taken. */
export const PRIORITY_PASS_LIMIT = 50;

/** The level a priority goes to: 0 (Go's list) for 0, else 1..{@linkcode MAX_PRIORITY_LEVEL}. */
export function priorityLevel(priority: number): number {
  return Math.min(Math.max(0, Math.trunc(priority) || 0), MAX_PRIORITY_LEVEL);
}

/** The list of one level of a queue (level 1 and up; level 0 is the queue itself). */
export function priorityListKey(prefix: string, queue: string, level: number): string {
  return `${prefix}prio:${queue}:${level}`;
}

/** Every level list of a queue, level 1 first. */
export function priorityListKeys(prefix: string, queue: string): string[] {
  return Array.from(
    { length: MAX_PRIORITY_LEVEL },
    (_, i) => priorityListKey(prefix, queue, i + 1),
  );
}

/**
 * The tasks ready in a queue: Go's list and its priority lists. The lists count whatever this
 * process's switch says, since tasks in them are waiting either way.
 */
export async function readyLength(client: Redis, prefix: string, queue: string): Promise<number> {
  const lengths = await Promise.all(
    [queue, ...priorityListKeys(prefix, queue)].map((list) => client.llen(list)),
  );
  return lengths.reduce((a, b) => a + b, 0);
}

/** Hash: level → picks it has been passed over while it had tasks. */
export function priorityPassesKey(prefix: string, queue: string): string {
  return `${prefix}prio_passes:${queue}`;
}

/** The pub/sub channel that wakes idle consumers of a queue (the message is the queue name). */
export function priorityChannel(prefix: string): string {
  return `${prefix}prio_ready`;
}

/**
 * Moves up to ARGV[1] heads of a queue's levels into a consumer's landing list, in pick order
 * (the rule above, with ARGV[2] as the pass limit), and keeps the pass counts. What the landing
 * list held (a task of Go's list that the consumer's `BLMOVE` took while it waited) first goes
 * back to the head of Go's list, so that it waits its turn like the rest of level 0. Does nothing
 * (and forgets the counts) when every level list is empty: the fetch then takes from Go's list
 * as it does without priorities. Stops when only Go's list has tasks left, for the same reason.
 * KEYS: queue (level 0), landing, passes hash, the level lists 1..n. Returns how many moved.
 */
export const PRIORITY_PICK: ScriptDef = {
  name: "machineryPriorityPick",
  keys: -1,
  lua: `
local levels = #KEYS - 3
local len, waiting = {}, 0
for l = 1, levels do
  len[l] = redis.call('LLEN', KEYS[3 + l])
  waiting = waiting + len[l]
end
if waiting == 0 then
  redis.call('DEL', KEYS[3])
  return 0
end
-- What the consumer's BLMOVE took from Go's list goes back to its head, to be picked by the rule.
while redis.call('LMOVE', KEYS[2], KEYS[1], 'RIGHT', 'LEFT') do end
len[0] = redis.call('LLEN', KEYS[1])
local passes = {}
local flat = redis.call('HGETALL', KEYS[3])
for i = 1, #flat, 2 do passes[tonumber(flat[i])] = tonumber(flat[i + 1]) end
local want, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local moved = 0
while moved < want and waiting > 0 do
  local pick
  for l = levels, 0, -1 do
    if len[l] > 0 and (passes[l] or 0) >= limit then pick = l break end
  end
  if pick == nil then
    for l = levels, 0, -1 do
      if len[l] > 0 then pick = l break end
    end
  end
  redis.call('LMOVE', pick == 0 and KEYS[1] or KEYS[3 + pick], KEYS[2], 'LEFT', 'RIGHT')
  len[pick] = len[pick] - 1
  if pick > 0 then waiting = waiting - 1 end
  moved = moved + 1
  for l = 0, levels do
    if l == pick or len[l] == 0 then passes[l] = nil else passes[l] = (passes[l] or 0) + 1 end
  end
end
redis.call('DEL', KEYS[3])
local out = {}
for l = 0, levels do
  if passes[l] then
    out[#out + 1] = l
    out[#out + 1] = passes[l]
  end
end
if #out > 0 then redis.call('HSET', KEYS[3], unpack(out)) end
return moved
`,
};
