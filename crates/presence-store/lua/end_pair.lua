-- KEYS: room, rooms, pair a, pair b, last a, last b, away, log a, log b, meta a, meta b, total.
-- ARGV: room, a, b, last a value, last b value, last_ttl_ms.
-- Returns the pair's json when this call ended it, else false.
local json = redis.call('GET', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
if not json then return false end
redis.call('DEL', KEYS[1])
for i = 0, 1 do
  local current = redis.call('GET', KEYS[3 + i])
  if current and cjson.decode(current)['roomId'] == ARGV[1] then redis.call('DEL', KEYS[3 + i]) end
  redis.call('SET', KEYS[5 + i], ARGV[4 + i], 'PX', ARGV[6])
  redis.call('ZREM', KEYS[7], ARGV[2 + i])
  forget_log(KEYS[8 + i], KEYS[10 + i], KEYS[12])
end
return json
