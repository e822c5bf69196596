-- KEYS: log, meta, total. ARGV: marker, ttl_ms, now ms. Replaces the log's entries by the marker.
-- Returns { 'live' | 'held', seq }.
local log, meta, total = KEYS[1], KEYS[2], KEYS[3]
local seq = num(redis.call('HGET', meta, 'seq')) + 1
local from = redis.call('HGET', meta, 'from')
give_back(meta, total)
local stored = seq .. '|' .. ARGV[3] .. '|' .. ARGV[1]
redis.call('DEL', log)
redis.call('RPUSH', log, stored)
redis.call('INCRBY', total, #stored)
redis.call('HSET', meta, 'seq', seq, 'bytes', #stored)
if from then redis.call('HSET', meta, 'hcount', 1, 'hbytes', #stored) end
redis.call('PEXPIRE', log, ARGV[2])
redis.call('PEXPIRE', meta, ARGV[2])
if from then return { 'held', seq } end
return { 'live', seq }
