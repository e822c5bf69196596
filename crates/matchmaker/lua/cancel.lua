-- ARGV[9]: gid. Answers 1 when a ticket was taken.
if take(ARGV[9]) then return { '1' } end
return { '0' }
