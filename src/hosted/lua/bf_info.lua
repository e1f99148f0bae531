-- KEYS[1] meta hash. RedisBloom's BF.INFO fields.
if redis.call('EXISTS', KEYS[1]) == 0 then
  return redis.error_reply('ERR not found')
end
local v = redis.call('HMGET', KEYS[1], 'capacity', 'filters', 'items', 'expansion')
local filters = tonumber(v[2])
local bytes = 0
for j = 0, filters - 1 do
  bytes = bytes + math.ceil(tonumber(redis.call('HGET', KEYS[1], 'm' .. j)) / 8)
end
return {'Capacity', tonumber(v[1]), 'Size', bytes, 'Number of filters', filters,
  'Number of items inserted', tonumber(v[3]), 'Expansion rate', tonumber(v[4])}
