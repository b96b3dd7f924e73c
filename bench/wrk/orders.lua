-- S1: orders of 1 to 3 lines on random SKUs, each by a random customer.
local common = dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "common.lua")

function setup(thread) common.setup(thread) end
function init(args) common.init(args) end
function request() return common.order(math.random(3)) end
function done(summary, latency) common.done(summary, latency) end
