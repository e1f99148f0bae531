-- KEYS: meta hash, buyers set, orders stream. ARGV: stock, start_ms, admit, ttl_s.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.error_reply('ERR flash sale already exists')
end
redis.call('HSET', KEYS[1], 'stock', ARGV[1], 'remaining', ARGV[1], 'sold', 0, 'admitted', 0,
  'start', ARGV[2], 'admit', ARGV[3])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return redis.status_reply('OK')
