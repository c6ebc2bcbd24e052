-- Moves due delayed publishes and due retries of the group into their streams, then reads up to
-- ARGV[3] entries, highest rank first (the retry stream before the shared one within a rank).
-- KEYS: 8 sources, delayed zset, retry zset, wake stream. ARGV: group, consumer, max,
-- promote limit, maxLen.
--
-- Returns `{ entries }` when it read something, where entries is flat `source, id, fields, ...`
-- (source is the 1-based key index). Otherwise `{ {}, waitMs, lastIds }`: how long until the next
-- scheduled entry is due (-1 for none) and the last entry id of each key to wait on (wake stream,
-- then the 8 sources), for a race-free blocking XREAD.
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
