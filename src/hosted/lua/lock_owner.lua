-- KEYS[1] lock hash. [owner, holds, pttl_ms] or nil when free.
local owner = redis.call('HGET', KEYS[1], 'owner')
if not owner then
  return false
end
local holds = tonumber(redis.call('HGET', KEYS[1], 'holds'))
return {owner, holds, redis.call('PTTL', KEYS[1])}
