-- KEYS: sender's pair, recipient's log, meta, total. ARGV: room, recipient, entry, max entries,
-- max bytes, max total bytes, live ms, now ms, ttl_ms. As keep.lua when the sender is still in
-- that room with that recipient; else { 'not_in_chat', 0 } and nothing is kept.
local json = redis.call('GET', KEYS[1])
if not json then return { 'not_in_chat', 0 } end
local pair = cjson.decode(json)
local in_chat = pair['roomId'] == ARGV[1]
  and (pair['initiator'] == ARGV[2] or pair['responder'] == ARGV[2])
if not in_chat then return { 'not_in_chat', 0 } end
local limits = { tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]) }
return keep_entry(KEYS[2], KEYS[3], KEYS[4], ARGV[3], limits, ARGV[8], ARGV[9])
