-- KEYS: pair, away. ARGV: gid. The pair's json and '1' when the partner is away, '0' when not;
-- nothing when the guest is in no pair.
local json = redis.call('GET', KEYS[1])
if not json then return {} end
local pair = cjson.decode(json)
local partner = pair['initiator']
if partner == ARGV[1] then partner = pair['responder'] end
if redis.call('ZSCORE', KEYS[2], partner) then return { json, '1' } end
return { json, '0' }
