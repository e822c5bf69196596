-- KEYS: pair, away, log, meta, total. ARGV: gid, room and seq last seen ('' for what was held),
-- ttl_ms. Returns { pair json or '', '1' when it was away else '0', entries... }; without a pair
-- every entry is returned and the log goes. With one, the hold goes on from the last entry
-- (see release_hold.lua), so nothing kept meanwhile goes out ahead of these.
local json = redis.call('GET', KEYS[1])
local out = { json or '', tostring(redis.call('ZREM', KEYS[2], ARGV[1])) }
local from = tonumber(redis.call('HGET', KEYS[4], 'from'))
if not json then
  entries_after(KEYS[3], 0, out)
  forget_log(KEYS[3], KEYS[4], KEYS[5])
  return out
end
if ARGV[2] ~= '' and cjson.decode(json)['roomId'] == ARGV[2] then from = tonumber(ARGV[3]) end
hold_from_last(KEYS[4], ARGV[4])
if from then entries_after(KEYS[3], from, out) end
return out
