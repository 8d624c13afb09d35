-- Shared by the limiter's scripts, sent as their first lines (a script cannot load another).
-- A key's remaining window in ms; a key found without one (left by another writer) gets
-- `window` now, so no counter can ever lock anybody out for good.
local function ttl_of(key, window)
  local ttl = redis.call('PTTL', key)
  if ttl == -1 then
    redis.call('PEXPIRE', key, window)
    ttl = window
  end
  return ttl
end

