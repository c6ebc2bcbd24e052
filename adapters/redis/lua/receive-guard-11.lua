-- The check that goes with a plain `XREADGROUP` of one source (the fast path of `receive`, sent
-- in the same pipeline, just before it): moves due entries like READ, then returns 1
-- when a source that READ serves before `KEYS[ARGV[2]]` holds entries the group has not been
-- given yet (the client then goes back to READ), else 0. KEYS: as READ. ARGV: group, 1-based
-- index of the source read plainly, promote limit, maxLen.
--
-- A source has undelivered entries when its last entry is newer than the group's
-- last-delivered-id; empty streams (the usual case for retry streams and unused ranks) cost one
-- XLEN.
local group = ARGV[1]
local index = tonumber(ARGV[2])
promote_due(tonumber(ARGV[3]), tonumber(ARGV[4]))
local function has_undelivered(key)
  if redis.call('XLEN', key) == 0 then return false end
  local last = redis.call('XREVRANGE', key, '+', '-', 'COUNT', 1)
  if not last[1] then return false end
  local groups = redis.pcall('XINFO', 'GROUPS', key)
  if failed(groups) then return true end
  for _, g in ipairs(groups) do
    local name, delivered = nil, nil
    for i = 1, #g, 2 do
      if g[i] == 'name' then name = g[i + 1] elseif g[i] == 'last-delivered-id' then delivered = g[i + 1] end
    end
    if name == group then return delivered == nil or id_cmp(last[1][1], delivered) > 0 end
  end
  return true
end
for rank = 3, 0, -1 do
  for _, k in ipairs({ 5 + rank, 1 + rank }) do
    if k == index then return 0 end
    if has_undelivered(KEYS[k]) then return 1 end
  end
end
return 0
