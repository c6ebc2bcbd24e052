-- Drops keys of the wrong type (a key of this system replaced by another program or a bug, which
-- makes every command on it fail with WRONGTYPE), and re-creates the consumer group on a dropped
-- stream that needs it. Called after a WRONGTYPE error, so the hot paths pay nothing for it.
-- KEYS: the keys to check. ARGV: group ('' = none), then per key: expected type (`stream`,
-- `zset`, `string`) and whether to re-create the group on it (1/0). Returns flat `key, type, ...`
-- of what it dropped.
local dropped = {}
for i, key in ipairs(KEYS) do
  local want = ARGV[2 * i]
  local t = redis.call('TYPE', key)['ok']
  if t ~= 'none' and t ~= want then
    redis.call('DEL', key)
    warn('dropped ' .. key .. ': a ' .. t .. ' where a ' .. want .. ' belongs')
    dropped[#dropped + 1] = key
    dropped[#dropped + 1] = t
    if ARGV[1] ~= '' and ARGV[2 * i + 1] == '1' then
      redis.call('XGROUP', 'CREATE', key, ARGV[1], '0', 'MKSTREAM')
    end
  end
end
return dropped
