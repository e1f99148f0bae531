-- KEYS[1] meta hash. ARGV: bitmap prefix, create (1/0), default error,
-- default capacity, default expansion, the default filter's bits and hash
-- count, bloom_max_bytes, then h1 h2 per item (hashes computed by the
-- proxy). For each item: 1 if added, 0 if it may exist already.
-- A full filter grows by stacking a larger one (capacity x expansion, error
-- halved), as RedisBloom does, while all its layers together stay within
-- bloom_max_bytes; past that, its last layer takes the items (more false
-- positives, never an error: each bit position stays below its layer's
-- size, which SETBIT accepts).
local meta = KEYS[1]
if redis.call('EXISTS', meta) == 0 then
  if ARGV[2] ~= '1' then
    return redis.error_reply('ERR not found')
  end
  redis.call('HSET', meta, 'capacity', ARGV[4], 'error', ARGV[3], 'expansion', ARGV[5], 'filters', 1, 'items', 0,
    'c0', ARGV[4], 'e0', ARGV[3], 'm0', ARGV[6], 'k0', ARGV[7], 'n0', 0)
end
local prefix = ARGV[1]
local max_bytes = tonumber(ARGV[8])
local filters = tonumber(redis.call('HGET', meta, 'filters'))
local layers = {}
local bytes = 0
for j = 0, filters - 1 do
  local v = redis.call('HMGET', meta, 'm' .. j, 'k' .. j, 'n' .. j, 'c' .. j, 'e' .. j)
  layers[j] = {m = tonumber(v[1]), k = tonumber(v[2]), n = tonumber(v[3]), c = tonumber(v[4]), e = tonumber(v[5])}
  bytes = bytes + math.ceil(layers[j].m / 8)
end
local function has(j, h1, h2)
  local l = layers[j]
  for i = 0, l.k - 1 do
    if redis.call('GETBIT', prefix .. j, (h1 + i * h2) % l.m) == 0 then
      return false
    end
  end
  return true
end
local out = {}
for a = 9, #ARGV, 2 do
  local h1, h2 = tonumber(ARGV[a]), tonumber(ARGV[a + 1])
  local seen = false
  for j = 0, filters - 1 do
    if has(j, h1, h2) then
      seen = true
      break
    end
  end
  if seen then
    out[#out + 1] = 0
  else
    local last = filters - 1
    if layers[last].n >= layers[last].c then
      local expansion = tonumber(redis.call('HGET', meta, 'expansion'))
      local c = layers[last].c * expansion
      local e = layers[last].e * 0.5
      local m = math.ceil(c * -math.log(e) / (math.log(2) ^ 2))
      local k = math.ceil(-math.log(e) / math.log(2))
      if bytes + math.ceil(m / 8) <= max_bytes then
        last = filters
        filters = filters + 1
        bytes = bytes + math.ceil(m / 8)
        layers[last] = {m = m, k = k, n = 0, c = c, e = e}
        redis.call('HSET', meta, 'filters', filters, 'c' .. last, c, 'e' .. last, e, 'm' .. last, m, 'k' .. last, k,
          'n' .. last, 0)
        redis.call('HINCRBY', meta, 'capacity', c)
      end
    end
    local l = layers[last]
    for i = 0, l.k - 1 do
      redis.call('SETBIT', prefix .. last, (h1 + i * h2) % l.m, 1)
    end
    l.n = l.n + 1
    redis.call('HINCRBY', meta, 'n' .. last, 1)
    redis.call('HINCRBY', meta, 'items', 1)
    out[#out + 1] = 1
  end
end
return out
