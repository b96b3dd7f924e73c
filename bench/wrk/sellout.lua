-- S5: the sell-out. Each thread places its share (the third argument) of orders of one
-- unit of the SKU in sellout.txt, then only GET /healthz, slowly, so as not to slow the
-- last orders; once all its orders are answered it prints a line the driver waits for,
-- and stops.
local common = dofile(debug.getinfo(1, "S").source:sub(2):match("(.*/)") .. "common.lua")
local sku, share
local sent, answered = 0, 0
local checked = false
statuses = {}

function setup(thread) common.setup(thread) end
function init(args)
  common.init({ args[1], args[2] })
  share = tonumber(args[3])
  sku = common.lines(common.data .. "/sellout.txt")[1]
end

function delay()
  if sent < share then return 0 end
  return 20
end

function request()
  -- wrk calls request() once on the first thread to check it, before anything is sent.
  if thread_id == 1 and not checked then
    checked = true
    return wrk.format("GET", "/healthz")
  end
  if sent < share then
    sent = sent + 1
    return common.hot_order(sku)
  end
  return wrk.format("GET", "/healthz")
end

function response(status, headers, body)
  if status == 200 then return end -- /healthz, while the last orders are answered
  local key = tostring(status)
  statuses[key] = (statuses[key] or 0) + 1
  answered = answered + 1
  if answered == share then
    io.write("BENCH-THREAD-DONE\n")
    io.flush()
    wrk.thread:stop()
  end
end

function done(summary, latency) common.done(summary, latency, common.sum("statuses")) end
