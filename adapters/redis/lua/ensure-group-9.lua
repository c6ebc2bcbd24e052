-- Creates the group on the four rank streams (at ARGV[2], `$` or `0`) and on its four retry
-- streams (always at `0`: they only ever hold entries for this group), MKSTREAM, ignoring
-- BUSYGROUP. Due delayed publishes are moved in first, so a group starting at `$` does not get
-- messages whose delay ended before it existed. KEYS: 8 sources, delayed zset. ARGV: group,
-- start id, maxLen.
promote_delayed(KEYS[9], 1000, tonumber(ARGV[3]), now_ms())
for i = 1, 8 do
  local start = ARGV[2]
  if i > 4 then start = '0' end
  local r = redis.pcall('XGROUP', 'CREATE', KEYS[i], ARGV[1], start, 'MKSTREAM')
  if failed(r) and string.find(r.err, 'BUSYGROUP', 1, true) == nil then return redis.error_reply(r.err) end
end
return 1
