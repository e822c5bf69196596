-- KEYS: session, sessions. ARGV: sid, now_ms, new_expires_ms, new_expires_rfc3339, ttl_ms.
-- Returns the session's json (extended, or unchanged when already later), or false.
local json = redis.call('GET', KEYS[1])
if not json then return false end
local session = cjson.decode(json)
local score = redis.call('ZSCORE', KEYS[2], ARGV[1])
if not score or tonumber(score) <= tonumber(ARGV[2]) then return false end
if tonumber(ARGV[3]) <= tonumber(score) then return json end
session['guest']['expiresAt'] = ARGV[4]
json = cjson.encode(session)
redis.call('SET', KEYS[1], json, 'PX', ARGV[5])
redis.call('ZADD', KEYS[2], ARGV[3], ARGV[1])
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[5]) then
  redis.call('PEXPIRE', KEYS[2], ARGV[5])
end
return json
