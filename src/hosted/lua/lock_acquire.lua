-- KEYS[1] lock hash; ARGV: owner, ttl_ms. Returns the owner's hold count, or 0.
local owner = redis.call('HGET', KEYS[1], 'owner')
if not owner then
  redis.call('HSET', KEYS[1], 'owner', ARGV[1], 'holds', 1)
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return 1
end
if owner == ARGV[1] then
  local holds = redis.call('HINCRBY', KEYS[1], 'holds', 1)
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
  return holds
end
return 0
