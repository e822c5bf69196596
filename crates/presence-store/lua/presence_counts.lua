-- KEYS: node, node conns of each live node. Returns online guests, connected sockets.
local online, sockets = 0, 0
for i = 1, #KEYS, 2 do
  sockets = sockets + (tonumber(redis.call('HGET', KEYS[i], 'sockets')) or 0)
  online = online + redis.call('HLEN', KEYS[i + 1])
end
return { online, sockets }
