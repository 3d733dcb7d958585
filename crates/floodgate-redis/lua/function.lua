-- function.lua: the last part of the library sent with FUNCTION LOAD
-- (Redis 7 and later): the code above runs once, at load; each FCALL runs
-- only `decide`. The library and function names carry a digest of the
-- source (the first line, `#!lua name=...`, is written by the store), so
-- different versions of Floodgate on one Redis never replace each other's
-- code.
redis.register_function(FLOODGATE_FUNCTION, decide)
