-- KEYS[1] lock hash; ARGV: owner. Returns holds left (0: released), or -1
-- when the owner does not hold it (and nothing changes).
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then
  return -1
end
local holds = redis.call('HINCRBY', KEYS[1], 'holds', -1)
if holds <= 0 then
  redis.call('DEL', KEYS[1])
  return 0
end
return holds
