-- KEYS: away, meta. ARGV: guest, until_ms, index_ttl_ms, log_ttl_ms. Marks the guest away and
-- holds its log.
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
hold_log(KEYS[2], ARGV[4])
return 1
