-- KEYS: meta hash, opened hash, records list. ARGV: total, count, ttl_s.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.error_reply('ERR red packet already exists')
end
redis.call('HSET', KEYS[1], 'total', ARGV[1], 'count', ARGV[2], 'remaining', ARGV[1], 'left', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[3])
return redis.status_reply('OK')
