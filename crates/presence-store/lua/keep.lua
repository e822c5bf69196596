-- KEYS: log, meta, total. ARGV: entry, max entries, max bytes, max total bytes, live ms, now ms,
-- ttl_ms. Returns { 'live' | 'unkept' | 'held' | 'refused', seq }.
local limits = { tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5]) }
return keep_entry(KEYS[1], KEYS[2], KEYS[3], ARGV[1], limits, ARGV[6], ARGV[7])
