-- KEYS[1] meta hash. ARGV: bitmap prefix, then h1 h2 per item. 1 per item
-- that may be in the filter, 0 for one that is certainly not (or no filter).
local meta = KEYS[1]
local out = {}
local filters = tonumber(redis.call('HGET', meta, 'filters') or '0')
local layers = {}
for j = 0, filters - 1 do
  local v = redis.call('HMGET', meta, 'm' .. j, 'k' .. j)
  layers[j] = {m = tonumber(v[1]), k = tonumber(v[2])}
end
for a = 2, #ARGV, 2 do
  local h1, h2 = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
  local found = 0
  for j = 0, filters - 1 do
    local all = true
    for i = 0, layers[j].k - 1 do
      if redis.call('GETBIT', ARGV[1] .. j, (h1 + i * h2) % layers[j].m) == 0 then
        all = false
        break
      end
    end
    if all then
      found = 1
      break
    end
  end
  out[#out + 1] = found
end
return out
