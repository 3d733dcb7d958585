-- eval.lua: the last part of the script sent with SCRIPT LOAD / EVALSHA
-- (servers without Redis Functions): the code above runs on every call.
return decide(KEYS, ARGV)
