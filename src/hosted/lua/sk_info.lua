-- KEYS: meta hash. [stock, remaining, sold, admitted, start_ms] or nil.
local m = redis.call('HMGET', KEYS[1], 'stock', 'remaining', 'sold', 'admitted', 'start')
if not m[1] then
  return false
end
return {tonumber(m[1]), tonumber(m[2]), tonumber(m[3]), tonumber(m[4]), tonumber(m[5])}
