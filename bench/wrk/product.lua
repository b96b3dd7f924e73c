-- S3: one product by a random SKU, by an API key.
local common = dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "common.lua")

function setup(thread) common.setup(thread) end
function init(args) common.init(args) end
function request() return common.get("/v1/products/" .. common.pick(common.skus)) end
function done(summary, latency) common.done(summary, latency) end
