-- KEYS: the index of reports, the index of bans. ARGV: now (ms).
local live = '(' .. ARGV[1]
return { redis.call('ZCOUNT', KEYS[1], live, '+inf'), redis.call('ZCOUNT', KEYS[2], live, '+inf') }
