-- KEYS: a guest's recent messages in one room. ARGV: message json, how many to keep, ttl (ms).
redis.call('RPUSH', KEYS[1], ARGV[1])
redis.call('LTRIM', KEYS[1], -tonumber(ARGV[2]), -1)
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
