-- Compare-and-set of a key-value entry. KEYS: the key. ARGV: value, ttl ms ('' = none),
-- ifAbsent (1/0), has ifEquals (1/0), expected value. Returns 1 when it wrote, 2 when it wrote
-- over a key of another type (not a value: counted as absent), 0 when it did not write.
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
