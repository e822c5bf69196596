-- KEYS: the ban-of keys of a guest and of an address (one or both). ARGV: the ban key prefix.
-- Answers the json of each ban found (expiry is judged by the caller).
local out = {}
for _, key in ipairs(KEYS) do
  local id = redis.call('GET', key)
  if id then
    local json = redis.call('GET', ARGV[1] .. id)
    if json then table.insert(out, json) end
  end
end
return out
