-- S4: 80 % browse (pages and single products), 15 % orders, 5 % status changes of the
-- orders this thread placed (start, ready, complete; one in ten cancelled instead).
local common = dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "common.lua")

-- Orders waiting for their next step, by the status they are in.
local waiting = { confirmed = {}, preparing = {}, ready = {} }
local next_action = { confirmed = "start", preparing = "ready", ready = "complete" }
counts = { browse = 0, order = 0, change = 0, idle = 0 }

function setup(thread) common.setup(thread) end
function init(args) common.init(args) end

local function change()
  for _, status in ipairs({ "ready", "preparing", "confirmed" }) do
    local queue = waiting[status]
    if #queue > 0 then
      local id = table.remove(queue, 1)
      local action = next_action[status]
      if status == "confirmed" and math.random(10) == 1 then action = "cancel" end
      counts.change = counts.change + 1
      return common.post("/v1/orders/" .. id .. "/" .. action, common.api_key, "{}")
    end
  end
  return nil
end

function request()
  local roll = math.random(100)
  if roll <= 5 then
    local moved = change()
    if moved then return moved end
    counts.idle = counts.idle + 1 -- nothing to move yet: place an order instead
  end
  if roll <= 20 then
    counts.order = counts.order + 1
    return common.order(math.random(3))
  end
  counts.browse = counts.browse + 1
  if roll <= 60 then return common.get(common.pick(common.pages)) end
  return common.get("/v1/products/" .. common.pick(common.skus))
end

function response(status, headers, body)
  if status ~= 200 and status ~= 201 then return end
  local id = body:match('^{"id":"([^"]+)"')
  local state = id and body:match('"status":"(%a+)"')
  if state and waiting[state] and #waiting[state] < 1000 then
    table.insert(waiting[state], id)
  end
end

function done(summary, latency) common.done(summary, latency, common.sum("counts")) end
