-- Shared by every scenario script: the data set the driver wrote, request building,
-- a unique Idempotency-Key per write, optional pacing, and the JSON summary in done().
--
-- A scenario script starts with
--   common = dofile(<this folder> .. "/common.lua")
-- and wrk's arguments after `--` are: <data folder> <run id> [requests per second per
-- thread, for a paced script].

local M = {}
local ffi = require("ffi")
ffi.cdef([[
  typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
  int clock_gettime(int clock, bench_timespec *spec);
]])
local spec = ffi.new("bench_timespec")

function M.now()
  ffi.C.clock_gettime(1, spec) -- CLOCK_MONOTONIC
  return tonumber(spec.tv_sec) + tonumber(spec.tv_nsec) / 1e9
end

function M.lines(path)
  local found = {}
  for line in io.lines(path) do
    if line ~= "" then found[#found + 1] = line end
  end
  return found
end

function M.pick(list)
  return list[math.random(#list)]
end

-- Filled by init() in each thread.
M.data, M.run, M.rate = nil, nil, nil
M.skus, M.customers, M.pages, M.api_key = nil, nil, nil, nil
local counter = 0
local next_slot = nil

function M.init(args)
  M.data, M.run = args[1], args[2]
  M.rate = tonumber(args[3] or "0")
  M.skus = M.lines(M.data .. "/skus.txt")
  M.customers = M.lines(M.data .. "/customers.txt")
  M.pages = M.lines(M.data .. "/pages.txt")
  M.api_key = M.lines(M.data .. "/api-key.txt")[1]
  -- Each thread its own random sequence and its own key space.
  math.randomseed(os.time() + 7919 * (thread_id or 0))
end

function M.idempotency_key()
  counter = counter + 1
  return string.format("%s-%d-%d", M.run, thread_id or 0, counter)
end

local json_headers = { ["Content-Type"] = "application/json" }

function M.post(path, token, body)
  json_headers["Authorization"] = "Bearer " .. token
  json_headers["Idempotency-Key"] = M.idempotency_key()
  return wrk.format("POST", path, json_headers, body)
end

local get_headers = {}

function M.get(path)
  get_headers["Authorization"] = "Bearer " .. M.api_key
  return wrk.format("GET", path, get_headers)
end

-- An order of `count` distinct random SKUs at the kitchen, by a random customer.
function M.order(count)
  local lines, taken = {}, {}
  while #lines < count do
    local sku = M.pick(M.skus)
    if not taken[sku] then
      taken[sku] = true
      lines[#lines + 1] = string.format('{"sku":"%s","quantity":%d}', sku, math.random(2))
    end
  end
  local body = '{"location":"KITCHEN","lines":[' .. table.concat(lines, ",") .. "]}"
  return M.post("/v1/orders", M.pick(M.customers), body)
end

function M.hot_order(sku)
  local body = '{"location":"KITCHEN","lines":[{"sku":"' .. sku .. '","quantity":1}]}'
  return M.post("/v1/orders", M.pick(M.customers), body)
end

-- With a rate, the milliseconds to wait so that this thread sends its share of it on a
-- steady schedule; a thread that falls behind sends at once (plain wrk cannot correct
-- for coordinated omission, so a slow server shows as a lower rate, not as latency).
function M.delay()
  if M.rate <= 0 then return 0 end
  local now = M.now()
  local interval = 1 / M.rate
  if next_slot == nil or next_slot < now then next_slot = now end
  local wait = next_slot - now
  next_slot = next_slot + interval
  return wait * 1000
end

-- setup() and done() run in wrk's main Lua state.
M.threads = {}

function M.setup(thread)
  M.threads[#M.threads + 1] = thread
  thread:set("thread_id", #M.threads)
end

-- Every thread's counters of one name (a table of name -> number), summed.
function M.sum(name)
  local total = {}
  for _, thread in ipairs(M.threads) do
    local counts = thread:get(name)
    if counts then
      for key, value in pairs(counts) do total[key] = (total[key] or 0) + value end
    end
  end
  return total
end

local function object(counts)
  local parts = {}
  for key, value in pairs(counts) do
    parts[#parts + 1] = string.format('"%s":%d', key, value)
  end
  return "{" .. table.concat(parts, ",") .. "}"
end

function M.done(summary, latency, counts)
  local e = summary.errors
  io.write(string.format(
    'BENCH-RESULT {"requests":%d,"duration_us":%d,"bytes":%d,'
      .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
      .. '"latency_us":{"mean":%.1f,"max":%d,"p50":%d,"p90":%d,"p95":%d,"p99":%d,"p999":%d},'
      .. '"counts":%s}\n',
    summary.requests, summary.duration, summary.bytes,
    e.connect, e.read, e.write, e.status, e.timeout,
    latency.mean, latency.max, latency:percentile(50), latency:percentile(90),
    latency:percentile(95), latency:percentile(99), latency:percentile(99.9),
    object(counts or {})
  ))
end

return M
