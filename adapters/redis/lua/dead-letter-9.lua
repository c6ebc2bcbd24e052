-- Moves a delivery to a DLQ stream atomically: XACK (+ XDEL from a private retry stream) and XADD
-- to the DLQ. Shared rank-stream entries are never deleted (other groups may still need them;
-- trimming reclaims them). When the delivery is not pending, the entry is recorded only when a
-- body is given, else nil. KEYS: 8 sources, DLQ stream. ARGV: group, source index (1-based, 0 =
-- unknown), entry id, stream name, has body (1/0), body, priority, error, has stack (1/0), stack,
-- attempts, context JSON, origin (delivery id).
local group, src, id = ARGV[1], tonumber(ARGV[2]), ARGV[3]
local pending = false
local entry = nil
if src > 0 then
  local key = KEYS[src]
  local p = redis.pcall('XPENDING', key, group, id, id, 1)
  if not failed(p) and p[1] then
    pending = true
    entry = redis.call('XRANGE', key, id, id)[1]
    redis.call('XACK', key, group, id)
    if src > 4 then redis.call('XDEL', key, id) end
  end
end
local body, prio
if pending and entry then
  local f = fieldmap(entry[2])
  body = body_of(f)
  prio = src - 1
  if src > 4 then prio = clamp_rank(f['priority']) end
elseif ARGV[5] == '1' then
  body = ARGV[6]
  prio = clamp_rank(ARGV[7])
elseif pending then
  body = ''
  prio = clamp_rank(ARGV[7])
else
  return false
end
local args = { 'stream', ARGV[4], 'group', group, 'body', body, 'priority', prio, 'error', ARGV[8] }
if ARGV[9] == '1' then
  args[#args + 1] = 'stack'
  args[#args + 1] = ARGV[10]
end
args[#args + 1] = 'attempts'
args[#args + 1] = ARGV[11]
args[#args + 1] = 'failedAt'
args[#args + 1] = now_ms()
args[#args + 1] = 'context'
args[#args + 1] = ARGV[12]
args[#args + 1] = 'origin'
args[#args + 1] = ARGV[13]
return redis.call('XADD', KEYS[9], '*', unpack(args))
