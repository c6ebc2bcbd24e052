/**
 * The Lua scripts of the Redis transport, named by purpose. Each runs atomically on the server;
 * every key it touches is passed in `KEYS` and shares the `{keyPrefix}` hash tag, so they also
 * run on Redis Cluster. Time comes from the server (`TIME`), so clocks of client machines never
 * matter for delays.
 *
 * Scheduled entries (delayed publishes, delayed redeliveries) are sorted-set members
 * `<uid>|<rank>|<publishedAt>|<attempt>|<body>`, scored by their due time in ms.
 *
 * @module
 */

import { createHash } from 'node:crypto';

/** A Lua script and its SHA1, for `EVALSHA` with an `EVAL` fallback on `NOSCRIPT`. */
export interface LuaScript {
  /** The script's purpose, for error messages. */
  readonly name: string;
  /** The Lua source. */
  readonly source: string;
  /** SHA1 of `source`. */
  readonly sha: string;
}

const PRELUDE = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function fieldmap(f)
  local t = {}
  if type(f) ~= 'table' then return t end
  for i = 1, #f, 2 do
    if t[f[i]] == nil then t[f[i]] = f[i + 1] end
  end
  return t
end
local function body_of(t)
  if type(t['body']) == 'string' then return t['body'] end
  return cjson.encode(t)
end
local function clamp_rank(v)
  local r = tonumber(v)
  if r == nil or r ~= r then return 1 end
  r = math.floor(r)
  if r < 0 then return 0 end
  if r > 3 then return 3 end
  return r
end
local function safe_attempt(v)
  local n = tonumber(v)
  if n == nil or n ~= n or n < 1 or n > 1e12 then return 1 end
  return math.floor(n)
end
-- Splits a scheduled entry; nil when it is not one (written by another program or a bug).
local function split_member(m)
  if type(m) ~= 'string' then return nil end
  local a = string.find(m, '|', 1, true)
  if a == nil then return nil end
  local b = string.find(m, '|', a + 1, true)
  if b == nil then return nil end
  local c = string.find(m, '|', b + 1, true)
  if c == nil then return nil end
  local d = string.find(m, '|', c + 1, true)
  if d == nil then return nil end
  local pub = string.sub(m, b + 1, c - 1)
  if string.match(pub, '^%d+$') == nil then pub = nil end
  return clamp_rank(string.sub(m, a + 1, b - 1)), pub, string.sub(m, c + 1, d - 1), string.sub(m, d + 1)
end
local function warn(text)
  redis.log(redis.LOG_WARNING, '[event-bus:redis] ' .. text)
end
local function id_parts(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms) or 0, tonumber(seq) or 0
end
local function id_cmp(a, b)
  local am, as = id_parts(a)
  local bm, bs = id_parts(b)
  if am ~= bm then if am < bm then return -1 else return 1 end end
  if as ~= bs then if as < bs then return -1 else return 1 end end
  return 0
end
local function id_ms(id)
  return string.match(id, '^(%d+)-') or '0'
end
local function xadd(key, maxlen, ...)
  if maxlen > 0 then return redis.call('XADD', key, 'MAXLEN', '~', maxlen, '*', ...) end
  return redis.call('XADD', key, '*', ...)
end
local function is_nogroup(res)
  return type(res) == 'table' and res.err ~= nil and string.find(res.err, 'NOGROUP', 1, true) ~= nil
end
local function failed(res)
  return type(res) == 'table' and res.err ~= nil
end
local function wake(key)
  redis.call('XADD', key, 'MAXLEN', 1, '*', 'wake', '1')
end
-- Moves due delayed publishes of a stream into its rank streams (KEYS 1-4).
local function promote_delayed(zkey, limit, maxlen, now)
  local due = redis.call('ZRANGEBYSCORE', zkey, '-inf', now, 'LIMIT', 0, limit)
  for _, m in ipairs(due) do
    local rank, pub, attempt, body = split_member(m)
    if rank == nil then
      -- Not a scheduled entry: delivered as it is (normal rank), so the consumer dead-letters it.
      warn('moved a malformed member of ' .. zkey .. ' to the normal-priority stream')
      xadd(KEYS[2], maxlen, 'body', m, 'publishedAt', now)
    else
      xadd(KEYS[1 + rank], maxlen, 'body', body, 'publishedAt', pub or now)
    end
    redis.call('ZREM', zkey, m)
  end
end
-- Moves due delayed publishes (KEYS[9]) and due retries of the group (KEYS[10]) into their
-- streams; KEYS as the READ script.
local function promote_due(limit, maxlen)
  local now = now_ms()
  promote_delayed(KEYS[9], limit, maxlen, now)
  local due = redis.call('ZRANGEBYSCORE', KEYS[10], '-inf', now, 'LIMIT', 0, limit)
  for _, m in ipairs(due) do
    local rank, pub, attempt, body = split_member(m)
    if rank == nil then
      warn('moved a malformed member of ' .. KEYS[10] .. ' to the retry stream of its group')
      redis.call('XADD', KEYS[6], '*', 'body', m, 'priority', 1, 'publishedAt', now, 'attempt', 1)
    else
      redis.call('XADD', KEYS[5 + rank], '*', 'body', body, 'priority', rank, 'publishedAt', pub or now, 'attempt', safe_attempt(attempt))
    end
    redis.call('ZREM', KEYS[10], m)
  end
  return now
end
`;

function script(name: string, body: string): LuaScript {
  const source = `${PRELUDE}\n${body}`;
  return { name, source, sha: createHash('sha1').update(source).digest('hex') };
}

/**
 * Appends a batch. KEYS: rank streams 0-3, delayed zset, wake stream. ARGV: maxLen (0 = none),
 * then per message: rank, delayMs, body, uid. Returns one id per message (entry id, or the uid
 * of a delayed message).
 */
export const PUBLISH = script(
  'publish',
  `
local maxlen = tonumber(ARGV[1])
local ids = {}
local now = nil
local delayed = false
local n = (#ARGV - 1) / 4
for i = 0, n - 1 do
  local b = 2 + i * 4
  local rank = clamp_rank(ARGV[b])
  local delay = tonumber(ARGV[b + 1]) or 0
  if delay > 0 then
    if now == nil then now = now_ms() end
    redis.call('ZADD', KEYS[5], now + delay, ARGV[b + 3] .. '|' .. rank .. '|' .. now .. '|1|' .. ARGV[b + 2])
    ids[#ids + 1] = ARGV[b + 3]
    delayed = true
  else
    ids[#ids + 1] = xadd(KEYS[1 + rank], maxlen, 'body', ARGV[b + 2])
  end
end
if delayed then wake(KEYS[6]) end
return ids
`,
);

/**
 * Appends a batch without delays (what nearly every publish is): half the arguments of
 * {@link PUBLISH}, and the tightest loop (about 15% less Redis time per message): the client
 * sends ranks already clamped to 0-3. KEYS: as PUBLISH (only the rank streams are used).
 * ARGV: maxLen (0 = none), then per message: rank, body. Returns the entry ids.
 */
export const PUBLISH_NOW = script(
  'publish',
  `
local maxlen = tonumber(ARGV[1])
local ids = {}
local n = 0
if maxlen > 0 then
  for i = 2, #ARGV, 2 do
    n = n + 1
    ids[n] = redis.call('XADD', KEYS[1 + tonumber(ARGV[i])], 'MAXLEN', '~', maxlen, '*', 'body', ARGV[i + 1])
  end
else
  for i = 2, #ARGV, 2 do
    n = n + 1
    ids[n] = redis.call('XADD', KEYS[1 + tonumber(ARGV[i])], '*', 'body', ARGV[i + 1])
  end
end
return ids
`,
);

/**
 * Creates the group on the four rank streams (at ARGV[2], `$` or `0`) and on its four retry
 * streams (always at `0`: they only ever hold entries for this group), MKSTREAM, ignoring
 * BUSYGROUP. Due delayed publishes are moved in first, so a group starting at `$` does not get
 * messages whose delay ended before it existed. KEYS: 8 sources, delayed zset. ARGV: group,
 * start id, maxLen.
 */
export const ENSURE_GROUP = script(
  'ensureGroup',
  `
promote_delayed(KEYS[9], 1000, tonumber(ARGV[3]), now_ms())
for i = 1, 8 do
  local start = ARGV[2]
  if i > 4 then start = '0' end
  local r = redis.pcall('XGROUP', 'CREATE', KEYS[i], ARGV[1], start, 'MKSTREAM')
  if failed(r) and string.find(r.err, 'BUSYGROUP', 1, true) == nil then return redis.error_reply(r.err) end
end
return 1
`,
);

/**
 * Moves due delayed publishes and due retries of the group into their streams, then reads up to
 * ARGV[3] entries, highest rank first (the retry stream before the shared one within a rank).
 * KEYS: 8 sources, delayed zset, retry zset, wake stream. ARGV: group, consumer, max,
 * promote limit, maxLen.
 *
 * Returns `{ entries }` when it read something, where entries is flat `source, id, fields, ...`
 * (source is the 1-based key index). Otherwise `{ {}, waitMs, lastIds }`: how long until the next
 * scheduled entry is due (-1 for none) and the last entry id of each key to wait on (wake stream,
 * then the 8 sources), for a race-free blocking XREAD.
 */
export const READ = script(
  'receive',
  `
local group, consumer = ARGV[1], ARGV[2]
local max = tonumber(ARGV[3])
local now = promote_due(tonumber(ARGV[4]), tonumber(ARGV[5]))
local out = {}
local left = max
for rank = 3, 0, -1 do
  for _, k in ipairs({ 5 + rank, 1 + rank }) do
    if left > 0 then
      local res = redis.call('XREADGROUP', 'GROUP', group, consumer, 'COUNT', left, 'STREAMS', KEYS[k], '>')
      if res then
        local entries = res[1][2]
        for _, e in ipairs(entries) do
          out[#out + 1] = k
          out[#out + 1] = e[1]
          out[#out + 1] = e[2]
        end
        left = left - #entries
      end
    end
  end
end
if #out > 0 then return { out } end
local next_due = -1
for _, z in ipairs({ KEYS[9], KEYS[10] }) do
  local first = redis.call('ZRANGE', z, 0, 0, 'WITHSCORES')
  if first[2] then
    local s = tonumber(first[2])
    if next_due < 0 or s < next_due then next_due = s end
  end
end
local wait = -1
if next_due >= 0 then wait = math.max(0, next_due - now) end
local ids = {}
for _, k in ipairs({ 11, 1, 2, 3, 4, 5, 6, 7, 8 }) do
  local last = redis.call('XREVRANGE', KEYS[k], '+', '-', 'COUNT', 1)
  if last[1] then ids[#ids + 1] = last[1][1] else ids[#ids + 1] = '0-0' end
end
return { out, wait, ids }
`,
);

/**
 * The check that goes with a plain `XREADGROUP` of one source (the fast path of `receive`, sent
 * in the same pipeline, just before it): moves due entries like {@link READ}, then returns 1
 * when a source that READ serves before `KEYS[ARGV[2]]` holds entries the group has not been
 * given yet (the client then goes back to READ), else 0. KEYS: as READ. ARGV: group, 1-based
 * index of the source read plainly, promote limit, maxLen.
 *
 * A source has undelivered entries when its last entry is newer than the group's
 * last-delivered-id; empty streams (the usual case for retry streams and unused ranks) cost one
 * XLEN.
 */
export const READ_GUARD = script(
  'receive',
  `
local group = ARGV[1]
local index = tonumber(ARGV[2])
promote_due(tonumber(ARGV[3]), tonumber(ARGV[4]))
local function has_undelivered(key)
  if redis.call('XLEN', key) == 0 then return false end
  local last = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)
  if not last[1] then return false end
  local groups = redis.pcall('XINFO', 'GROUPS', key)
  if failed(groups) then return true end
  for _, g in ipairs(groups) do
    local name, delivered = nil, nil
    for i = 1, #g, 2 do
      if g[i] == 'name' then name = g[i + 1] elseif g[i] == 'last-delivered-id' then delivered = g[i + 1] end
    end
    if name == group then return delivered == nil or id_cmp(last[1][1], delivered) > 0 end
  end
  return true
end
for rank = 3, 0, -1 do
  for _, k in ipairs({ 5 + rank, 1 + rank }) do
    if k == index then return 0 end
    if has_undelivered(KEYS[k]) then return 1 end
  end
end
return 0
`,
);

/**
 * Hands a pending delivery back to its group: XACK (and XDEL from a private retry stream), then
 * either XADD to the group's retry stream of its rank (no delay) or ZADD into the group's retry
 * zset (delay). The attempt stored is the delivery's attempt (+1 when counted). A no-op (0) when
 * the delivery is not pending; -1 when it was pending but its entry was trimmed away.
 * KEYS: 8 sources, retry zset, wake stream. ARGV: group, source index (1-based), entry id,
 * delayMs, countAttempt (1/0), uid.
 */
export const NACK = script(
  'nack',
  `
local group, src, id = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local key = KEYS[src]
local p = redis.pcall('XPENDING', key, group, id, id, 1)
if is_nogroup(p) then return 0 end
if failed(p) then return redis.error_reply(p.err) end
if not p[1] then return 0 end
local deliveries = tonumber(p[1][4]) or 1
local e = redis.call('XRANGE', key, id, id)
redis.call('XACK', key, group, id)
if src > 4 then redis.call('XDEL', key, id) end
if not e[1] then return -1 end
local f = fieldmap(e[1][2])
local rank = src - 1
if src > 4 then rank = clamp_rank(f['priority']) end
-- Only the library's own retry entries carry an attempt; on a shared stream another program's
-- fields (an 'attempt' among them) are ignored (docs/wire-format.md).
local stored = 1
if src > 4 then stored = safe_attempt(f['attempt']) end
local attempt = stored + deliveries - 1 + tonumber(ARGV[5])
local pub = f['publishedAt']
if type(pub) ~= 'string' or string.match(pub, '^%d+$') == nil then pub = id_ms(id) end
local body = body_of(f)
local delay = tonumber(ARGV[4]) or 0
if delay > 0 then
  redis.call('ZADD', KEYS[9], now_ms() + delay, ARGV[6] .. '|' .. rank .. '|' .. pub .. '|' .. attempt .. '|' .. body)
  wake(KEYS[10])
else
  redis.call('XADD', KEYS[5 + rank], '*', 'body', body, 'priority', rank, 'publishedAt', pub, 'attempt', attempt)
end
return 1
`,
);

/**
 * Takes over idle pending deliveries with XAUTOCLAIM (atomic, so two claimers never get the same
 * entry), highest rank first, and returns flat `source, id, fields, deliveryCount, ...`. Entries
 * deleted while pending are acked away. Errors with NOGROUP when the group exists on none of the
 * keys. KEYS: 8 sources. ARGV: group, consumer, minIdleMs, max.
 */
export const CLAIM = script(
  'claimStale',
  `
local group, consumer, min_idle = ARGV[1], ARGV[2], ARGV[3]
local left = tonumber(ARGV[4])
local out = {}
local missing = 0
for rank = 3, 0, -1 do
  for _, k in ipairs({ 5 + rank, 1 + rank }) do
    local cursor = '0-0'
    while left > 0 do
      local res = redis.pcall('XAUTOCLAIM', KEYS[k], group, consumer, min_idle, cursor, 'COUNT', left)
      if is_nogroup(res) then missing = missing + 1 break end
      if failed(res) then return redis.error_reply(res.err) end
      for _, e in ipairs(res[2]) do
        if type(e[2]) == 'table' then
          local p = redis.call('XPENDING', KEYS[k], group, e[1], e[1], 1)
          local n = 1
          if p[1] then n = tonumber(p[1][4]) or 1 end
          out[#out + 1] = k
          out[#out + 1] = e[1]
          out[#out + 1] = e[2]
          out[#out + 1] = n
          left = left - 1
        else
          redis.call('XACK', KEYS[k], group, e[1])
        end
      end
      cursor = res[1]
      if cursor == '0-0' then break end
    end
  end
end
if missing == 8 then return redis.error_reply('NOGROUP consumer group does not exist') end
return out
`,
);

/**
 * Resets the idle time of deliveries the consumer still owns (XCLAIM ... 0 JUSTID, which does not
 * count a delivery); deliveries another consumer has claimed meanwhile are left alone.
 * KEYS: 8 sources. ARGV: group, consumer, then pairs of source index (1-based) and entry id.
 */
export const TOUCH = script(
  'touch',
  `
local group, consumer = ARGV[1], ARGV[2]
local n = 0
for i = 3, #ARGV, 2 do
  local key = KEYS[tonumber(ARGV[i])]
  local id = ARGV[i + 1]
  local p = redis.pcall('XPENDING', key, group, id, id, 1, consumer)
  if not failed(p) and p[1] then
    redis.call('XCLAIM', key, group, consumer, 0, id, 'JUSTID')
    n = n + 1
  end
end
return n
`,
);

/**
 * Moves a delivery to a DLQ stream atomically: XACK (+ XDEL from a private retry stream) and XADD
 * to the DLQ. Shared rank-stream entries are never deleted (other groups may still need them;
 * trimming reclaims them). When the delivery is not pending, the entry is recorded only when a
 * body is given, else nil. KEYS: 8 sources, DLQ stream. ARGV: group, source index (1-based, 0 =
 * unknown), entry id, stream name, has body (1/0), body, priority, error, has stack (1/0), stack,
 * attempts, context JSON, origin (delivery id).
 */
export const DEAD_LETTER = script(
  'deadLetter',
  `
local group, src, id = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local pending = false
local entry = nil
if src > 0 then
  local key = KEYS[src]
  local p = redis.pcall('XPENDING', key, group, id, id, 1)
  if not failed(p) and p[1] then
    pending = true
    entry = redis.call('XRANGE', key, id, id)[1]
    redis.call('XACK', key, group, id)
    if src > 4 then redis.call('XDEL', key, id) end
  end
end
local body, prio
if pending and entry then
  local f = fieldmap(entry[2])
  body = body_of(f)
  prio = src - 1
  if src > 4 then prio = clamp_rank(f['priority']) end
elseif ARGV[5] == '1' then
  body = ARGV[6]
  prio = clamp_rank(ARGV[7])
elseif pending then
  body = ''
  prio = clamp_rank(ARGV[7])
else
  return false
end
local args = { 'stream', ARGV[4], 'group', group, 'body', body, 'priority', prio, 'error', ARGV[8] }
if ARGV[9] == '1' then
  args[#args + 1] = 'stack'
  args[#args + 1] = ARGV[10]
end
args[#args + 1] = 'attempts'
args[#args + 1] = ARGV[11]
args[#args + 1] = 'failedAt'
args[#args + 1] = now_ms()
args[#args + 1] = 'context'
args[#args + 1] = ARGV[12]
args[#args + 1] = 'origin'
args[#args + 1] = ARGV[13]
return redis.call('XADD', KEYS[9], '*', unpack(args))
`,
);

/**
 * Delivers messages to one group only: XADD to its private retry streams, or ZADD into its retry
 * zset when delayed. Errors with NOGROUP when the group does not exist. KEYS: 8 sources, retry
 * zset, wake stream. ARGV: group, then per message: rank, delayMs, body, attempt, uid.
 */
export const REDELIVER = script(
  'redeliver',
  `
local chk = redis.pcall('XPENDING', KEYS[2], ARGV[1])
if failed(chk) then return redis.error_reply(chk.err) end
local ids = {}
local now = now_ms()
local delayed = false
local n = (#ARGV - 1) / 5
for i = 0, n - 1 do
  local b = 2 + i * 5
  local rank = clamp_rank(ARGV[b])
  local delay = tonumber(ARGV[b + 1]) or 0
  local attempt = safe_attempt(ARGV[b + 3])
  if delay > 0 then
    redis.call('ZADD', KEYS[9], now + delay, ARGV[b + 4] .. '|' .. rank .. '|' .. now .. '|' .. attempt .. '|' .. ARGV[b + 2])
    ids[#ids + 1] = ARGV[b + 4]
    delayed = true
  else
    ids[#ids + 1] = redis.call('XADD', KEYS[5 + rank], '*', 'body', ARGV[b + 2], 'priority', rank, 'publishedAt', now, 'attempt', attempt)
  end
end
if delayed then wake(KEYS[10]) end
return ids
`,
);

/**
 * Trims each rank stream with XTRIM MINID ~ to the oldest entry some group still needs: the
 * smallest id that is pending in a group, or the first one after a group's last-delivered id.
 * Never removes an entry a group has not acked. A stream without groups (nobody consumes it, e.g.
 * the task lifecycle events when no dashboard reads them) is capped at ARGV[1] entries
 * (`MAXLEN ~`; 0 leaves it alone). KEYS: rank streams 0-3. Returns how many entries were trimmed.
 */
export const TRIM = script(
  'trim',
  `
local trimmed = 0
local cap = tonumber(ARGV[1]) or 0
for k = 1, 4 do
  local groups = redis.pcall('XINFO', 'GROUPS', KEYS[k])
  if not failed(groups) and #groups == 0 and cap > 0 then
    trimmed = trimmed + redis.call('XTRIM', KEYS[k], 'MAXLEN', '~', cap)
  elseif not failed(groups) and #groups > 0 then
    local min = nil
    for _, g in ipairs(groups) do
      local t = fieldmap(g)
      local cand
      local p = redis.call('XPENDING', KEYS[k], t['name'])
      if tonumber(p[1]) > 0 then
        cand = p[2]
      else
        local ms, seq = id_parts(t['last-delivered-id'])
        cand = string.format('%.0f-%.0f', ms, seq + 1)
      end
      if min == nil or id_cmp(cand, min) < 0 then min = cand end
    end
    trimmed = trimmed + redis.call('XTRIM', KEYS[k], 'MINID', '~', min)
  end
end
return trimmed
`,
);

/**
 * Deletes what no group has been handed yet: delayed publishes, every group's backlog on the rank
 * streams (entries still pending in some group are kept, and every group skips to the end), every
 * group's unread retries and scheduled retries. KEYS: rank streams 0-3, delayed zset, then per
 * group: retry zset and retry streams 0-3. ARGV: the group names, in KEYS order. Returns how many
 * messages were removed (each counted once).
 */
export const PURGE = script(
  'purge',
  `
local removed = redis.call('ZCARD', KEYS[5])
redis.call('DEL', KEYS[5])
for k = 1, 4 do
  local groups = redis.pcall('XINFO', 'GROUPS', KEYS[k])
  if not failed(groups) then
    if #groups == 0 then
      removed = removed + redis.call('XTRIM', KEYS[k], 'MAXLEN', 0)
    else
      local gs = {}
      local min = nil
      for _, g in ipairs(groups) do
        local t = fieldmap(g)
        gs[#gs + 1] = { t['name'], t['last-delivered-id'] }
        if min == nil or id_cmp(t['last-delivered-id'], min) < 0 then min = t['last-delivered-id'] end
      end
      local entries = redis.call('XRANGE', KEYS[k], '(' .. min, '+')
      for _, e in ipairs(entries) do
        local keep = false
        for _, g in ipairs(gs) do
          if id_cmp(e[1], g[2]) <= 0 then
            local p = redis.call('XPENDING', KEYS[k], g[1], e[1], e[1], 1)
            if p[1] then keep = true break end
          end
        end
        if not keep then redis.call('XDEL', KEYS[k], e[1]) end
      end
      removed = removed + #entries
      local s = fieldmap(redis.call('XINFO', 'STREAM', KEYS[k]))
      for _, g in ipairs(gs) do
        if s['entries-added'] then
          redis.call('XGROUP', 'SETID', KEYS[k], g[1], s['last-generated-id'], 'ENTRIESREAD', s['entries-added'])
        else
          redis.call('XGROUP', 'SETID', KEYS[k], g[1], s['last-generated-id'])
        end
      end
    end
  end
end
for i = 1, #ARGV do
  local base = 5 + (i - 1) * 5
  removed = removed + redis.call('ZCARD', KEYS[base + 1])
  redis.call('DEL', KEYS[base + 1])
  for r = 2, 5 do
    local key = KEYS[base + r]
    local groups = redis.pcall('XINFO', 'GROUPS', key)
    if not failed(groups) then
      for _, g in ipairs(groups) do
        local t = fieldmap(g)
        if t['name'] == ARGV[i] then
          local entries = redis.call('XRANGE', key, '(' .. t['last-delivered-id'], '+')
          for _, e in ipairs(entries) do redis.call('XDEL', key, e[1]) end
          removed = removed + #entries
        end
      end
    end
  end
end
return removed
`,
);

/**
 * Drops keys of the wrong type (a key of this system replaced by another program or a bug, which
 * makes every command on it fail with WRONGTYPE), and re-creates the consumer group on a dropped
 * stream that needs it. Called after a WRONGTYPE error, so the hot paths pay nothing for it.
 * KEYS: the keys to check. ARGV: group ('' = none), then per key: expected type (`stream`,
 * `zset`, `string`) and whether to re-create the group on it (1/0). Returns flat `key, type, ...`
 * of what it dropped.
 */
export const REPAIR = script(
  'repair',
  `
local dropped = {}
for i, key in ipairs(KEYS) do
  local want = ARGV[2 * i]
  local t = redis.call('TYPE', key)['ok']
  if t ~= 'none' and t ~= want then
    redis.call('DEL', key)
    warn('dropped ' .. key .. ': a ' .. t .. ' where a ' .. want .. ' belongs')
    dropped[#dropped + 1] = key
    dropped[#dropped + 1] = t
    if ARGV[1] ~= '' and ARGV[2 * i + 1] == '1' then
      redis.call('XGROUP', 'CREATE', key, ARGV[1], '0', 'MKSTREAM')
    end
  end
end
return dropped
`,
);

/** Deletes a DLQ stream and returns how many entries it held. KEYS: DLQ stream. */
export const PURGE_DLQ = script(
  'purgeDeadLetters',
  `
local n = redis.call('XLEN', KEYS[1])
redis.call('DEL', KEYS[1])
return n
`,
);

/**
 * Compare-and-set of a key-value entry. KEYS: the key. ARGV: value, ttl ms ('' = none),
 * ifAbsent (1/0), has ifEquals (1/0), expected value. Returns 1 when it wrote, 2 when it wrote
 * over a key of another type (not a value: counted as absent), 0 when it did not write.
 */
export const KV_SET = script(
  'kvSet',
  `
local cur = redis.pcall('GET', KEYS[1])
local unusable = failed(cur)
if unusable then cur = false end
if ARGV[3] == '1' and cur then return 0 end
if ARGV[4] == '1' and cur ~= ARGV[5] then return 0 end
if ARGV[2] ~= '' then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
else
  redis.call('SET', KEYS[1], ARGV[1])
end
if unusable then
  warn('overwrote ' .. KEYS[1] .. ', which held no value (another type)')
  return 2
end
return 1
`,
);

/** Deletes a key only when it holds ARGV[1] (never a key of another type). KEYS: the key. Returns 1 when it deleted. */
export const KV_DELETE_IF = script(
  'kvDelete',
  `
local cur = redis.pcall('GET', KEYS[1])
if not failed(cur) and cur == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
`,
);

/**
 * Atomic counter: INCRBY, and PEXPIRE only when the key did not exist before. A key that holds no
 * integer (or another type) is dropped and counted from 0. KEYS: the key. ARGV: by, ttl ms
 * ('' = none). Returns `{ new value, 1 when an unusable value was dropped else 0 }`.
 */
export const KV_INCR = script(
  'kvIncr',
  `
local existed = redis.call('EXISTS', KEYS[1])
local dropped = 0
local v = redis.pcall('INCRBY', KEYS[1], ARGV[1])
if failed(v) then
  warn('dropped ' .. KEYS[1] .. ', which held no counter: ' .. v.err)
  redis.call('DEL', KEYS[1])
  existed = 0
  dropped = 1
  v = redis.call('INCRBY', KEYS[1], ARGV[1])
end
if existed == 0 and ARGV[2] ~= '' then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return { v, dropped }
`,
);
