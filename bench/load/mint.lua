-- Mints native credentials at the emulator (POST /emulator/native), cycling
-- through SIWA_LOAD_USERS users, and appends each answer (one JSON line) to
-- SIWA_LOAD_OUT.<thread>. Every identity token's nonce is SHA-256 of
-- SIWA_LOAD_NONCE_HASH's raw nonce (bench/load.py passes the hash).
dofile(os.getenv("SIWA_LOAD_DIR") .. "/report.lua")

local out
local users = tonumber(os.getenv("SIWA_LOAD_USERS") or "100")
local count = 0

function init(args)
  out = io.open(os.getenv("SIWA_LOAD_OUT") .. "." .. (id or 0), "w")
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
end

function request()
  count = count + 1
  local user = string.format("u%03d", ((id or 0) * 7919 + count) % users)
  return wrk.format(nil, nil, nil, string.format(
    '{"client_id":"com.example.ios","user":"%s","nonce":"%s"}', user, os.getenv("SIWA_LOAD_NONCE_HASH")))
end

function response(status, headers, body)
  if status == 200 then
    out:write(body, "\n")
    out:flush()
  end
end

function done(summary, latency, requests)
  report(summary, latency)
end
