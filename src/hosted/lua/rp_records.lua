-- KEYS: records list. [[uid, cents], ...] in opening order.
local flat = redis.call('LRANGE', KEYS[1], 0, -1)
local out = {}
for i = 1, #flat, 2 do
  out[#out + 1] = {flat[i], tonumber(flat[i + 1])}
end
return out
