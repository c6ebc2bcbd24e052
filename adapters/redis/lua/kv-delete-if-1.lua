-- Deletes a key only when it holds ARGV[1] (never a key of another type). KEYS: the key. Returns 1 when it deleted.
local cur = redis.pcall('GET', KEYS[1])
if not failed(cur) and cur == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0
