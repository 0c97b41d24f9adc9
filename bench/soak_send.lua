-- wrk script for bench/soak.sh: POST /v1/messages/send to a virtual contact, each with its own
-- Idempotency-Key (so idempotency records are made, and pruned), then a pause of DELAY_MS
-- before the connection's next request: connections × 1000 / (DELAY_MS + latency) sends a second.
local key = os.getenv("WAGATE_BENCH_KEY")
local instance = os.getenv("WAGATE_BENCH_INSTANCE")
local pause = tonumber(os.getenv("WAGATE_BENCH_DELAY_MS") or "0")
local n = 0
local tag = tostring(math.random(1, 1e9))

function request()
  n = n + 1
  local body = '{"instanceId":"' .. instance .. '","to":"5511988887777","message":"soak ' .. n .. '"}'
  return wrk.format("POST", nil, {
    ["Authorization"] = "Bearer " .. key,
    ["Content-Type"] = "application/json",
    ["Idempotency-Key"] = "soak-" .. tag .. "-" .. n,
  }, body)
end

function delay()
  return pause
end

function done(summary, latency, requests)
  io.write(string.format("sends: %d (non-2xx %d), %.0f/s, p50 %.2f ms, p99 %.2f ms\n",
    summary.requests, summary.errors.status, summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
