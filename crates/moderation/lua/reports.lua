-- KEYS: an index of reports. ARGV: now (ms), offset, limit, the report key prefix.
-- Answers the number of live reports, then the newest `limit` after `offset`, as json.
local live = '(' .. ARGV[1]
local out = { tostring(redis.call('ZCOUNT', KEYS[1], live, '+inf')) }
local ids = redis.call('ZRANGE', KEYS[1], '+inf', live, 'BYSCORE', 'REV', 'LIMIT', ARGV[2], ARGV[3])
for _, id in ipairs(ids) do
  local json = redis.call('GET', ARGV[4] .. id)
  if json then table.insert(out, json) end
end
return out
