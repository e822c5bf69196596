-- KEYS: conn, nodes. ARGV: now_ms. The connection's json only while its node lives.
local json = redis.call('GET', KEYS[1])
if not json then return false end
local conn = cjson.decode(json)
local deadline = redis.call('ZSCORE', KEYS[2], conn['nodeId'])
if not deadline or tonumber(deadline) <= tonumber(ARGV[1]) then return false end
return json
