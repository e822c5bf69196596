-- KEYS: pair a, pair b, room, rooms. ARGV: room, json, ttl_ms, deadline_ms.
-- Each guest's pair key holds the pair itself, so a relay reads it in one step.
if redis.call('EXISTS', KEYS[1]) == 1 or redis.call('EXISTS', KEYS[2]) == 1 then return 0 end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('SET', KEYS[2], ARGV[2], 'PX', ARGV[3])
redis.call('SET', KEYS[3], ARGV[2], 'PX', ARGV[3])
redis.call('ZADD', KEYS[4], ARGV[4], ARGV[1])
if redis.call('PTTL', KEYS[4]) < tonumber(ARGV[3]) then
  redis.call('PEXPIRE', KEYS[4], ARGV[3])
end
return 1
