-- KEYS: log, meta. ARGV: ttl_ms. After what come_back.lua (or this) returned was sent: the
-- entries kept since, still held; with none, the hold ends and what follows goes out live.
local from = tonumber(redis.call('HGET', KEYS[2], 'from'))
if not from then return {} end
if num(redis.call('HGET', KEYS[2], 'seq')) <= from then
  redis.call('HDEL', KEYS[2], 'from', 'hcount', 'hbytes')
  return {}
end
hold_from_last(KEYS[2], ARGV[1])
return entries_after(KEYS[1], from, {})
