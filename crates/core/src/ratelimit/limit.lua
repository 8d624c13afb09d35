-- Fixed-window limiter over two keys, in one round trip.
-- KEYS[1] = user key, KEYS[2] = ip key
-- ARGV[1] = user max, ARGV[2] = ip max, ARGV[3] = window in ms
-- Returns {0, user_count, ip_count, user_ttl_ms, ip_ttl_ms} when admitted (both counted),
-- or {1 (user) | 2 (ip), count, max, ttl_ms, 0} when refused (nothing counted: a refused
-- request does not extend anyone's lockout).
local window = tonumber(ARGV[3])
-- ttl_of(key, window) comes first, from ttl_of.lua.

for i = 1, 2 do
  local max = tonumber(ARGV[i])
  local count = tonumber(redis.call('GET', KEYS[i]) or '0')
  if count >= max then
    return {i, count, max, ttl_of(KEYS[i], window), 0}
  end
end

local result = {0}
for i = 1, 2 do
  -- SET NX PX starts a window with its expiry in the same command; INCR keeps the expiry.
  redis.call('SET', KEYS[i], 0, 'PX', window, 'NX')
  result[i + 1] = redis.call('INCR', KEYS[i])
end
result[4] = ttl_of(KEYS[1], window)
result[5] = ttl_of(KEYS[2], window)
return result
