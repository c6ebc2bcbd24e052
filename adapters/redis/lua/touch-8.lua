-- Resets the idle time of deliveries the consumer still owns (XCLAIM ... 0 JUSTID, which does not
-- count a delivery); deliveries another consumer has claimed meanwhile are left alone.
-- KEYS: 8 sources. ARGV: group, consumer, then pairs of source index (1-based) and entry id.
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
