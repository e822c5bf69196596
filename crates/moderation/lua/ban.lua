-- KEYS: the ban, the ban of its target, the index of bans, the bans' version. ARGV: the ban key
-- prefix, ban id, ban json, expiry (ms), now (ms). A live ban of the same target is replaced.
local BAN, OF, BANS, VERSION = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local PREFIX, id, json, expires, now = ARGV[1], ARGV[2], ARGV[3], ARGV[4], ARGV[5]
local previous = redis.call('GET', OF)
if previous and previous ~= id then
  redis.call('DEL', PREFIX .. previous)
  redis.call('ZREM', BANS, previous)
end
redis.call('SET', BAN, json, 'PXAT', expires)
redis.call('SET', OF, id, 'PXAT', expires)
redis.call('ZADD', BANS, expires, id)
redis.call('ZREMRANGEBYSCORE', BANS, '-inf', now)
local last = redis.call('ZRANGE', BANS, -1, -1, 'WITHSCORES')
if last[2] then redis.call('PEXPIREAT', BANS, last[2]) end
return redis.call('INCR', VERSION)
