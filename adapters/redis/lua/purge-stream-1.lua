-- One bounded batch of `purge` on one stream (a shared rank stream, or a group's retry stream):
-- deletes up to ARGV[3] entries after ARGV[1] that no group of the stream has been handed yet
-- (an entry still pending in some group is kept). When a batch reaches the end (ARGV[2]), every
-- group that has not read that far skips to it (XGROUP SETID, never backwards), so entries
-- published while the purge ran are kept and delivered. Run by the client in a loop, so purging
-- a large backlog never blocks Redis for long.
-- KEYS: the stream. ARGV: cursor (exclusive; '' = start after the slowest group's last-delivered
-- id), end id ('' = the stream's last id now), batch size.
-- Returns `{ removed, next cursor ('' = done), end id }`.
local key = KEYS[1]
local batch = tonumber(ARGV[3])
if redis.call('EXISTS', key) == 0 then return { 0, '', '' } end
local gs = {}
local min = nil
for _, g in ipairs(redis.call('XINFO', 'GROUPS', key)) do
  local t = fieldmap(g)
  gs[#gs + 1] = { t['name'], t['last-delivered-id'] }
  if min == nil or id_cmp(t['last-delivered-id'], min) < 0 then min = t['last-delivered-id'] end
end
local last = ARGV[2]
if last == '' then last = fieldmap(redis.call('XINFO', 'STREAM', key))['last-generated-id'] end
local cursor = ARGV[1]
if cursor == '' then cursor = min or '0-0' end
local removed = 0
local entries = {}
if id_cmp(cursor, last) < 0 then
  entries = redis.call('XRANGE', key, '(' .. cursor, last, 'COUNT', batch)
end
for _, e in ipairs(entries) do
  local keep = false
  for _, g in ipairs(gs) do
    if id_cmp(e[1], g[2]) <= 0 then
      local p = redis.call('XPENDING', key, g[1], e[1], e[1], 1)
      if p[1] then keep = true break end
    end
  end
  if not keep then
    redis.call('XDEL', key, e[1])
    removed = removed + 1
  end
end
if #entries == batch then return { removed, entries[#entries][1], last } end
local s = fieldmap(redis.call('XINFO', 'STREAM', key))
for _, g in ipairs(redis.call('XINFO', 'GROUPS', key)) do
  local t = fieldmap(g)
  if id_cmp(t['last-delivered-id'], last) < 0 then
    if s['entries-added'] and s['last-generated-id'] == last then
      redis.call('XGROUP', 'SETID', key, t['name'], last, 'ENTRIESREAD', s['entries-added'])
    else
      redis.call('XGROUP', 'SETID', key, t['name'], last)
    end
  end
end
return { removed, '', last }
