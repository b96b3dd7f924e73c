-- S2: every order is for one hot SKU, the first line of hot.txt.
local common = dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "common.lua")
local hot

function setup(thread) common.setup(thread) end
function init(args)
  common.init(args)
  hot = common.lines(common.data .. "/hot.txt")[1]
end
function request() return common.hot_order(hot) end
function done(summary, latency) common.done(summary, latency) end
