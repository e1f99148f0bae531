-- KEYS: meta hash. Packets left, or nil when there is no such red packet.
local left = redis.call('HGET', KEYS[1], 'left')
if not left then
  return false
end
return tonumber(left)
