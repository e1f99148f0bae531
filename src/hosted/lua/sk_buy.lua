-- KEYS: meta hash, buyers set, orders stream. ARGV: uid, sku, now_ms.
-- Started? Bought already? Admitted? In stock? All in one step: no oversell.
local m = redis.call('HMGET', KEYS[1], 'remaining', 'admitted', 'start', 'admit')
if not m[1] then
  return redis.status_reply('NO_SUCH_SALE')
end
if tonumber(ARGV[3]) < tonumber(m[3]) then
  return redis.status_reply('NOT_STARTED')
end
if redis.call('SISMEMBER', KEYS[2], ARGV[1]) == 1 then
  return redis.status_reply('DUPLICATE')
end
if tonumber(m[2]) >= tonumber(m[4]) then
  return redis.status_reply('REJECTED')
end
redis.call('HINCRBY', KEYS[1], 'admitted', 1)
if tonumber(m[1]) <= 0 then
  return redis.status_reply('SOLD_OUT')
end
redis.call('HINCRBY', KEYS[1], 'remaining', -1)
redis.call('HINCRBY', KEYS[1], 'sold', 1)
redis.call('SADD', KEYS[2], ARGV[1])
redis.call('XADD', KEYS[3], '*', 'uid', ARGV[1], 'sku', ARGV[2], 'ts', ARGV[3])
-- KEYS[2] and KEYS[3] expire with KEYS[1] at the same millisecond: a copy
-- of its TTL in seconds made them outlive it or die first by up to half a
-- second. PEXPIRETIME (Redis 7) gives that instant; before 7, the remaining
-- PTTL is the closest there is (a millisecond off if the clock ticks between
-- the two calls). '%d', as a Lua number could print in exponent form.
local at = redis.pcall('PEXPIRETIME', KEYS[1])
if type(at) == 'number' then
  if at > 0 then
    redis.call('PEXPIREAT', KEYS[2], string.format('%d', at))
    redis.call('PEXPIREAT', KEYS[3], string.format('%d', at))
  end
else
  local ttl = redis.call('PTTL', KEYS[1])
  if ttl > 0 then
    redis.call('PEXPIRE', KEYS[2], string.format('%d', ttl))
    redis.call('PEXPIRE', KEYS[3], string.format('%d', ttl))
  end
end
return redis.status_reply('OK')
