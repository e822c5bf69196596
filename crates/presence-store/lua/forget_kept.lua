-- KEYS: log, meta, total. Drops a guest's log.
forget_log(KEYS[1], KEYS[2], KEYS[3])
return 1
