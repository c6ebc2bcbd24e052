-- Takes over idle pending deliveries with XAUTOCLAIM (atomic, so two claimers never get the same
-- entry), highest rank first, and returns flat `source, id, fields, deliveryCount, ...`. Entries
-- deleted while pending are acked away. Errors with NOGROUP when the group exists on none of the
-- keys. KEYS: 8 sources. ARGV: group, consumer, minIdleMs, max.
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
