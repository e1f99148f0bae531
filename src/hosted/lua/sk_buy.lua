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
expire_with_parent(KEYS[1], KEYS[2], KEYS[3])
return redis.status_reply('OK')
