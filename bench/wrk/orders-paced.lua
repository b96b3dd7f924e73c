-- S1 at a fixed rate (the third argument, per thread): for latency below saturation.
local common = dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "common.lua")

function setup(thread) common.setup(thread) end
function init(args) common.init(args) end
function delay() return common.delay() end
function request() return common.order(math.random(3)) end
function done(summary, latency) common.done(summary, latency) end
