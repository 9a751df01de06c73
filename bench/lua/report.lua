-- Shared by the scripts: headers from BENCH_HEADERS ("Name:value|Name:value"), and the
-- figures as one JSON line when the run is done.
for name, value in string.gmatch(os.getenv("BENCH_HEADERS") or "", "([^:|]+):([^|]*)") do
  wrk.headers[name] = value
end

function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format(
    'BENCH {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"errors":%d,"non2xx":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.timeout, e.status))
end
