-- Trims each rank stream with XTRIM MINID ~ to the oldest entry some group still needs: the
-- smallest id that is pending in a group, or the first one after a group's last-delivered id.
-- Never removes an entry a group has not acked. A stream without groups (nobody consumes it, e.g.
-- the task lifecycle events when no dashboard reads them) is capped at ARGV[1] entries
-- (`MAXLEN ~`; 0 leaves it alone). Each XTRIM removes at most ARGV[2] entries (`LIMIT`), so one
-- call stays short however far behind trimming is; the caller repeats while entries go.
-- KEYS: rank streams 0-3. Returns how many entries were trimmed.
local trimmed = 0
local cap = tonumber(ARGV[1]) or 0
local limit = tonumber(ARGV[2]) or 10000
for k = 1, 4 do
  local groups = redis.pcall('XINFO', 'GROUPS', KEYS[k])
  if not failed(groups) and #groups == 0 and cap > 0 then
    trimmed = trimmed + redis.call('XTRIM', KEYS[k], 'MAXLEN', '~', cap, 'LIMIT', limit)
  elseif not failed(groups) and #groups > 0 then
    local min = nil
    for _, g in ipairs(groups) do
      local t = fieldmap(g)
      local cand
      local p = redis.call('XPENDING', KEYS[k], t['name'])
      if tonumber(p[1]) > 0 then
        cand = p[2]
      else
        local ms, seq = id_parts(t['last-delivered-id'])
        cand = string.format('%.0f-%.0f', ms, seq + 1)
      end
      if min == nil or id_cmp(cand, min) < 0 then min = cand end
    end
    trimmed = trimmed + redis.call('XTRIM', KEYS[k], 'MINID', '~', min, 'LIMIT', limit)
  end
end
return trimmed
