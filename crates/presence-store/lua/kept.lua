-- Helpers of a guest's log (prepended to the scripts that use them). A log is two keys: a list
-- of '<seq>|<entry>' strings, oldest first, and a hash with 'seq' (the last number), 'bytes'
-- (what the list holds), and while held 'from' (the last number sent before), 'hcount' and
-- 'hbytes' (what was held since). A third key counts the bytes of every log.
local function num(value) return tonumber(value) or 0 end

local function entry_seq(stored) return tonumber(string.match(stored, '^(%d+)|')) end

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

-- Starts holding (no-op when held already).
local function hold_log(meta, ttl_ms)
  if redis.call('HSETNX', meta, 'from', num(redis.call('HGET', meta, 'seq'))) == 1 then
    redis.call('HSET', meta, 'hcount', 0, 'hbytes', 0)
    redis.call('PEXPIRE', meta, ttl_ms)
  end
end
