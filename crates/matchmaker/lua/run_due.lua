-- ARGV[9]: limit. Returns "P" + two tickets' fields per pairing, "E" + gid per expiry.
local limit = tonumber(ARGV[9])
local out = {}
local handled = 0
local due = redis.call('ZRANGEBYSCORE', DUE, '-inf', NOW_TEXT, 'LIMIT', 0, limit)
-- Waits that end at the same millisecond are handled in wait order, as sorted-set ties would
-- otherwise go by member name.
local order = {}
for _, g in ipairs(due) do
  local t = read_ticket(g)
  order[g] = t and tonumber(t.seq) or 0
end
table.sort(due, function(a, b) return order[a] < order[b] end)
for _, g in ipairs(due) do
  handled = handled + 1
  redis.call('ZREM', DUE, g)
  -- Read again: pairing an earlier guest of this batch may have taken this one.
  local t = read_ticket(g)
  if t then
    local interests = cjson.decode(t.ints)
    redis.call('SET', ticket_key(g), ticket_text(t.seq, t.since, t.expires, 'settled', t.last, t.ints),
      'KEEPTTL')
    if #interests > 0 then
      redis.call('ZADD', SETTLED, t.seq, g .. '|' .. t.last .. '|' .. t.seq)
    end
    redis.call('ZADD', EXP, t.expires, g)
    local other = take_partner(g, t.last, interests, true, tonumber(t.since))
    if other then
      local mine = take(g)
      if mine then
        table.insert(out, 'P')
        for _, v in ipairs(mine) do table.insert(out, v) end
        for _, v in ipairs(other) do table.insert(out, v) end
      end
    end
  end
end
if handled < limit then
  local expiring = redis.call('ZRANGEBYSCORE', EXP, '-inf', NOW_TEXT, 'LIMIT', 0, limit - handled)
  for _, g in ipairs(expiring) do
    local t = read_ticket(g)
    if t and tonumber(t.expires) > NOW then
      redis.call('ZADD', EXP, t.expires, g)
    else
      if not take(g) then redis.call('ZREM', EXP, g) end
      table.insert(out, 'E')
      table.insert(out, g)
    end
  end
end
return out
