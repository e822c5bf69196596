-- KEYS: marker of a node. ARGV: ttl_ms. 1 when the marker was missing (and is now set), else 0; either
-- way it lives ttl_ms more.
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then return 1 end
redis.call('PEXPIRE', KEYS[1], ARGV[1])
return 0
