-- KEYS: the ban, the index of bans, the bans' version. ARGV: the target key prefix, ban id,
-- now (ms). Answers 1 when a live ban was lifted.
local BAN, BANS, VERSION = KEYS[1], KEYS[2], KEYS[3]
local json = redis.call('GET', BAN)
local score = redis.call('ZSCORE', BANS, ARGV[2])
redis.call('ZREM', BANS, ARGV[2])
redis.call('INCR', VERSION)
if not json then return 0 end
redis.call('DEL', BAN)
local target = cjson.decode(json).target
local of
if target.guestId then of = 'guest:' .. target.guestId else of = 'address:' .. target.address end
of = ARGV[1] .. of
if redis.call('GET', of) == ARGV[2] then redis.call('DEL', of) end
if score and tonumber(score) > tonumber(ARGV[3]) then return 1 end
return 0
