-- KEYS: log, meta. ARGV: seq, ttl_ms. Holds from entry seq on (see ChatStore::hold_since).
local since = tonumber(ARGV[1]) - 1
local from = tonumber(redis.call('HGET', KEYS[2], 'from'))
if from and from <= since then return 0 end
local count, bytes = 0, 0
for _, stored in ipairs(redis.call('LRANGE', KEYS[1], 0, -1)) do
  if entry_seq(stored) > since then
    count = count + 1
    bytes = bytes + #stored
  end
end
redis.call('HSET', KEYS[2], 'from', since, 'hcount', count, 'hbytes', bytes)
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return 1
