-- KEYS: log, meta, total. ARGV: entry, max entries, max bytes, max total bytes, ttl_ms.
-- Returns { 'live' | 'unkept' | 'held' | 'refused', seq }.
return keep_entry(KEYS[1], KEYS[2], KEYS[3], ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]),
  tonumber(ARGV[4]), ARGV[5])
