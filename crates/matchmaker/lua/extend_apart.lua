-- KEYS: one guest's apart set. ARGV[9]: its id; ARGV[10]: until (ms). Every pairing ban of the
-- guest that holds now lasts at least until then, on both sides (its session was extended).
local others = redis.call('ZRANGE', KEYS[1], '(' .. NOW_TEXT, '+inf', 'BYSCORE')
for _, other in ipairs(others) do
  for _, pair in ipairs({ { KEYS[1], other }, { APART .. other, ARGV[9] } }) do
    redis.call('ZADD', pair[1], 'GT', ARGV[10], pair[2])
    local last = redis.call('ZRANGE', pair[1], -1, -1, 'WITHSCORES')
    redis.call('PEXPIREAT', pair[1], last[2])
  end
end
return #others
