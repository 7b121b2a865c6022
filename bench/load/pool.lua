-- POST each line of SIWA_LOAD_POOL (a JSON body) once: of SIWA_LOAD_THREADS
-- threads, each takes every n-th line. A thread whose lines are used up stops and says so
-- (the run's requests/s then undercounts; bench/load.py flags it).
dofile(os.getenv("SIWA_LOAD_DIR") .. "/report.lua")

local bodies = {}
local next_body = 1

function init(args)
  local n, k = tonumber(os.getenv("SIWA_LOAD_THREADS") or "1"), tonumber(id or 0)
  local i = 0
  for line in io.lines(os.getenv("SIWA_LOAD_POOL")) do
    if i % n == k then table.insert(bodies, line) end
    i = i + 1
  end
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  local body = bodies[next_body]
  if body == nil then
    exhausted = true
    wrk.thread:stop()
    body = bodies[#bodies]
  end
  next_body = next_body + 1
  return wrk.format(nil, nil, nil, body)
end

function done(summary, latency, requests)
  report(summary, latency)
end
