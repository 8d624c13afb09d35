-- One fixed window, for a Redis Cluster: there a user's key and an IP's key hash to different
-- slots (different nodes), and one script may only touch keys of one slot, so each window is
-- checked and counted by its own call (the limiter sends both at once; see cluster_check).
-- KEYS[1] = the window's key
-- ARGV[1] = max, ARGV[2] = window in ms
-- Returns {1, count, ttl_ms} when counted, or {0, count, ttl_ms} when refused (nothing counted).
local window = tonumber(ARGV[2])
-- ttl_of(key, window) comes first, from ttl_of.lua.

local count = tonumber(redis.call('GET', KEYS[1]) or '0')
if count >= tonumber(ARGV[1]) then
  return {0, count, ttl_of(KEYS[1], window)}
end
redis.call('SET', KEYS[1], 0, 'PX', window, 'NX')
local counted = redis.call('INCR', KEYS[1])
return {1, counted, ttl_of(KEYS[1], window)}
