-- Prepended to scripts whose child keys live as long as their parent.
-- The children expire with the parent at the same millisecond: a copy of its
-- TTL in seconds made them outlive it or die first by up to half a second.
-- PEXPIRETIME (Redis 7) gives that instant; before 7, the remaining PTTL is
-- the closest there is (a millisecond off if the clock ticks between the two
-- calls). '%d', as a Lua number could print in exponent form.
local function expire_with_parent(parent, ...)
  local at = redis.pcall('PEXPIRETIME', parent)
  if type(at) == 'number' then
    if at > 0 then
      for _, child in ipairs({...}) do
        redis.call('PEXPIREAT', child, string.format('%d', at))
      end
    end
  else
    local ttl = redis.call('PTTL', parent)
    if ttl > 0 then
      for _, child in ipairs({...}) do
        redis.call('PEXPIRE', child, string.format('%d', ttl))
      end
    end
  end
end
