-- A request per fresh fixture: BENCH_IDS_FILE holds one "path<TAB>body" line per fixture,
-- used once each (a fixture used twice would be refused, not measured).
local lines = {}
for line in io.lines(os.getenv("BENCH_IDS_FILE")) do
  lines[#lines + 1] = line
end
local next_line = 0
wrk.method = os.getenv("BENCH_METHOD")
dofile(os.getenv("BENCH_LUA") .. "/report.lua")

function request()
  next_line = next_line + 1
  local line = lines[((next_line - 1) % #lines) + 1]
  local tab = string.find(line, "\t", 1, true)
  return wrk.format(nil, string.sub(line, 1, tab - 1), nil, string.sub(line, tab + 1))
end
