-- KEYS: the index of bans. ARGV: now (ms), the ban key prefix. Answers each live ban's json.
local out = {}
for _, id in ipairs(redis.call('ZRANGE', KEYS[1], '(' .. ARGV[1], '+inf', 'BYSCORE')) do
  local json = redis.call('GET', ARGV[2] .. id)
  if json then table.insert(out, json) end
end
return out
