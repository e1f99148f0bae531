-- KEYS[1] meta hash. ARGV: error_rate, capacity, expansion.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.error_reply('ERR item exists')
end
local p, n = tonumber(ARGV[1]), tonumber(ARGV[2])
local m = math.ceil(n * -math.log(p) / (math.log(2) ^ 2))
local k = math.ceil(-math.log(p) / math.log(2))
redis.call('HSET', KEYS[1], 'capacity', n, 'error', ARGV[1], 'expansion', ARGV[3], 'filters', 1, 'items', 0,
  'c0', n, 'e0', ARGV[1], 'm0', m, 'k0', k, 'n0', 0)
return redis.status_reply('OK')
