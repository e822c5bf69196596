-- Helpers of a guest's log (prepended to the scripts that use them). A log is two keys: a list
-- of '<seq>|<kept at, ms>|<entry>' strings, oldest first, and a hash with 'seq' (the last number), 'bytes'
-- (what the list holds), and while held 'from' (the last number sent before), 'hcount' and
-- 'hbytes' (what was held since). A third key counts the bytes of every log.
local function num(value) return tonumber(value) or 0 end

local function entry_seq(stored) return tonumber(string.match(stored, '^(%d+)|')) end

local function entry_at(stored) return tonumber(string.match(stored, '^%d+|(%d+)|')) or 0 end

-- Gives a log's bytes back to the total, which never goes below 0.
local function give_back(meta, total)
  local bytes = num(redis.call('HGET', meta, 'bytes'))
  if bytes > 0 then redis.call('DECRBY', total, math.min(bytes, num(redis.call('GET', total)))) end
end

-- Drops a log.
local function forget_log(log, meta, total)
  give_back(meta, total)
  redis.call('DEL', log, meta)
end

-- Holds what comes after the log's last entry, counted afresh against the limits.
local function hold_from_last(meta, ttl_ms)
  redis.call('HSET', meta, 'from', num(redis.call('HGET', meta, 'seq')), 'hcount', 0, 'hbytes', 0)
  redis.call('PEXPIRE', meta, ttl_ms)
end

-- Starts holding (no-op when held already).
local function hold_log(meta, ttl_ms)
  if redis.call('HEXISTS', meta, 'from') == 0 then hold_from_last(meta, ttl_ms) end
end

-- Appends to `out` the stored entries of a log numbered after `from`, oldest first.
local function entries_after(log, from, out)
  for _, stored in ipairs(redis.call('LRANGE', log, 0, -1)) do
    if entry_seq(stored) > from then out[#out + 1] = stored end
  end
  return out
end

-- Keeps an entry in a log (see keep.lua); returns { 'live' | 'unkept' | 'held' | 'refused', seq }.
-- `limits` is { entries, bytes, total bytes, live ms }: an entry sent to a connected guest is
-- dropped once older than live ms (the resume grace: nothing older can still be in flight).
local function keep_entry(log, meta, total, entry, limits, now_ms, ttl_ms)
  local max_entries, max_bytes, max_total, live_ms = limits[1], limits[2], limits[3], limits[4]
  local seq = num(redis.call('HGET', meta, 'seq')) + 1
  local stored = seq .. '|' .. now_ms .. '|' .. entry
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
    redis.call('PEXPIRE', meta, ttl_ms)
    return { 'unkept', seq }
  end
  redis.call('RPUSH', log, stored)
  redis.call('INCRBY', total, size)
  local bytes = num(redis.call('HGET', meta, 'bytes')) + size
  -- The oldest go first, never one that is held.
  while true do
    local oldest = redis.call('LINDEX', log, 0)
    if not oldest or (from and entry_seq(oldest) > from) then break end
    local over = redis.call('LLEN', log) > max_entries or bytes > max_bytes
    if not over and entry_at(oldest) + live_ms >= tonumber(now_ms) then break end
    redis.call('LPOP', log)
    bytes = bytes - #oldest
    redis.call('DECRBY', total, #oldest)
  end
  redis.call('HSET', meta, 'seq', seq, 'bytes', bytes)
  redis.call('PEXPIRE', log, ttl_ms)
  redis.call('PEXPIRE', meta, ttl_ms)
  if from then return { 'held', seq } end
  return { 'live', seq }
end
