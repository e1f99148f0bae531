-- KEYS[1] lock hash; ARGV: owner, ttl_ms. 1 when extended, 0 when not held by owner.
if redis.call('HGET', KEYS[1], 'owner') ~= ARGV[1] then
  return 0
end
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
