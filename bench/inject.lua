-- wrk script: virtual contacts write to the sandbox instances 5511900000001..N in turn
-- (POST /sandbox/v1/messages), each write a `message.received` event.
local key = os.getenv("WAGATE_BENCH_KEY")
local instances = tonumber(os.getenv("WAGATE_BENCH_INSTANCES"))
local pause = tonumber(os.getenv("WAGATE_BENCH_DELAY_MS") or "0") -- ms between a connection's writes
local n = 0
wrk.method = "POST"
wrk.headers["Authorization"] = "Bearer " .. key
wrk.headers["Content-Type"] = "application/json"

function request()
  n = n + 1
  local to = string.format("55119%08d", (n % instances) + 1)
  local body = '{"to":"' .. to .. '","from":"5511988887777","message":"bench ' .. n .. '"}'
  return wrk.format(nil, nil, nil, body)
end

function delay()
  return pause
end

function done(summary, latency, requests)
  io.write(string.format("written: %d events (non-2xx %d), %.0f/s, p99 %.2f ms\n",
    summary.requests - summary.errors.status, summary.errors.status,
    summary.requests / (summary.duration / 1e6), latency:percentile(99) / 1000))
end
