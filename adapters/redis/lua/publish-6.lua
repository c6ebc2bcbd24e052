-- Appends a batch. KEYS: rank streams 0-3, delayed zset, wake stream. ARGV: maxLen (0 = none),
-- then per message: rank, delayMs, body, uid. Returns one id per message (entry id, or the uid
-- of a delayed message).
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
