-- KEYS: session, sessions. ARGV: sid. Returns the session's json, or false.
local json = redis.call('GET', KEYS[1])
redis.call('DEL', KEYS[1])
redis.call('ZREM', KEYS[2], ARGV[1])
return json
