-- GET one path (BENCH_PATH) again and again.
wrk.method = "GET"
wrk.path = os.getenv("BENCH_PATH")
dofile(os.getenv("BENCH_LUA") .. "/report.lua")
