-- KEYS: meta hash, buyers set, orders stream. ARGV: stock, start_ms, admit, ttl_s.
if redis.call('EXISTS', KEYS[1]) == 1 then
  return redis.error_reply('ERR flash sale already exists')
end
redis.call('HSET', KEYS[1], 'stock', ARGV[1], 'remaining', ARGV[1], 'sold', 0, 'admitted', 0,
  'start', ARGV[2], 'admit', ARGV[3])
-- In milliseconds, the unit the other keys copy. ARGV[4] is a decimal
-- integer below 2^53 (the proxy checks it): appending '000' multiplies it by
-- 1000 exactly, where a Lua number might print in exponent form.
redis.call('PEXPIRE', KEYS[1], ARGV[4] .. '000')
return redis.status_reply('OK')
