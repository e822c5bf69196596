-- KEYS: conn, node conns, nodes, the previous connection's node conns (or the new one's).
-- ARGV: json, gid, socket, node, conn_ttl_ms, now_ms, implicit_deadline_ms, node_record_ttl_ms,
-- index_ttl_ms, the previous connection's json as the caller expects it ('' for none).
-- Returns {'retry', current json} when the previous connection is not the one expected (the
-- caller tries again with its node's key), else {'ok', previous json or ''}.
local previous = redis.call('GET', KEYS[1]) or ''
if previous ~= ARGV[10] then return { 'retry', previous } end
if previous ~= '' then
  local old = cjson.decode(previous)
  if redis.call('HGET', KEYS[4], ARGV[2]) == old['socketId'] then
    redis.call('HDEL', KEYS[4], ARGV[2])
  end
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[5])
redis.call('HSET', KEYS[2], ARGV[2], ARGV[3])
local deadline = redis.call('ZSCORE', KEYS[3], ARGV[4])
if not deadline or tonumber(deadline) <= tonumber(ARGV[6]) then
  redis.call('ZADD', KEYS[3], ARGV[7], ARGV[4])
end
if redis.call('PTTL', KEYS[2]) < tonumber(ARGV[8]) then
  redis.call('PEXPIRE', KEYS[2], ARGV[8])
end
if redis.call('PTTL', KEYS[3]) < tonumber(ARGV[9]) then
  redis.call('PEXPIRE', KEYS[3], ARGV[9])
end
return { 'ok', previous }
