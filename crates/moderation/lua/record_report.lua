-- KEYS: the report, the index of all reports, the index of the reported guest's reports, its
-- reporters. ARGV: report json, created (ms), report id, reporter id, window (ms), retention
-- (ms). Indexes are scored by each report's end, so "live" is "scored after now". Answers how
-- many distinct guests reported the guest within the window.
local REPORT, ALL, OF, BY = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local json, at, id, reporter = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]
local window, retention = tonumber(ARGV[5]), tonumber(ARGV[6])
redis.call('SET', REPORT, json, 'PX', retention)
for _, index in ipairs({ ALL, OF }) do
  redis.call('ZADD', index, at + retention, id)
  redis.call('ZREMRANGEBYSCORE', index, '-inf', at)
  redis.call('PEXPIRE', index, retention)
end
-- One member per reporter: reporting again only moves its time.
redis.call('ZADD', BY, at, reporter)
redis.call('ZREMRANGEBYSCORE', BY, '-inf', at - window)
redis.call('PEXPIRE', BY, window)
return redis.call('ZCARD', BY)
