-- wrk script for scripts/bench: POSTs one email per request to Herald's accept endpoint.
--
--   wrk -t2 -c64 -d15s --latency -s scripts/bench-load.lua http://127.0.0.1:PORT
--
-- Herald answers 202 only once an email is durably stored, so every response that is not a 202
-- (a 503 from a failed commit, a 4xx from a bad request, ...) is an error here even though wrk
-- itself counts 2xx/3xx as success. done() prints one machine-readable line that scripts/bench
-- parses:
--
--   HERALD_RESULT requests=... duration_us=... rps=... p50_us=... p99_us=... non202=... socket_errors=...

-- With HERALD_BENCH_BATCH=N in the environment it POSTs batches of N such emails to
-- /v1/emails/batch instead.

local email = '{"from":"Ada <ada@example.org>","to":["bob@example.com"],"subject":"Hello","text":"Hello Bob"}'
-- With HERALD_BENCH_BODY_FILE it sends the email in that file instead (scripts/bench-webhooks.py
-- sends emails for later).
local body_file = os.getenv("HERALD_BENCH_BODY_FILE")
if body_file then
   local file = assert(io.open(body_file, "r"))
   email = file:read("*a")
   file:close()
end
local batch = tonumber(os.getenv("HERALD_BENCH_BATCH") or "0")

wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
-- scripts/bench makes a key for each node and exports it.
wrk.headers["Authorization"] = "Bearer " .. (os.getenv("BENCH_API_KEY") or "")
if batch > 0 then
   local emails = {}
   for i = 1, batch do emails[i] = email end
   wrk.path = "/v1/emails/batch"
   wrk.body = '{"emails":[' .. table.concat(emails, ",") .. ']}'
else
   wrk.path = "/v1/emails"
   wrk.body = email
end

-- setup() runs in the main Lua state once per thread; keep the threads so that done() can
-- read their counters (each thread has its own Lua state, so globals are not shared).
local threads = {}

function setup(thread)
   table.insert(threads, thread)
end

-- Per-thread state (one copy in every thread's Lua state).
non202 = 0
first_error = nil

function response(status, headers, body)
   if status ~= 202 then
      non202 = non202 + 1
      if first_error == nil then
         first_error = string.format("HTTP %d: %s", status, string.sub(body or "", 1, 300))
      end
   end
end

function done(summary, latency, requests)
   local non202_total = 0
   for _, thread in ipairs(threads) do
      non202_total = non202_total + (thread:get("non202") or 0)
      local message = thread:get("first_error")
      if message ~= nil then
         io.stderr:write("first non-202 response: " .. message .. "\n")
      end
   end

   local e = summary.errors
   local socket_errors = e.connect + e.read + e.write + e.timeout
   if non202_total > 0 then
      io.stderr:write(string.format("ERROR: %d responses were not 202\n", non202_total))
   end
   if socket_errors > 0 then
      io.stderr:write(string.format(
         "ERROR: socket errors: connect %d, read %d, write %d, timeout %d\n",
         e.connect, e.read, e.write, e.timeout))
   end

   io.write(string.format(
      "HERALD_RESULT requests=%d duration_us=%d rps=%.1f p50_us=%d p99_us=%d max_us=%d non202=%d socket_errors=%d\n",
      summary.requests, summary.duration, summary.requests / (summary.duration / 1e6),
      latency:percentile(50), latency:percentile(99), latency.max, non202_total, socket_errors))
end
