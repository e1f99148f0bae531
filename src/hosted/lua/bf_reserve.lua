-- KEYS[1] meta hash. ARGV: error_rate, capacity, expansion, and the first
-- layer's bits and hash count (sized, and checked against bloom_max_bytes,
-- by the proxy).
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.error_reply('ERR item exists')
end
redis.call('HSET', KEYS[1], 'capacity', ARGV[2], 'error', ARGV[1], 'expansion', ARGV[3], 'filters', 1, 'items', 0,
  'c0', ARGV[2], 'e0', ARGV[1], 'm0', ARGV[4], 'k0', ARGV[5], 'n0', 0)
return redis.status_reply('OK')
