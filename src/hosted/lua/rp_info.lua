-- KEYS: meta hash. [total, count, remaining_cents, packets_left, ttl_seconds] or nil.
local m = redis.call('HMGET', KEYS[1], 'total', 'count', 'remaining', 'left')
if not m[1] then
  return false
end
return {tonumber(m[1]), tonumber(m[2]), tonumber(m[3]), tonumber(m[4]), redis.call('TTL', KEYS[1])}
