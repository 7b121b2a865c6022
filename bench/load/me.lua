-- GET /me with the bearer token in SIWA_LOAD_TOKEN.
dofile(os.getenv("SIWA_LOAD_DIR") .. "/report.lua")

wrk.method = "GET"
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("SIWA_LOAD_TOKEN") or "")

function done(summary, latency, requests)
  report(summary, latency)
end
