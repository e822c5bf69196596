-- KEYS: sessions, then the session key of each candidate. ARGV: now_ms, then each candidate's sid.
-- Takes each candidate still expired and still indexed (so exactly one caller takes it);
-- returns sid, json-or-'' pairs.
local now = tonumber(ARGV[1])
local out = {}
for i = 2, #ARGV do
  local sid = ARGV[i]
  local score = redis.call('ZSCORE', KEYS[1], sid)
  if score and tonumber(score) <= now then
    redis.call('ZREM', KEYS[1], sid)
    local json = redis.call('GET', KEYS[i])
    redis.call('DEL', KEYS[i])
    table.insert(out, sid)
    table.insert(out, json or '')
  end
end
return out
