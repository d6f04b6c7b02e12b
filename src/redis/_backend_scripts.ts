/**
 * The Redis result backend's Lua scripts: the TaskName/CreatedAt merge in one round trip (and a
 * cancel's FAILURE written only over a state that is not final), the
 * incremental group-completion check, and the ChordTriggered flip.
 *
 * They read and write machinery's JSON as text, never re-encoding it with Lua's JSON library
 * (which escapes differently from Go), so the bytes stay Go's.
 *
 * @module
 */
import type { ScriptDef } from "./_scripts.ts";

/** Finds the JSON string token that starts at byte `i` (nil when there is none). */
const STRING_AT = `
local function string_at(s, i)
  if string.sub(s, i, i) ~= '"' then return nil end
  local j = i + 1
  while true do
    local k = string.find(s, '["\\\\]', j)
    if not k then return nil end
    if string.sub(s, k, k) == '"' then return string.sub(s, i, k) end
    j = k + 2
  end
end
`;

/**
 * Splits one state argument (see `stateArg` in `backend.ts`) into Go's bytes around the merged
 * fields: `mid` is `<State>","Results":…,"Error":…`; the optional tail after a NUL holds the
 * TaskUUID, TaskName and CreatedAt tokens to use instead of the defaults (the key quoted, `""`,
 * the zero time). NUL never occurs in our JSON tokens (Go escapes control characters).
 */
const PARSE_ARG = `
local function parse_arg(key, arg)
  local uuid, name, created = '"' .. key .. '"', '""', '"0001-01-01T00:00:00Z"'
  local nul = string.find(arg, '\\0', 1, true)
  if not nul then return arg, uuid, name, created end
  local mid = string.sub(arg, 1, nul - 1)
  local n2 = string.find(arg, '\\0', nul + 1, true)
  local n3 = string.find(arg, '\\0', n2 + 1, true)
  local u = string.sub(arg, nul + 1, n2 - 1)
  local n = string.sub(arg, n2 + 1, n3 - 1)
  local c = string.sub(arg, n3 + 1)
  if u ~= '' then uuid = u end
  if n ~= '' then name = n end
  if c ~= '' then created = c end
  return mid, uuid, name, created
end
local function state_json(uuid, name, mid, created)
  return '{"TaskUUID":' .. uuid .. ',"TaskName":' .. name .. ',"State":"' .. mid ..
    ',"CreatedAt":' .. created .. ',"TTL":0}'
end
`;

/**
 * Go's merge of one state argument with the stored state `old` (false when none): the result
 * keeps `old`'s TaskName and CreatedAt, as Go's Redis backend does.
 */
const MERGED_JSON = `
${STRING_AT}
${PARSE_ARG}
local function merged_json(key, arg, old)
  local mid, uuid, name, created = parse_arg(key, arg)
  if old then
    local _, e = string.find(old, '"TaskName":', 1, true)
    if e then name = string_at(old, e + 1) or name end
    -- CreatedAt is the last but one key in Go's bytes: look near the end first.
    local last
    local pos = math.max(1, #old - 100)
    for _ = 1, 2 do
      while true do
        local _, e2 = string.find(old, '"CreatedAt":', pos, true)
        if not e2 then break end
        last = e2
        pos = e2 + 1
      end
      if last then break end
      pos = 1
    end
    if last then created = string_at(old, last + 1) or created end
  end
  return state_json(uuid, name, mid, created)
end
`;

/**
 * Writes task states with Go's merge (the TaskName and CreatedAt of the stored state are kept):
 * GET, then SET … EX, for each key in order, atomically. The script assembles Go's bytes
 * (`{"TaskUUID":…,"TaskName":…,"State":"…","Results":…,"Error":…,"CreatedAt":…,"TTL":0}`)
 * from one short argument per state, so Redis does little per state and the client sends few
 * arguments. A key that holds another type (its GET fails with WRONGTYPE) is left alone and
 * reported, and the other writes go ahead. KEYS: the task UUIDs (a key may repeat; its writes
 * happen in order). ARGV: ttl, then one state argument per key.
 * Returns `{index, error, …}` for the keys not written (1-based), empty when all were.
 */
export const MERGE_STATES: ScriptDef = {
  name: "machineryMergeStates5",
  keys: -1,
  lua: `
${MERGED_JSON}
local ttl = ARGV[1]
local failed = {}
for i, key in ipairs(KEYS) do
  local old = redis.pcall('GET', key)
  if type(old) == 'table' and old.err then
    failed[#failed + 1] = i
    failed[#failed + 1] = old.err
  else
    redis.call('SET', key, merged_json(key, ARGV[i + 1], old), 'EX', ttl)
  end
end
return failed
`,
};

/**
 * Writes one state with {@linkcode MERGE_STATES}' merge, unless the stored state is final
 * (SUCCESS or FAILURE): a cancel's FAILURE must not replace the outcome of a task that finished
 * meanwhile. One key, so it runs on a Redis Cluster as well. The first `"State":"` in Go's bytes
 * is the field (TaskUUID and TaskName before it are strings, where a quote is escaped).
 * KEYS: the task UUID. ARGV: ttl, one state argument.
 * Returns 1 when it wrote, 0 when the stored state was final, or the error text when the key
 * holds another type.
 */
export const MERGE_STATE_UNLESS_COMPLETED: ScriptDef = {
  name: "machineryMergeStateUnlessCompleted",
  keys: 1,
  lua: `
${MERGED_JSON}
local old = redis.pcall('GET', KEYS[1])
if type(old) == 'table' and old.err then return old.err end
if old then
  local _, e = string.find(old, '"State":"', 1, true)
  local s = e and string.sub(old, e + 1, e + 8)
  if s == 'SUCCESS"' or s == 'FAILURE"' then return 0 end
end
redis.call('SET', KEYS[1], merged_json(KEYS[1], ARGV[2], old), 'EX', ARGV[1])
return 1
`,
};

/**
 * Writes task states as they are, without a merge (PENDING: Go's `SetStatePending` is a plain
 * `SET … EX`), from the same arguments as {@linkcode MERGE_STATES}. `SET … GET` refuses to
 * replace a key of another type (a plain SET would destroy it): that key is reported, and the
 * other writes go ahead. KEYS: the task UUIDs. ARGV: ttl, then one state argument per key.
 * Returns `{index, error, …}` for the keys not written (1-based), empty when all were.
 */
export const SET_STATES: ScriptDef = {
  name: "machinerySetStates3",
  keys: -1,
  lua: `
${PARSE_ARG}
local ttl = ARGV[1]
local failed = {}
for i, key in ipairs(KEYS) do
  local mid, uuid, name, created = parse_arg(key, ARGV[i + 1])
  local r = redis.pcall('SET', key, state_json(uuid, name, mid, created), 'EX', ttl, 'GET')
  if type(r) == 'table' and r.err then
    failed[#failed + 1] = i
    failed[#failed + 1] = r.err
  end
end
return failed
`,
};

/**
 * Copies the members' UUIDs from the group meta (KEYS[1]) into the members list (KEYS[2]) once,
 * and renews its expiry (ARGV[1]). Returns the member count, -1 when the meta is missing, -2
 * when it does not decode, or `{}` for a group without members.
 */
const MEMBERS_LIST = `
local function members_list()
  local n = redis.call('LLEN', KEYS[2])
  if n == 0 then
    local meta = redis.call('GET', KEYS[1])
    if not meta then return -1 end
    local ok, obj = pcall(cjson.decode, meta)
    if not ok or type(obj) ~= 'table' then return -2 end
    local ids = obj['TaskUUIDs']
    if type(ids) ~= 'table' or #ids == 0 then return {} end
    for i = 1, #ids, 1000 do
      redis.call('RPUSH', KEYS[2], unpack(ids, i, math.min(i + 999, #ids)))
    end
    n = #ids
  end
  redis.call('EXPIRE', KEYS[2], ARGV[1])
  return n
end
`;

/**
 * The group-completion check, O(1) amortised per finished member. The members' UUIDs are copied
 * once from the group meta into a list; a cursor remembers how many members, in group order,
 * were seen completed (SUCCESS or FAILURE). Each call reads states from the cursor on and stops
 * at the first member not completed, so over a whole group each state is read about once plus
 * once per call, whichever worker (Go or TS) wrote it. A completed state only changes again when
 * a duplicate delivery runs the task again, which ends completed too, so the cursor never has to
 * go back.
 * KEYS: group meta, members list, cursor. ARGV: ttl.
 * Returns `{completed prefix, member count}`, or -1 when the group meta is missing, -2 when it
 * does not decode.
 */
export const GROUP_COMPLETED: ScriptDef = {
  name: "machineryGroupCompleted",
  keys: 3,
  lua: `
${MEMBERS_LIST}
local n = members_list()
if type(n) == 'table' then return {0, 0} end
if n < 0 then return n end
local c = tonumber(redis.call('GET', KEYS[3]) or '0')
local start = c
while c < n do
  local ids = redis.call('LRANGE', KEYS[2], c, c + 99)
  local states = redis.call('MGET', unpack(ids))
  local stop = false
  for i = 1, #ids do
    local v = states[i]
    if not v or not (string.find(v, '"State":"SUCCESS"', 1, true) or
                     string.find(v, '"State":"FAILURE"', 1, true)) then
      stop = true
      break
    end
    c = c + 1
  end
  if stop or #ids == 0 then break end
end
if c ~= start or redis.call('EXISTS', KEYS[3]) == 0 then
  redis.call('SET', KEYS[3], c, 'EX', ARGV[1])
end
return {c, n}
`,
};

/**
 * The cluster half of {@linkcode GROUP_COMPLETED}: the member states live in other slots, so the
 * script only keeps the members list and cursor (in the group meta's slot) and hands back the
 * members from the cursor on; the client reads their states and moves the cursor.
 * KEYS: group meta, members list, cursor. ARGV: ttl, how many members to return.
 * Returns `{cursor, member count, members from the cursor…}`, or -1 / -2 as GROUP_COMPLETED.
 */
export const GROUP_MEMBERS_FROM_CURSOR: ScriptDef = {
  name: "machineryGroupMembersFromCursor",
  keys: 3,
  lua: `
${MEMBERS_LIST}
local n = members_list()
if type(n) == 'table' then return {0, 0, {}} end
if n < 0 then return n end
local c = tonumber(redis.call('GET', KEYS[3]) or '0')
return {c, n, redis.call('LRANGE', KEYS[2], c, c + tonumber(ARGV[2]) - 1)}
`,
};

/**
 * Sets ChordTriggered in the stored group meta (run while holding `TriggerChordMutex`), and
 * keeps the caller's token beside it for a while: a client that sends the script again because
 * the reply was lost (ioredis does, on reconnect) is told it won, not that the flag was set.
 * KEYS: group meta, token key. ARGV: ttl, token, how long the token is kept (s). Returns 1 when
 * this call (or its first run) set it, 0 when it was set already, -1 when the meta is missing,
 * -2 when the flag cannot be found.
 */
export const TRIGGER_CHORD: ScriptDef = {
  name: "machineryTriggerChord2",
  keys: 2,
  lua: `
local meta = redis.call('GET', KEYS[1])
if not meta then return -1 end
local _, e = string.find(meta, '"ChordTriggered":', 1, true)
if not e then return -2 end
if string.sub(meta, e + 1, e + 4) == 'true' then
  if redis.call('GET', KEYS[2]) == ARGV[2] then return 1 end
  return 0
end
if string.sub(meta, e + 1, e + 5) ~= 'false' then return -2 end
redis.call('SET', KEYS[1], string.sub(meta, 1, e) .. 'true' .. string.sub(meta, e + 6), 'EX', ARGV[1])
redis.call('SET', KEYS[2], ARGV[2], 'EX', ARGV[3])
return 1
`,
};

/** Every backend script. */
export const BACKEND_SCRIPTS: ScriptDef[] = [
  MERGE_STATES,
  MERGE_STATE_UNLESS_COMPLETED,
  SET_STATES,
  GROUP_COMPLETED,
  GROUP_MEMBERS_FROM_CURSOR,
  TRIGGER_CHORD,
];
