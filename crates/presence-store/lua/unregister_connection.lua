-- KEYS: conn, its node's conns. ARGV: gid, socket, the connection's json as the caller read it.
-- Returns 1 when removed, 0 when it is another socket's now, -1 when it changed since read.
local json = redis.call('GET', KEYS[1])
if not json then return 0 end
if json ~= ARGV[3] then return -1 end
redis.call('DEL', KEYS[1])
if redis.call('HGET', KEYS[2], ARGV[1]) == ARGV[2] then
  redis.call('HDEL', KEYS[2], ARGV[1])
end
return 1
