-- KEYS: meta hash, opened hash, records list. ARGV: uid, random (0 .. 2^31).
-- The amount is uniform in [1, 2 * remaining / left], capped so every packet
-- left keeps at least 1 cent; the last packet takes the rest. Idempotent per uid.
local had = redis.call('HGET', KEYS[2], ARGV[1])
if had then
  return tonumber(had)
end
local meta = redis.call('HMGET', KEYS[1], 'remaining', 'left')
if not meta[1] then
  return false
end
local remaining, left = tonumber(meta[1]), tonumber(meta[2])
if left <= 0 then
  return false
end
local amount
if left == 1 then
  amount = remaining
else
  local max = math.floor(2 * remaining / left)
  local cap = remaining - (left - 1)
  if max > cap then max = cap end
  if max < 1 then max = 1 end
  amount = 1 + (tonumber(ARGV[2]) % max)
end
redis.call('HSET', KEYS[1], 'remaining', remaining - amount, 'left', left - 1)
redis.call('HSET', KEYS[2], ARGV[1], amount)
redis.call('RPUSH', KEYS[3], ARGV[1], amount)
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
return amount
