-- Hands a pending delivery back to its group: XACK (and XDEL from a private retry stream), then
-- either XADD to the group's retry stream of its rank (no delay) or ZADD into the group's retry
-- zset (delay). The attempt stored is the delivery's attempt (+1 when counted). A no-op (0) when
-- the delivery is not pending; -1 when it was pending but its entry was trimmed away.
-- KEYS: 8 sources, retry zset, wake stream. ARGV: group, source index (1-based), entry id,
-- delayMs, countAttempt (1/0), uid.
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
