-- fleet_publish.lua: one replica's report for the fleet view. Records the
-- report and when it was made, forgets replicas silent for too long, and
-- keeps at most a bounded number of them (the oldest go first).
--
-- KEYS[1]  {prefix}{fleet}:seen     sorted set: replica -> report time, ms
-- KEYS[2]  {prefix}{fleet}:reports  hash: replica -> report (opaque text)
--          (both keys share the hash tag {fleet}: one slot, one node)
-- ARGV[1]  the replica's name
-- ARGV[2]  the report's time, Unix ms (decimal), or '' for Redis' TIME
-- ARGV[3]  the report
-- ARGV[4]  forget replicas silent for this many ms
-- ARGV[5]  the most replicas kept
--
-- Both keys expire ARGV[4] ms after the last report. Returns
-- { the number of replicas kept, the number evicted over the bound }.

local now = ARGV[2]
if now == '' then
  local t = redis.call('TIME')
  now = tostring(tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000))
end
local forget = tonumber(ARGV[4])
redis.call('ZADD', KEYS[1], now, ARGV[1])
redis.call('HSET', KEYS[2], ARGV[1], ARGV[3])
local gone = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. (tonumber(now) - forget))
for _, name in ipairs(gone) do
  redis.call('ZREM', KEYS[1], name)
  redis.call('HDEL', KEYS[2], name)
end
local evicted = 0
local over = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[5])
if over > 0 then
  for _, name in ipairs(redis.call('ZRANGE', KEYS[1], 0, over - 1)) do
    redis.call('ZREM', KEYS[1], name)
    redis.call('HDEL', KEYS[2], name)
    evicted = evicted + 1
  end
end
redis.call('PEXPIRE', KEYS[1], forget)
redis.call('PEXPIRE', KEYS[2], forget)
return { redis.call('ZCARD', KEYS[1]), evicted }
