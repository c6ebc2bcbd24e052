-- Deletes a DLQ stream and returns how many entries it held. UNLINK frees it outside the main
-- thread, so a large DLQ does not block Redis. KEYS: DLQ stream.
local n = redis.call('XLEN', KEYS[1])
if n > 0 then redis.call('UNLINK', KEYS[1]) end
return n
