/**
 * The Lua scripts of the Redis inspector: each repair moves or removes one thing in one atomic
 * step, so a dead letter retried while a worker rejects another is neither lost nor doubled.
 *
 * @module
 */
import type { ScriptDef } from "./_scripts.ts";
import { MAX_PRIORITY_LEVEL } from "./_priority.ts";

/**
 * Takes one dead-letter entry out (the exact entry text), keeping the byte count right, and,
 * when ARGV[2] is given, pushes that body onto the tail of KEYS[3], in the same step. Nothing
 * happens when the entry is gone already. KEYS: dead letters, dead-letter bytes, queue.
 * ARGV: entry, body or "" (delete only), "1" to push.
 */
export const TAKE_DEAD: ScriptDef = {
  name: "machineryInspectTakeDead1",
  keys: 3,
  lua: `
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return 0 end
if redis.call('LLEN', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[2])
else
  redis.call('DECRBY', KEYS[2], #ARGV[1])
end
if ARGV[3] == '1' then redis.call('RPUSH', KEYS[3], ARGV[2]) end
return 1
`,
};

/**
 * Empties a queue and its priority lists and says how many messages they held. KEYS: the queue,
 * then its priority lists.
 */
export const PURGE: ScriptDef = {
  name: "machineryInspectPurge2",
  keys: -1,
  lua: `
local n = 0
for _, list in ipairs(KEYS) do n = n + redis.call('LLEN', list) end
redis.call('DEL', unpack(KEYS))
return n
`,
};

/**
 * Finds the message of a task (the text '"UUID":"<uuid>"' in its body; in a dead-letter entry,
 * where the body is JSON-escaped, the bare UUID), looking at the first ARGV[3] messages of each
 * place, in this order: the queues (each with its priority lists, `<prefix>prio:<queue>:<level>`),
 * the consumers' processing hashes and landing lists, the delayed and requeued sets, the
 * dead-letter lists. Replies {where, queue, detail}, or an empty array. KEYS: delayed set,
 * requeued set, consumers set, consumer queues hash. ARGV: needle, UUID, limit, key prefix,
 * queue names…
 */
export const LOCATE: ScriptDef = {
  name: "machineryInspectLocate3",
  keys: 4,
  lua: `
local needle, uuid, limit, prefix = ARGV[1], ARGV[2], tonumber(ARGV[3]), ARGV[4]
local function has(s, n) return string.find(s, n or needle, 1, true) ~= nil end
for i = 5, #ARGV do
  local lists = {ARGV[i]}
  for level = ${MAX_PRIORITY_LEVEL}, 1, -1 do
    lists[#lists + 1] = prefix .. 'prio:' .. ARGV[i] .. ':' .. level
  end
  for _, list in ipairs(lists) do
    for _, m in ipairs(redis.call('LRANGE', list, 0, limit - 1)) do
      if has(m) then return {'queue', ARGV[i], ''} end
    end
  end
end
for _, id in ipairs(redis.call('ZRANGE', KEYS[3], 0, -1)) do
  local q = redis.call('HGET', KEYS[4], id) or ''
  for _, m in ipairs(redis.call('HVALS', prefix .. 'taken:' .. id)) do
    if has(m) then return {'held', q, id} end
  end
  for _, m in ipairs(redis.call('LRANGE', prefix .. 'landing:' .. id, 0, -1)) do
    if has(m) then return {'held', q, id} end
  end
end
for k = 1, 2 do
  for _, m in ipairs(redis.call('ZRANGE', KEYS[k], 0, limit - 1)) do
    if has(m) then return {'delayed', m, redis.call('ZSCORE', KEYS[k], m)} end
  end
end
for i = 5, #ARGV do
  for _, m in ipairs(redis.call('LRANGE', prefix .. 'dead:' .. ARGV[i], 0, limit - 1)) do
    if has(m, uuid) then return {'dead', ARGV[i], m} end
  end
end
return {}
`,
};
