-- Atomic counter: INCRBY, and PEXPIRE only when the key did not exist before. A key that holds no
-- integer (or another type) is dropped and counted from 0. KEYS: the key. ARGV: by, ttl ms
-- ('' = none). Returns `{ new value, 1 when an unusable value was dropped else 0 }`.
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
