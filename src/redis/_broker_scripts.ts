/**
 * The Redis broker's Lua scripts. Each one changes the keys it touches in one atomic step, so a
 * worker that dies between two calls never leaves a message in no list at all. Times come from
 * the server (`TIME`), so workers on hosts with skewed clocks agree on leases and due times.
 *
 * Some scripts reach keys they compute (the processing hashes of expired consumers, the queue
 * named in a delayed member). On a Redis Cluster every key a script touches is in one slot: the
 * keys of one queue are tagged to its slot (`_keys.ts`), recovery and the requeued sets run one
 * call per queue, and due members of `delayed_tasks` (Go's key, in a slot of its own) are claimed
 * by {@linkcode CLAIM_DUE} and pushed to their queues by the client, one by one.
 *
 * @module
 */
import type { Redis } from "ioredis";
import { MAX_PRIORITY_LEVEL } from "./_priority.ts";
import { registerScripts, runScript, type ScriptDef } from "./_scripts.ts";

export { runScript, type ScriptDef };

/** The server time in ms and ns, as Lua numbers (doubles; exact to about 256 ns). */
const NOW = `
local t = redis.call('TIME')
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local now_ms = math.floor(now_us / 1000)
local now_ns = now_us * 1000
`;

/**
 * Appends an entry to a dead-letter list and keeps the list within a count and a byte budget
 * (oldest out first, the newest always kept). The bytes are counted in a key of their own,
 * reset whenever the list starts afresh.
 */
const DEAD_LETTER = `
local function dead_letter(key, bytes_key, entry, limit, max_bytes)
  local n = redis.call('RPUSH', key, entry)
  local total
  if n == 1 then
    redis.call('SET', bytes_key, #entry)
    total = #entry
  else
    total = redis.call('INCRBY', bytes_key, #entry)
  end
  while n > 1 and (n > limit or total > max_bytes) do
    local old = redis.call('LPOP', key)
    total = redis.call('DECRBY', bytes_key, #old)
    n = n - 1
  end
end
`;

/** ISO 8601 text (UTC, ms) for a time in ms since the epoch, as `Date#toISOString` writes it. */
const ISO_TIME = `
local function iso_time(ms)
  local s = math.floor(ms / 1000)
  local days = math.floor(s / 86400)
  local secs = s - days * 86400
  local z = days + 719468
  local era = math.floor(z / 146097)
  local doe = z - era * 146097
  local yoe = math.floor((doe - math.floor(doe / 1460) + math.floor(doe / 36524) - math.floor(doe / 146096)) / 365)
  local y = yoe + era * 400
  local doy = doe - (365 * yoe + math.floor(yoe / 4) - math.floor(yoe / 100))
  local mp = math.floor((5 * doy + 2) / 153)
  local d = doy - math.floor((153 * mp + 2) / 5) + 1
  local m = mp < 10 and mp + 3 or mp - 9
  if m <= 2 then y = y + 1 end
  return string.format('%04d-%02d-%02dT%02d:%02d:%02d.%03dZ', y, m, d,
    math.floor(secs / 3600), math.floor(secs % 3600 / 60), secs % 60, ms % 1000)
end
`;

/** How many bytes of an oversize body come back to the worker (enough to find its UUID). */
export const OVERSIZE_PREVIEW_BYTES = 1024;

/**
 * Takes up to ARGV[1] messages for a consumer: first what its `BLMOVE` put in its landing list,
 * then more from the head of the queue; they go into its processing hash under consecutive
 * sequence numbers from ARGV[2] (never more than ARGV[1] numbers, so the caller's next range
 * cannot overlap), and come back in that order. Each list is trimmed only after the hash holds
 * what was read from it, so a failing write loses nothing.
 *
 * A body longer than ARGV[3] bytes (0: no limit) never leaves Redis whole: it goes to the
 * dead-letter list with the reason and its first ARGV[6] bytes, and only its size and first
 * bytes (`OVERSIZE_PREVIEW_BYTES`) come back, as a last element `{{size, first bytes}, …}`
 * after the bodies. KEYS: queue, processing hash, landing list, dead letters, dead-letter
 * bytes. ARGV: count, first number, size limit, dead-letter count limit, dead-letter byte
 * limit, bytes kept of a dead body, queue name.
 *
 * The client never reuses a number, so when ARGV[2] is taken already this is the same call sent
 * again (ioredis resends a command whose reply a lost connection swallowed): it answers with
 * what the first run took instead of taking more under the same numbers, which would overwrite
 * them and lose those messages.
 */
export const FETCH: ScriptDef = {
  name: "machineryFetch4",
  keys: 5,
  lua: `
${ISO_TIME}
${DEAD_LETTER}
local first = tonumber(ARGV[2])
if redis.call('HEXISTS', KEYS[2], ARGV[2]) == 1 then
  local fields = {}
  for i = 1, tonumber(ARGV[1]) do fields[i] = string.format('%d', first + i - 1) end
  local taken = {}
  for _, body in ipairs(redis.call('HMGET', KEYS[2], unpack(fields))) do
    if not body then break end
    taken[#taken + 1] = body
  end
  return taken
end
local want = tonumber(ARGV[1])
local items = redis.call('LRANGE', KEYS[3], 0, want - 1)
local landed = #items
if landed < want then
  for _, body in ipairs(redis.call('LRANGE', KEYS[1], 0, want - landed - 1)) do
    items[#items + 1] = body
  end
end
if #items == 0 then return {} end
local limit = tonumber(ARGV[3])
local out, pairs_, aside = {}, {}, nil
for _, body in ipairs(items) do
  if limit > 0 and #body > limit then
    ${NOW}
    local keep = tonumber(ARGV[6])
    dead_letter(KEYS[4], KEYS[5], cjson.encode({
      queue = ARGV[7],
      reason = 'Message of ' .. #body .. ' bytes exceeds the limit of ' .. ARGV[3] .. ' bytes',
      rejectedAt = iso_time(now_ms),
      body = string.sub(body, 1, keep),
      bytes = #body,
      truncated = #body > keep,
    }), tonumber(ARGV[4]), tonumber(ARGV[5]))
    aside = aside or {}
    aside[#aside + 1] = {#body, string.sub(body, 1, ${OVERSIZE_PREVIEW_BYTES})}
  else
    out[#out + 1] = body
    pairs_[#pairs_ + 1] = string.format('%d', first + #out - 1)
    pairs_[#pairs_ + 1] = body
  end
end
if #pairs_ > 0 then redis.call('HSET', KEYS[2], unpack(pairs_)) end
if landed > 0 then redis.call('LTRIM', KEYS[3], landed, -1) end
if #items > landed then redis.call('LTRIM', KEYS[1], #items - landed, -1) end
if aside then out[#out + 1] = aside end
return out
`,
};

/**
 * Requeue at once: from the processing hash to the tail of the queue (as machinery RPUSHes).
 * The entry is removed only once the queue holds the message. Nothing happens when the entry
 * is gone (recovered by another worker). KEYS: processing, queue. ARGV: sequence number, body
 * (the message, or what replaces it).
 */
export const REQUEUE: ScriptDef = {
  name: "machineryRequeue3",
  keys: 2,
  lua: `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
`,
};

/**
 * Requeue later: from the processing hash into the requeued set, due ARGV[2] ms from now, and a
 * wake-up notice to the consumers; the entry is removed only once the set holds the member.
 * KEYS: processing, requeued set. ARGV: sequence number, delay ms, member, channel.
 */
export const REQUEUE_LATER: ScriptDef = {
  name: "machineryRequeueLater3",
  keys: 2,
  lua: `
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
${NOW}
local score = string.format('%.0f', now_ns + tonumber(ARGV[2]) * 1000000)
redis.call('ZADD', KEYS[2], score, ARGV[3])
redis.call('HDEL', KEYS[1], ARGV[1])
redis.call('PUBLISH', ARGV[4], score)
return 1
`,
};

/**
 * Reject: from the processing hash to the dead-letter list, which keeps the newest ARGV[3]
 * entries and at most ARGV[4] bytes; the entry is removed only once the list holds it.
 * KEYS: processing, dead letters, dead-letter bytes. ARGV: sequence number, entry, count
 * limit, byte limit.
 */
export const REJECT: ScriptDef = {
  name: "machineryReject3",
  keys: 3,
  lua: `
${DEAD_LETTER}
if redis.call('HEXISTS', KEYS[1], ARGV[1]) == 0 then return 0 end
dead_letter(KEYS[2], KEYS[3], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]))
redis.call('HDEL', KEYS[1], ARGV[1])
return 1
`,
};

/**
 * Gives entries of the processing hash back to the head of the queue, keeping their order (a
 * message this process took but does not hold, or took while stopping); each entry is removed
 * only once the queue holds it. KEYS: processing, queue. ARGV: sequence numbers, ascending.
 */
export const RELEASE: ScriptDef = {
  name: "machineryRelease3",
  keys: 2,
  lua: `
local n = 0
for i = #ARGV, 1, -1 do
  local body = redis.call('HGET', KEYS[1], ARGV[i])
  if body then
    redis.call('LPUSH', KEYS[2], body)
    redis.call('HDEL', KEYS[1], ARGV[i])
    n = n + 1
  end
end
return n
`,
};

/**
 * Moves everything a consumer holds back to the head of a queue: its processing hash in
 * sequence order (oldest at the head), then, behind those, its landing list. Returns how many.
 */
const GIVE_BACK = `
local function give_back(proc, landing, queue)
  local n = 0
  while redis.call('LMOVE', landing, queue, 'RIGHT', 'LEFT') do n = n + 1 end
  local flat = redis.call('HGETALL', proc)
  if #flat == 0 then return n end
  local entries = {}
  for i = 1, #flat, 2 do entries[#entries + 1] = {tonumber(flat[i]), flat[i + 1]} end
  table.sort(entries, function(a, b) return a[1] > b[1] end)
  for _, e in ipairs(entries) do redis.call('LPUSH', queue, e[2]) end
  redis.call('DEL', proc)
  return n + #entries
end
`;

/**
 * Heartbeat: the consumer's lease score becomes the server time in ms. With a lease length in
 * ARGV[2] (0 for the first beat, which creates the lease), a lease that lapsed (expired, or gone)
 * is noticed here: what the consumer holds is given back to the head of its queue, as recovery
 * does (recovery may have done it already), and the reply says so, so the consumer drops its
 * copies instead of running them a second time. A fresh lease starts either way.
 * KEYS: consumers, queues, processing, landing, queue. ARGV: consumer id, lease ms.
 * Returns 1 when the lease had lapsed, else 0.
 */
export const BEAT: ScriptDef = {
  name: "machineryBeat2",
  keys: 5,
  lua: `
${NOW}
${GIVE_BACK}
local lease = tonumber(ARGV[2])
local lapsed = 0
if lease > 0 then
  local score = redis.call('ZSCORE', KEYS[1], ARGV[1])
  if not score or tonumber(score) <= now_ms - lease then
    lapsed = 1
    give_back(KEYS[3], KEYS[4], KEYS[5])
  end
end
redis.call('ZADD', KEYS[1], now_ms, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], KEYS[5])
return lapsed
`,
};

/**
 * Retires a consumer that stops: everything it still holds goes back to the head of its
 * queue, oldest first, and its lease is marked expired (not deleted, so a recoverer still looks
 * at its keys for a while). KEYS: consumers, queues, processing, landing, queue. ARGV: id,
 * lease ms.
 */
export const RETIRE: ScriptDef = {
  name: "machineryRetire2",
  keys: 5,
  lua: `
${NOW}
${GIVE_BACK}
local n = give_back(KEYS[3], KEYS[4], KEYS[5])
redis.call('ZADD', KEYS[1], now_ms - tonumber(ARGV[2]) - 1, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], KEYS[5])
return n
`,
};

/**
 * Recovery: for every consumer whose lease expired, gives back what it held to the head of its
 * queue (oldest first). A consumer expired for more than ARGV[2] ms that holds nothing is
 * forgotten. KEYS: consumers, queues. ARGV: lease ms, forget-after ms, processing key prefix,
 * landing key prefix. Returns the number of messages moved.
 */
export const RECOVER: ScriptDef = {
  name: "machineryRecover3",
  keys: 2,
  lua: `
${NOW}
${GIVE_BACK}
local lease = tonumber(ARGV[1])
local forget = tonumber(ARGV[2])
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms - lease, 'WITHSCORES', 'LIMIT', 0, 1000)
local moved = 0
for i = 1, #expired, 2 do
  local id = expired[i]
  local proc = ARGV[3] .. id
  local landing = ARGV[4] .. id
  local queue = redis.call('HGET', KEYS[2], id)
  if queue then
    -- One consumer whose queue cannot take messages (not a list) must not stop the others.
    local ok, n = pcall(give_back, proc, landing, queue)
    if ok then moved = moved + n end
  end
  if tonumber(expired[i + 1]) < now_ms - forget and redis.call('EXISTS', proc, landing) == 0 then
    redis.call('ZREM', KEYS[1], id)
    redis.call('HDEL', KEYS[2], id)
  end
end
return moved
`,
};

/** ZADD to the delayed set, then a wake-up notice. KEYS: delayed. ARGV: score, member, channel. */
export const DELAY: ScriptDef = {
  name: "machineryDelay",
  keys: 1,
  lua: `
redis.call('ZADD', KEYS[1], ARGV[1], ARGV[2])
redis.call('PUBLISH', ARGV[3], ARGV[1])
return 1
`,
};

/**
 * Moves due messages, earliest first, at most ARGV[2] from each set: members of the delayed set
 * (machinery's `delayed_tasks`) go to the tail of the queue named by their `RoutingKey` (the
 * default queue ARGV[1] when empty or unreadable), unchanged; members of the requeued set go to
 * the queue their member names. A member leaves its set only once its queue holds it; one whose
 * queue cannot take it (a key of another type) goes to that queue's dead-letter list instead,
 * with the reason, so it neither vanishes nor blocks the members behind it. KEYS: delayed,
 * requeued. ARGV: default queue, batch, key prefix, dead-letter count limit, dead-letter byte
 * limit, bytes kept of a dead body, and `1` when `redis.priorityQueues` is on: then a delayed
 * member whose `Priority` is above 0 goes to its level's list instead (`_priority.ts`), and the
 * consumers of its queue are woken. ARGV[8] `1` leaves the delayed set alone (on a cluster, where
 * each queue's requeued set gets a call of its own, KEYS[1] is that set again).
 * Returns `{handled, next delayed score or false, next requeued score or false, now ns}`.
 */
export const MOVE_DUE: ScriptDef = {
  name: "machineryMoveDue2",
  keys: 2,
  lua: `
${NOW}
${ISO_TIME}
${DEAD_LETTER}
local batch = tonumber(ARGV[2])
local now_s = string.format('%.0f', now_ns)
local prio_ready = {}
local function routing_key(m)
  local ok, obj = pcall(cjson.decode, m)
  if ok and type(obj) == 'table' then
    local rk = obj['RoutingKey']
    if rk == nil then
      for k, v in pairs(obj) do
        if type(k) == 'string' and string.lower(k) == 'routingkey' then rk = v break end
      end
    end
    local queue = (type(rk) == 'string' and rk ~= '') and rk or ARGV[1]
    local p = ARGV[7] == '1' and tonumber(obj['Priority'])
    if p and p >= 1 then
      prio_ready[queue] = true
      return ARGV[3] .. 'prio:' .. queue .. ':' .. math.min(math.floor(p), ${MAX_PRIORITY_LEVEL})
    end
    return queue
  end
  return ARGV[1]
end
local moved = 0
local function move(set, m, queue, body)
  local pushed = redis.pcall('RPUSH', queue, body)
  if type(pushed) == 'table' and pushed.err then
    local keep = tonumber(ARGV[6])
    local entry = cjson.encode({
      queue = queue,
      reason = 'Could not move a due message to "' .. queue .. '": ' .. pushed.err,
      rejectedAt = iso_time(now_ms),
      body = string.sub(body, 1, keep),
      bytes = #body,
      truncated = #body > keep,
    })
    dead_letter(ARGV[3] .. 'dead:' .. queue, ARGV[3] .. 'dead_bytes:' .. queue, entry,
      tonumber(ARGV[4]), tonumber(ARGV[5]))
  end
  redis.call('ZREM', set, m)
  moved = moved + 1
end
local with_delayed = ARGV[8] ~= '1'
if with_delayed then
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_s, 'LIMIT', 0, batch)) do
    move(KEYS[1], m, routing_key(m), m)
  end
end
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now_s, 'LIMIT', 0, batch)) do
  local colon = string.find(m, ':', 17, true)
  local qlen = tonumber(string.sub(m, 17, colon - 1))
  move(KEYS[2], m, string.sub(m, colon + 1, colon + qlen), string.sub(m, colon + qlen + 1))
end
for queue in pairs(prio_ready) do redis.call('PUBLISH', ARGV[3] .. 'prio_ready', queue) end
local n1 = with_delayed and redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES') or {}
local n2 = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
return {moved, n1[2] or false, n2[2] or false, now_s}
`,
};

/**
 * Claims due members of the delayed set (cluster only): they move, earliest first, into a claims
 * set in the same slot, scored by the server time in ms; the client then pushes each to its
 * queue (another slot) and only then removes its claim. A claim older than ARGV[2] ms (its
 * mover died, or lost Redis, between the push and the removal) is handed out again, so a member
 * is never lost between the two steps; it may be pushed twice after such a failure. KEYS:
 * delayed, claims. ARGV: batch, stale ms. Returns `{members, next delayed score or false, now ns}`.
 */
export const CLAIM_DUE: ScriptDef = {
  name: "machineryClaimDue",
  keys: 2,
  lua: `
${NOW}
local batch = tonumber(ARGV[1])
local now_s = string.format('%.0f', now_ns)
local out = {}
for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now_ms - tonumber(ARGV[2]), 'LIMIT', 0, batch)) do
  redis.call('ZADD', KEYS[2], now_ms, m)
  out[#out + 1] = m
end
if #out < batch then
  for _, m in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_s, 'LIMIT', 0, batch - #out)) do
    redis.call('ZADD', KEYS[2], now_ms, m)
    redis.call('ZREM', KEYS[1], m)
    out[#out + 1] = m
  end
end
local n1 = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {out, n1[2] or false, now_s}
`,
};

/**
 * Appends one dead letter (a due member whose queue refused it, on a cluster where the move is
 * not a script). KEYS: dead letters, dead-letter bytes. ARGV: entry, count limit, byte limit.
 */
export const DEAD_LETTER_ADD: ScriptDef = {
  name: "machineryDeadLetterAdd",
  keys: 2,
  lua: `
${DEAD_LETTER}
dead_letter(KEYS[1], KEYS[2], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]))
return 1
`,
};

/**
 * A member of the requeued set: a 16-character nonce (so two copies of one body stay two
 * members), the queue's length, `:`, the queue, then the body.
 */
export function requeuedMember(queue: string, body: string): string {
  const nonce = crypto.randomUUID().replaceAll("-", "").slice(0, 16);
  return `${nonce}${utf8Length(queue)}:${queue}${body}`;
}

/** Splits a requeued-set member into its queue and body (the inverse of `requeuedMember`). */
export function parseRequeuedMember(member: string): { queue: string; body: string } {
  const colon = member.indexOf(":", 16);
  const qlen = Number(member.slice(16, colon));
  const bytes = new TextEncoder().encode(member.slice(colon + 1));
  const queue = new TextDecoder().decode(bytes.subarray(0, qlen));
  const body = new TextDecoder().decode(bytes.subarray(qlen));
  return { queue, body };
}

function utf8Length(s: string): number {
  return new TextEncoder().encode(s).length;
}

/** Every broker script (what `defineScripts` defines by default). */
export const ALL_BROKER_SCRIPTS: ScriptDef[] = [
  FETCH,
  REQUEUE,
  REQUEUE_LATER,
  REJECT,
  RELEASE,
  BEAT,
  RETIRE,
  RECOVER,
  DELAY,
  MOVE_DUE,
  CLAIM_DUE,
  DEAD_LETTER_ADD,
];

/** Registers every broker script (or the ones given) on a client, once per client. */
export function defineScripts(client: Redis, scripts: ScriptDef[] = ALL_BROKER_SCRIPTS): void {
  registerScripts(client, scripts);
}
