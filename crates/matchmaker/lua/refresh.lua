-- ARGV[8..]: gids whose tickets live on.
for k = 9, #ARGV do
  local g = ARGV[k]
  local t = read_ticket(g)
  if t then
    redis.call('SET', ticket_key(g), ticket_text(t.seq, t.since, EXPIRES, t.phase, t.last, t.ints),
      'PX', TICKET_PX)
  end
end
return {}
