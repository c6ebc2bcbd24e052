-- Removes every scheduled entry of a delayed set or a retry set (part of `purge`) and returns
-- how many it held. UNLINK frees the set outside the main thread, so a large set does not block
-- Redis. KEYS: the sorted set.
local n = redis.call('ZCARD', KEYS[1])
if n > 0 then redis.call('UNLINK', KEYS[1]) end
return n
