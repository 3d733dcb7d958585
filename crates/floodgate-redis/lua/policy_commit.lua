-- policy_commit.lua: replaces the stored policy document if, and only if,
-- its version is the one the caller last read (compare-and-set), records
-- the change in the history and announces the new version. One script, so
-- a concurrent commit, load or version read sees all of it or none.
--
-- KEYS[1]  the document hash: {prefix}{policy}:doc, fields version, document
-- KEYS[2]  the history list:  {prefix}{policy}:history, newest first
--          (both keys share the hash tag {policy}: one slot, one node)
-- ARGV[1]  expected version, decimal ('0': nothing stored yet)
-- ARGV[2]  new version, decimal
-- ARGV[3]  the document (opaque text)
-- ARGV[4]  the history entry (opaque text)
-- ARGV[5]  history entries to keep (0: none)
-- ARGV[6]  channel to PUBLISH the new version on
-- ARGV[7]  history bytes to keep (0 or absent: no bound); the newest
--          entry is always kept
-- ARGV[8]  the digest of the config file's policy part last applied, kept
--          in field file_digest (absent or '': the field is left as it is)
--
-- Returns { 1 } when written, { 0, current version } when the stored
-- version was not the expected one (nothing written, nothing published).
-- Versions are compared as decimal strings, never as Lua numbers (doubles
-- lose integers past 2^53); the caller writes them without leading zeros.

local current = redis.call('HGET', KEYS[1], 'version') or '0'
if current ~= ARGV[1] then
  return { 0, current }
end
redis.call('HSET', KEYS[1], 'version', ARGV[2], 'document', ARGV[3])
if ARGV[8] and ARGV[8] ~= '' then
  redis.call('HSET', KEYS[1], 'file_digest', ARGV[8])
end
local keep = tonumber(ARGV[5])
if keep > 0 then
  redis.call('LPUSH', KEYS[2], ARGV[4])
  redis.call('LTRIM', KEYS[2], 0, keep - 1)
  local max_bytes = tonumber(ARGV[7] or '0')
  if max_bytes > 0 then
    local entries = redis.call('LRANGE', KEYS[2], 0, keep - 1)
    local total = 0
    for i, e in ipairs(entries) do
      total = total + #e
      if total > max_bytes and i > 1 then
        redis.call('LTRIM', KEYS[2], 0, i - 2)
        break
      end
    end
  end
else
  redis.call('DEL', KEYS[2])
end
redis.call('PUBLISH', ARGV[6], ARGV[2])
return { 1 }
