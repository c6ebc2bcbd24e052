-- Shared functions of every script of the Redis transport: the loader (adapters/redis/scripts.ts)
-- puts this file in front of each script, so a script's SHA1 covers what it runs.
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
