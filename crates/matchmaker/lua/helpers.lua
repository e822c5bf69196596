-- Shared functions of the queue's scripts, prepended to each: reading and removing tickets,
-- and finding a partner.
-- KEYS: seq, due, exp, open, settled (RedisQueue's Keys). ARGV starts with eight common
-- arguments: the ticket key prefix, the interest line prefix, now, the interest wait, when a wait
-- starting now ends, when a ticket written now expires, its key's lifetime (milliseconds), and
-- the prefix of each guest's set of guests it is kept apart from.
local SEQ, DUE, EXP, OPEN, SETTLED = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local TICKET, INTEREST, APART = ARGV[1], ARGV[2], ARGV[8]
local NOW_TEXT, WAIT_END, EXPIRES, TICKET_PX = ARGV[3], ARGV[5], ARGV[6], ARGV[7]
local NOW, WAIT = tonumber(NOW_TEXT), tonumber(ARGV[4])

local function ticket_key(gid) return TICKET .. gid end

local function ticket_text(seq, since, expires, phase, last, ints_json)
  return table.concat({ seq, since, expires, phase, last, ints_json }, '|')
end

-- A ticket's fields, or nil when the text is missing (or not one of ours).
local function parse_ticket(text)
  if not text then return nil end
  local seq, since, expires, phase, last, ints_json =
    string.match(text, '^(%d+)|(%-?%d+)|(%-?%d+)|(%a+)|([^|]*)|(.*)$')
  if not seq then return nil end
  return { seq = seq, since = since, expires = expires, phase = phase,
           last = last, ints = ints_json }
end

-- The guests `gid` must never be paired with (blocked or reported), as a set, or nil when
-- there are none. Each member's score is until when it holds (ms).
local function apart_of(gid)
  local others = redis.call('ZRANGE', APART .. gid, '(' .. NOW_TEXT, '+inf', 'BYSCORE')
  if #others == 0 then return nil end
  local set = {}
  for _, g in ipairs(others) do set[g] = true end
  return set
end

local function read_ticket(gid)
  return parse_ticket(redis.call('GET', ticket_key(gid)))
end

-- Removes a ticket everywhere; returns {gid, seq, since, interests-json} or nil.
local function take(gid)
  local t = parse_ticket(redis.call('GETDEL', ticket_key(gid)))
  if not t then return nil end
  local interests = cjson.decode(t.ints)
  local member = gid .. '|' .. t.last .. '|' .. t.seq
  for _, interest in ipairs(interests) do
    redis.call('ZREM', INTEREST .. interest, member)
  end
  if t.phase == 'fresh' then
    redis.call('ZREM', DUE, gid)
  else
    redis.call('ZREM', EXP, gid)
  end
  if #interests == 0 then
    redis.call('ZREM', OPEN, member)
  elseif t.phase == 'settled' then
    redis.call('ZREM', SETTLED, member)
  end
  return { gid, t.seq, t.since, t.ints }
end

-- Reads a line from its head: one entry first, as the head is nearly always eligible, and the
-- next fifteen only when it is not (a longer range costs several times more). Bounds are text:
-- a Lua number passed to redis.call is formatted with printf, which costs more than the call.
local SCAN_RANGES = { { '0', '0', 1 }, { '1', '15', 15 } }

-- The oldest member of a line that `me` may pair with, and the oldest recent partner in it,
-- each as {gid, seq, member, line}. Members are `<gid>|<last partner>|<seq>`. Guests in the
-- set `apart` are passed over.
local function scan(key, me, last, apart)
  local recent = nil
  for _, range in ipairs(SCAN_RANGES) do
    local items = redis.call('ZRANGE', key, range[1], range[2])
    for _, member in ipairs(items) do
      local g, glast, seq = string.match(member, '^([^|]*)|([^|]*)|(%d+)$')
      if g and g ~= me and not (apart and apart[g]) then
        local entry = { g, tonumber(seq), member, key }
        if g == last or glast == me then
          if not recent then recent = entry end
        else
          return entry, recent
        end
      end
    end
    if #items < range[3] then break end
  end
  return nil, recent
end

local function older(a, b)
  if not a then return b end
  if not b then return a end
  if b[2] < a[2] then return b end
  return a
end

-- Interest sharers first; the random lines when `settled`; a recent partner last, once both
-- have waited the interest wait.
local function find(me, last, interests, settled, since)
  local best, recent = nil, nil
  local apart = apart_of(me)
  local lines = {}
  for _, interest in ipairs(interests) do table.insert(lines, INTEREST .. interest) end
  -- One EXISTS over all of them spares a scan per interest when nobody shares any.
  if #lines > 0 and redis.call('EXISTS', unpack(lines)) > 0 then
    for _, line in ipairs(lines) do
      local b, r = scan(line, me, last, apart)
      best, recent = older(best, b), older(recent, r)
    end
  end
  if not best and settled then
    for _, line in ipairs({ OPEN, SETTLED }) do
      local b, r = scan(line, me, last, apart)
      best, recent = older(best, b), older(recent, r)
    end
  end
  if best then return best end
  if not recent then return nil end
  local other = read_ticket(recent[1])
  if other and since + WAIT <= NOW and tonumber(other.since) + WAIT <= NOW then return recent end
  return nil
end

-- Finds a partner and takes it out of the queue; an entry whose ticket vanished is removed from
-- its line and the search goes on.
local function take_partner(me, last, interests, settled, since)
  for _ = 1, 8 do
    local found = find(me, last, interests, settled, since)
    if not found then return nil end
    local other = take(found[1])
    if other then return other end
    redis.call('ZREM', found[4], found[3])
  end
  return nil
end
