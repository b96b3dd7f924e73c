-- S3: pages of 50 products, with varying filters and cursors (pages.txt), by an API key.
local common = dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "common.lua")

function setup(thread) common.setup(thread) end
function init(args) common.init(args) end
function request() return common.get(common.pick(common.pages)) end
function done(summary, latency) common.done(summary, latency) end
