-- KEYS: away. ARGV: now_ms, limit. The guests whose grace is over, removed.
local overdue = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, guest in ipairs(overdue) do redis.call('ZREM', KEYS[1], guest) end
return overdue
