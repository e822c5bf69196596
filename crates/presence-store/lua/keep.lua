-- KEYS: log, meta, total. ARGV: entry, max entries, max bytes, max total bytes, ttl_ms.
-- Returns { 'live' | 'unkept' | 'held' | 'refused', seq }.
local log, meta, total = KEYS[1], KEYS[2], KEYS[3]
local max_entries, max_bytes, max_total = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local seq = num(redis.call('HGET', meta, 'seq')) + 1
local stored = seq .. '|' .. ARGV[1]
local size = #stored
local from = redis.call('HGET', meta, 'from')
local all = num(redis.call('GET', total))
if from then
  local hcount = num(redis.call('HGET', meta, 'hcount'))
  local hbytes = num(redis.call('HGET', meta, 'hbytes'))
  if hcount >= max_entries or hbytes + size > max_bytes or all + size > max_total then
    return { 'refused', 0 }
  end
  redis.call('HSET', meta, 'hcount', hcount + 1, 'hbytes', hbytes + size)
  from = tonumber(from)
elseif all + size > max_total or size > max_bytes then
  -- It goes out at once; there is no room to keep it for a replay.
  redis.call('HSET', meta, 'seq', seq)
  redis.call('PEXPIRE', meta, ARGV[5])
  return { 'unkept', seq }
end
redis.call('RPUSH', log, stored)
redis.call('INCRBY', total, size)
local bytes = num(redis.call('HGET', meta, 'bytes')) + size
-- The oldest go first, never one that is held.
while redis.call('LLEN', log) > max_entries or bytes > max_bytes do
  local oldest = redis.call('LINDEX', log, 0)
  if not oldest or (from and entry_seq(oldest) > from) then break end
  redis.call('LPOP', log)
  bytes = bytes - #oldest
  redis.call('DECRBY', total, #oldest)
end
redis.call('HSET', meta, 'seq', seq, 'bytes', bytes)
redis.call('PEXPIRE', log, ARGV[5])
redis.call('PEXPIRE', meta, ARGV[5])
if from then return { 'held', seq } end
return { 'live', seq }
