-- KEYS: meta hash, opened hash, records list. ARGV: total, count, ttl_s.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.error_reply('ERR red packet already exists')
end
redis.call('HSET', KEYS[1], 'total', ARGV[1], 'count', ARGV[2], 'remaining', ARGV[1], 'left', ARGV[2])
-- In milliseconds, the unit the other keys copy. ARGV[3] is a decimal
-- integer below 2^53 (the proxy checks it): appending '000' multiplies it by
-- 1000 exactly, where a Lua number might print in exponent form.
redis.call('PEXPIRE', KEYS[1], ARGV[3] .. '000')
return redis.status_reply('OK')
