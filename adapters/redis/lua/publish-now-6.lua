-- Appends a batch without delays (what nearly every publish is): half the arguments of
-- PUBLISH, and the tightest loop (about 15% less Redis time per message): the client
-- sends ranks already clamped to 0-3. KEYS: as PUBLISH (only the rank streams are used).
-- ARGV: maxLen (0 = none), then per message: rank, body. Returns the entry ids.
local maxlen = tonumber(ARGV[1])
local ids = {}
local n = 0
if maxlen > 0 then
  for i = 2, #ARGV, 2 do
    n = n + 1
    ids[n] = redis.call('XADD', KEYS[1 + tonumber(ARGV[i])], 'MAXLEN', '~', maxlen, '*', 'body', ARGV[i + 1])
  end
else
  for i = 2, #ARGV, 2 do
    n = n + 1
    ids[n] = redis.call('XADD', KEYS[1 + tonumber(ARGV[i])], '*', 'body', ARGV[i + 1])
  end
end
return ids
