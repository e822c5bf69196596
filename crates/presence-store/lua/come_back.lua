-- KEYS: pair, away, log, meta, total. ARGV: gid, room and seq last seen ('' for what was held).
-- Returns { pair json or '', '1' when it was away else '0', entries... }; without a pair every
-- entry is returned and the log goes.
local json = redis.call('GET', KEYS[1])
local out = { json or '', tostring(redis.call('ZREM', KEYS[2], ARGV[1])) }
local from = tonumber(redis.call('HGET', KEYS[4], 'from'))
if not json then
  for _, stored in ipairs(redis.call('LRANGE', KEYS[3], 0, -1)) do out[#out + 1] = stored end
  forget_log(KEYS[3], KEYS[4], KEYS[5])
  return out
end
redis.call('HDEL', KEYS[4], 'from', 'hcount', 'hbytes')
if ARGV[2] ~= '' and cjson.decode(json)['roomId'] == ARGV[2] then from = tonumber(ARGV[3]) end
if from then
  for _, stored in ipairs(redis.call('LRANGE', KEYS[3], 0, -1)) do
    if entry_seq(stored) > from then out[#out + 1] = stored end
  end
end
return out
