-- KEYS: a device's guests (scored by until when each counts). ARGV: guest id, until (ms), now
-- (ms). Answers the device's other live guests; the key lives as long as its latest guest.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[3])
local others = {}
for _, g in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if g ~= ARGV[1] then table.insert(others, g) end
end
redis.call('ZADD', KEYS[1], 'GT', ARGV[2], ARGV[1])
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
redis.call('PEXPIREAT', KEYS[1], last[2])
return others
