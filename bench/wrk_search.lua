-- wrk script: POST a JSON search to one knowledge base, keep-alive.
-- Usage: wrk -t2 -c64 -d10s -s bench/wrk_search.lua http://127.0.0.1:8080/api/v1/kbs/1/search
-- Environment: WRK_QUERIES="q1|q2|..." rotates queries (default: a few
-- regulation questions); WRK_K sets k (default 5); WRK_TOKEN is the API
-- token sent as "Authorization: Bearer …" (every route needs one). Non-200 answers are
-- counted and printed at the end, so a broken run cannot pass as fast.
local queries = {}
local env = os.getenv("WRK_QUERIES")
if env and #env > 0 then
  for q in string.gmatch(env, "[^|]+") do queries[#queries + 1] = q end
else
  queries = { "住宿标准", "报销申请期限", "出差火车座位", "协议酒店", "差旅费用管理" }
end
local k = tonumber(os.getenv("WRK_K") or "5") or 5
local headers = { ["Content-Type"] = "application/json" }
local token = os.getenv("WRK_TOKEN")
if token and #token > 0 then headers["Authorization"] = "Bearer " .. token end

local bodies = {}
for i, q in ipairs(queries) do
  -- queries are plain text: escape the two characters JSON needs escaped
  local esc = q:gsub("\\", "\\\\"):gsub('"', '\\"')
  bodies[i] = string.format('{"query":"%s","k":%d}', esc, k)
end

local counter = 0
local threads = {}

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  bad = 0
end

request = function()
  counter = counter + 1
  local body = bodies[(counter % #bodies) + 1]
  return wrk.format("POST", nil, headers, body)
end

response = function(status, headers, body)
  if status ~= 200 then bad = bad + 1 end
end

done = function(summary, latency, requests)
  local total_bad = 0
  for _, t in ipairs(threads) do total_bad = total_bad + (t:get("bad") or 0) end
  io.write(string.format("non-200 responses: %d\n", total_bad))
  io.write(string.format("requests/s: %.0f\n", summary.requests / (summary.duration / 1e6)))
end
