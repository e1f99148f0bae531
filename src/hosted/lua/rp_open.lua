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
expire_with_parent(KEYS[1], KEYS[2], KEYS[3])
return amount
