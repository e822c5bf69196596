-- KEYS: pair, log, meta. ARGV: ttl_ms. Holds the log of a guest in a chat; 1 when there is a
-- chat or a log to come back to, else 0.
if redis.call('EXISTS', KEYS[1]) == 1 then
  hold_log(KEYS[3], ARGV[1])
  return 1
end
return redis.call('EXISTS', KEYS[2])
