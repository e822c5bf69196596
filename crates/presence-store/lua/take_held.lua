-- KEYS: held. Every held message, oldest first; the list is gone afterwards.
local held = redis.call('LRANGE', KEYS[1], 0, -1)
redis.call('DEL', KEYS[1])
return held
