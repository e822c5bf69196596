-- ARGV[8]: gid. Answers 1 when a ticket was taken.
if take(ARGV[8]) then return { '1' } end
return { '0' }
