-- KEYS: nodes, node, node conns, then the conn key of each listed guest.
-- ARGV: node, dead_before_ms ('' to remove a live node too), then gid, socket for each entry
-- of the node's conns as the caller read them.
-- Returns {'gone'} when the node is not there (or alive, when it must be dead), {'retry'} when
-- its conns gained an entry since read, else {'removed', json of each connection it held}.
local node = ARGV[1]
local deadline = redis.call('ZSCORE', KEYS[1], node)
if not deadline then return { 'gone' } end
if ARGV[2] ~= '' and tonumber(deadline) > tonumber(ARGV[2]) then return { 'gone' } end
local listed = {}
for i = 3, #ARGV, 2 do listed[ARGV[i]] = ARGV[i + 1] end
local entries = redis.call('HGETALL', KEYS[3])
for i = 1, #entries, 2 do
  if listed[entries[i]] ~= entries[i + 1] then return { 'retry' } end
end
local out = { 'removed' }
for i = 3, #ARGV, 2 do
  local key = KEYS[4 + (i - 3) / 2]
  local json = redis.call('GET', key)
  if json then
    local conn = cjson.decode(json)
    if conn['nodeId'] == node and conn['socketId'] == ARGV[i + 1] then
      redis.call('DEL', key)
      table.insert(out, json)
    end
  end
end
redis.call('DEL', KEYS[2], KEYS[3])
redis.call('ZREM', KEYS[1], node)
return out
