/**
 * The Redis broker's Lua scripts. Each one changes the keys it touches in one atomic step, so a
 * worker that dies between two calls never leaves a message in no list at all. Times come from
 * the server (`TIME`), so workers on hosts with skewed clocks agree on leases and due times.
 *
 * The scripts reach keys they compute (the processing lists of expired consumers, the queue named
 * in a delayed member), so they run on a single Redis or a Sentinel-managed one, not on a
 * Cluster.
 *
 * @module
 */
import type { Redis } from "ioredis";

/** A Lua script registered on a client under a name (EVALSHA, falling back to EVAL). */
export interface ScriptDef {
  /** The command name given to ioredis `defineCommand`. */
  readonly name: string;
  /** How many of the arguments are keys; -1: any number (the call passes them all as keys). */
  readonly keys: number;
  /** The script source. */
  readonly lua: string;
}

/** The server time in ms and ns, as Lua numbers (doubles; exact to about 256 ns). */
const NOW = `
local t = redis.call('TIME')
local now_us = tonumber(t[1]) * 1000000 + tonumber(t[2])
local now_ms = math.floor(now_us / 1000)
local now_ns = now_us * 1000
`;

/**
 * Moves up to ARGV[1] messages from the head of the queue to the tail of the consumer's
 * processing list, and returns them. KEYS: queue, processing.
 */
export const FETCH: ScriptDef = {
  name: "machineryFetch",
  keys: 2,
  lua: `
local items = redis.call('LPOP', KEYS[1], ARGV[1])
if not items then return {} end
redis.call('RPUSH', KEYS[2], unpack(items))
return items
`,
};

/** Ack: drops one copy of the body from the processing list. KEYS: processing. ARGV: body. */
export const ACK: ScriptDef = {
  name: "machineryAck",
  keys: 1,
  lua: `return redis.call('LREM', KEYS[1], 1, ARGV[1])`,
};

/** Ack many: drops one copy of each body. KEYS: processing. ARGV: the bodies. */
export const ACK_MANY: ScriptDef = {
  name: "machineryAckMany",
  keys: 1,
  lua: `
local n = 0
for _, body in ipairs(ARGV) do n = n + redis.call('LREM', KEYS[1], 1, body) end
return n
`,
};

/**
 * Requeue at once: from the processing list to the tail of the queue (as machinery RPUSHes).
 * Nothing happens when the body is no longer in the list (recovered by another worker).
 * KEYS: processing, queue. ARGV: body.
 */
export const REQUEUE: ScriptDef = {
  name: "machineryRequeue",
  keys: 2,
  lua: `
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[1])
return 1
`,
};

/**
 * Requeue later: from the processing list into the requeued set, due ARGV[2] ms from now, and a
 * wake-up notice to the consumers. KEYS: processing, requeued set. ARGV: body, delay ms, member,
 * channel.
 */
export const REQUEUE_LATER: ScriptDef = {
  name: "machineryRequeueLater",
  keys: 2,
  lua: `
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return 0 end
${NOW}
local score = string.format('%.0f', now_ns + tonumber(ARGV[2]) * 1000000)
redis.call('ZADD', KEYS[2], score, ARGV[3])
redis.call('PUBLISH', ARGV[4], score)
return 1
`,
};

/**
 * Reject: from the processing list to the dead-letter list, which keeps the newest ARGV[3]
 * entries. KEYS: processing, dead letters. ARGV: body, entry, limit.
 */
export const REJECT: ScriptDef = {
  name: "machineryReject",
  keys: 2,
  lua: `
if redis.call('LREM', KEYS[1], 1, ARGV[1]) == 0 then return 0 end
redis.call('RPUSH', KEYS[2], ARGV[2])
redis.call('LTRIM', KEYS[2], -tonumber(ARGV[3]), -1)
return 1
`,
};

/**
 * Gives back up to ARGV[2] copies of a body from the processing list to the head of the queue
 * (a message this process took but does not hold). KEYS: processing, queue. ARGV: body, count.
 */
export const RELEASE: ScriptDef = {
  name: "machineryRelease",
  keys: 2,
  lua: `
local n = redis.call('LREM', KEYS[1], tonumber(ARGV[2]), ARGV[1])
for i = 1, n do redis.call('LPUSH', KEYS[2], ARGV[1]) end
return n
`,
};

/**
 * Heartbeat: the consumer's lease score is the server time in ms. KEYS: consumers, queues.
 * ARGV: consumer id, queue.
 */
export const BEAT: ScriptDef = {
  name: "machineryBeat",
  keys: 2,
  lua: `
${NOW}
redis.call('ZADD', KEYS[1], now_ms, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[2])
return now_ms
`,
};

/**
 * Retires a consumer that stops: everything still in its processing list goes back to the head
 * of its queue, oldest first, and its lease is marked expired (not deleted, so a recoverer still
 * looks at the list for a while). KEYS: consumers, queues, processing, queue. ARGV: id, lease ms.
 */
export const RETIRE: ScriptDef = {
  name: "machineryRetire",
  keys: 4,
  lua: `
${NOW}
local n = 0
while redis.call('LMOVE', KEYS[3], KEYS[4], 'RIGHT', 'LEFT') do n = n + 1 end
redis.call('ZADD', KEYS[1], now_ms - tonumber(ARGV[2]) - 1, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], KEYS[4])
return n
`,
};

/**
 * Recovery: for every consumer whose lease expired, moves its processing list back to the head
 * of its queue (oldest first). A consumer expired for more than ARGV[2] ms with an empty list is
 * forgotten. KEYS: consumers, queues. ARGV: lease ms, forget-after ms, processing key prefix.
 * Returns the number of messages moved.
 */
export const RECOVER: ScriptDef = {
  name: "machineryRecover",
  keys: 2,
  lua: `
${NOW}
local lease = tonumber(ARGV[1])
local forget = tonumber(ARGV[2])
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_ms - lease, 'WITHSCORES', 'LIMIT', 0, 1000)
local moved = 0
for i = 1, #expired, 2 do
  local id = expired[i]
  local proc = ARGV[3] .. id
  local queue = redis.call('HGET', KEYS[2], id)
  if queue then
    while redis.call('LMOVE', proc, queue, 'RIGHT', 'LEFT') do moved = moved + 1 end
  end
  if tonumber(expired[i + 1]) < now_ms - forget and redis.call('LLEN', proc) == 0 then
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
 * the queue their member names. KEYS: delayed, requeued.
 * Returns `{moved, next delayed score or false, next requeued score or false, now ns}`.
 */
export const MOVE_DUE: ScriptDef = {
  name: "machineryMoveDue",
  keys: 2,
  lua: `
${NOW}
local batch = tonumber(ARGV[2])
local now_s = string.format('%.0f', now_ns)
local function routing_key(m)
  local ok, obj = pcall(cjson.decode, m)
  if ok and type(obj) == 'table' then
    local rk = obj['RoutingKey']
    if rk == nil then
      for k, v in pairs(obj) do
        if type(k) == 'string' and string.lower(k) == 'routingkey' then rk = v break end
      end
    end
    if type(rk) == 'string' and rk ~= '' then return rk end
  end
  return ARGV[1]
end
local moved = 0
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now_s, 'LIMIT', 0, batch)
for _, m in ipairs(due) do
  redis.call('ZREM', KEYS[1], m)
  redis.call('RPUSH', routing_key(m), m)
  moved = moved + 1
end
due = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now_s, 'LIMIT', 0, batch)
for _, m in ipairs(due) do
  redis.call('ZREM', KEYS[2], m)
  local colon = string.find(m, ':', 17, true)
  local qlen = tonumber(string.sub(m, 17, colon - 1))
  local queue = string.sub(m, colon + 1, colon + qlen)
  redis.call('RPUSH', queue, string.sub(m, colon + qlen + 1))
  moved = moved + 1
end
local n1 = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
local n2 = redis.call('ZRANGE', KEYS[2], 0, 0, 'WITHSCORES')
return {moved, n1[2] or false, n2[2] or false, now_s}
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

const ALL = [
  FETCH,
  ACK,
  ACK_MANY,
  REQUEUE,
  REQUEUE_LATER,
  REJECT,
  RELEASE,
  BEAT,
  RETIRE,
  RECOVER,
  DELAY,
  MOVE_DUE,
];

/** Registers every broker script on a client (once per client). */
export function defineScripts(client: Redis, scripts: ScriptDef[] = ALL): void {
  for (const s of scripts) {
    client.defineCommand(
      s.name,
      s.keys >= 0 ? { numberOfKeys: s.keys, lua: s.lua } : { lua: s.lua },
    );
  }
}

/** Runs a script defined with {@linkcode defineScripts}. */
export function runScript<T = unknown>(
  client: Redis,
  script: ScriptDef,
  keys: string[],
  args: (string | number)[],
): Promise<T> {
  const fn = (client as unknown as Record<string, (...a: (string | number)[]) => Promise<T>>)[
    script.name
  ];
  if (script.keys < 0) return fn.call(client, keys.length, ...keys, ...args);
  return fn.call(client, ...keys, ...args);
}
