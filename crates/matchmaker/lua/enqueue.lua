-- ARGV[8..]: a batch of enqueues, three arguments each: gid, last partner or "", interests
-- json. Answers each in order: `waiting`, `already`, `paired` and both tickets' fields, or
-- `error` and a message.
local function enqueue(me, last, ints_json)
  local t = ticket_key(me)
  if redis.call('EXISTS', t) == 1 then return { 'already' } end
  local interests = cjson.decode(ints_json)
  local settled = (#interests == 0) or WAIT == 0
  local other = take_partner(me, last, interests, settled, NOW)
  if other then
    -- The newcomer waited least; a sequence number just above its partner's says so without
    -- spending an INCR.
    local mine = tostring(tonumber(other[2]) + 1)
    return { 'paired', other[1], other[2], other[3], other[4], me, mine, NOW_TEXT, ints_json }
  end
  local seq = tostring(redis.call('INCR', SEQ))
  local member = me .. '|' .. last .. '|' .. seq
  for _, interest in ipairs(interests) do
    redis.call('ZADD', INTEREST .. interest, seq, member)
  end
  local phase = 'fresh'
  if #interests == 0 then
    redis.call('ZADD', OPEN, seq, member)
  elseif settled then
    phase = 'settled'
    redis.call('ZADD', SETTLED, seq, member)
  end
  if phase == 'fresh' then
    redis.call('ZADD', DUE, WAIT_END, me)
  else
    redis.call('ZADD', EXP, EXPIRES, me)
  end
  redis.call('SET', t, ticket_text(seq, NOW_TEXT, EXPIRES, phase, last, ints_json), 'PX', TICKET_PX)
  return { 'waiting' }
end

-- A failing enqueue answers `error` and a message, and the batch goes on: an error thrown out
-- of the script would lose the answers of the enqueues before it, whose effects stay.
local out = {}
for k = 9, #ARGV, 3 do
  local ok, answer = pcall(enqueue, ARGV[k], ARGV[k + 1], ARGV[k + 2])
  if not ok then
    local message = type(answer) == 'table' and answer.err or tostring(answer)
    answer = { 'error', message }
  end
  for _, v in ipairs(answer) do table.insert(out, v) end
end
return out
