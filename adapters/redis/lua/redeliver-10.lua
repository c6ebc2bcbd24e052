-- Delivers messages to one group only: XADD to its private retry streams, or ZADD into its retry
-- zset when delayed. Errors with NOGROUP when the group does not exist. KEYS: 8 sources, retry
-- zset, wake stream. ARGV: group, then per message: rank, delayMs, body, attempt, uid.
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
