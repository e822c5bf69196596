-- KEYS: the apart sets of two guests. ARGV[9], ARGV[10]: their ids; ARGV[11]: until (ms).
-- Each set gets the other guest, its end moved only later (GT); ended members go, and the key
-- lives as long as its latest member.
for i, key in ipairs(KEYS) do
  redis.call('ZADD', key, 'GT', ARGV[11], ARGV[11 - i])
end
for _, key in ipairs(KEYS) do
  redis.call('ZREMRANGEBYSCORE', key, '-inf', NOW_TEXT)
  local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  if last[2] then redis.call('PEXPIREAT', key, last[2]) end
end
return 1
