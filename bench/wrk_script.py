"""wrk Lua scripts that send unique events with a realistic mix of people, one per ingest route.

Each request carries a fresh event id (run id + thread + counter) and one of 10,000 people; the
response hook counts acknowledged answers (legacy `1`, modern 202) so the harness can check them
against the rows stored. `done()` prints one `WRKJSON {...}` line the harness parses.

Per-id check: wrk's response() is not told which request an answer belongs to (and connections
interleave on a thread), so answers cannot be matched to ids on the client. Legacy requests
therefore ask for `verbose=1`: the answer carries the stored event's id, which response() appends to
`<ids_dir>/acked-<thread>.txt`. Modern routes answer 202 with an empty body, so they stay a count
check; request() appends every unique_id it generates to `<ids_dir>/sent-<thread>.txt` so the
harness can check that at least as many of the sent ids are stored as there were 202s.
(Files use C stdio buffering; wrk exits normally, which flushes them.)
"""

from __future__ import annotations

import json
import uuid

from bench.routes import REVISION

KINDS = ("track_get", "track_post", "client_event", "server_event", "bulk")

_TEMPLATE = r"""
local kind = "__KIND__"
local token = "__TOKEN__"
local private_key = "__PK__"
local run = "__RUN__"
local bulk = __BULK__
local people = __PEOPLE__
local revision = "__REVISION__"
local ids_dir = "__IDS__"
local legacy = kind == "track_get" or kind == "track_post"
local metrics = {"Viewed Product", "Added to Cart", "Started Checkout", "Ordered Product"}
local threads = {}
counter = 0
acked = 0
refused = 0
other = 0
tid = tid or 0

function setup(thread)
  thread:set("tid", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  math.randomseed(os.time() * 1000 + tid)
  if ids_dir ~= "" then
    ids = io.open(string.format("%s/%s-%s-%d.txt", ids_dir, legacy and "acked" or "sent", run, tid), "w")
  end
end

local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function b64(s)
  local out, n = {}, #s
  for i = 1, n, 3 do
    local a, b, c = s:byte(i, i + 2)
    local v = a * 65536 + (b or 0) * 256 + (c or 0)
    local c1 = math.floor(v / 262144) % 64
    local c2 = math.floor(v / 4096) % 64
    local c3 = math.floor(v / 64) % 64
    local c4 = v % 64
    out[#out + 1] = alphabet:sub(c1 + 1, c1 + 1) .. alphabet:sub(c2 + 1, c2 + 1)
      .. (b and alphabet:sub(c3 + 1, c3 + 1) or "=") .. (c and alphabet:sub(c4 + 1, c4 + 1) or "=")
  end
  return table.concat(out)
end

local function urlencode(s)
  return (s:gsub("[^%w%-_%.~]", function(ch) return string.format("%%%02X", ch:byte()) end))
end

local function next_event()
  counter = counter + 1
  local id = string.format("%s-%d-%d", run, tid, counter)
  if ids and not legacy then ids:write(id, "\n") end
  local email = string.format("person%d@example.com", math.random(people))
  local metric = metrics[math.random(#metrics)]
  local value = math.random(100, 20000) / 100
  return id, email, metric, value
end

local function legacy_json()
  local id, email, metric, value = next_event()
  return string.format(
    '{"token":"%s","event":"%s","customer_properties":{"$email":"%s","$first_name":"Pat"},'
    .. '"properties":{"$event_id":"%s","$value":%.2f,"item":"Boots","sku":"B-42"}}',
    token, metric, email, id, value)
end

local function modern_event_json(with_profile)
  local id, email, metric, value = next_event()
  local profile = ""
  if with_profile then
    profile = string.format(',"profile":{"data":{"type":"profile","attributes":{"email":"%s","first_name":"Pat"}}}', email)
  end
  return string.format(
    '{"type":"event","attributes":{"properties":{"item":"Boots","sku":"B-42"},'
    .. '"metric":{"data":{"type":"metric","attributes":{"name":"%s"}}}%s,"unique_id":"%s","value":%.2f}}',
    metric, profile, id, value), email
end

local modern_headers = {["revision"] = revision, ["Content-Type"] = "application/vnd.api+json"}
local server_headers = {["revision"] = revision, ["Content-Type"] = "application/vnd.api+json",
                        ["Authorization"] = "Klaviyo-API-Key " .. private_key}
local verbose = ids_dir ~= "" and "verbose=1&" or ""
local form_headers = {["Content-Type"] = "application/x-www-form-urlencoded"}

function request()
  if kind == "track_get" then
    return wrk.format("GET", "/api/track?" .. verbose .. "data=" .. urlencode(b64(legacy_json())))
  elseif kind == "track_post" then
    return wrk.format("POST", "/api/track", form_headers, verbose .. "data=" .. urlencode(legacy_json()))
  elseif kind == "client_event" then
    local ev = modern_event_json(true)
    return wrk.format("POST", "/client/events?company_id=" .. token, modern_headers, '{"data":' .. ev .. '}')
  elseif kind == "server_event" then
    local ev = modern_event_json(true)
    return wrk.format("POST", "/api/events", server_headers, '{"data":' .. ev .. '}')
  else
    local events, email = {}, string.format("person%d@example.com", math.random(people))
    for i = 1, bulk do events[i] = (modern_event_json(false)) end
    local body = string.format(
      '{"data":{"type":"event-bulk-create","attributes":{"profile":{"data":{"type":"profile",'
      .. '"attributes":{"email":"%s"}}},"events":{"data":[%s]}}}}', email, table.concat(events, ","))
    return wrk.format("POST", "/client/event-bulk-create?company_id=" .. token, modern_headers, body)
  end
end

function response(status, headers, body)
  if legacy and status == 200 and body:sub(1, 11) == '{"status":1' then
    acked = acked + 1
    if ids then ids:write(body:match('"event_id":"([^"]+)"') or "?", "\n") end
  elseif (status == 200 and body == "1") or status == 202 then
    acked = acked + 1
  elseif status == 503 or status == 429 then
    refused = refused + 1
  else
    other = other + 1
  end
end

function done(summary, latency, requests)
  local a, r, o = 0, 0, 0
  for _, t in ipairs(threads) do
    a = a + t:get("acked"); r = r + t:get("refused"); o = o + t:get("other")
  end
  local e = summary.errors
  io.write(string.format(
    'WRKJSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"max_us":%d,'
    .. '"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},"acked":%d,"refused":%d,"other":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), latency.max,
    e.connect, e.read, e.write, e.status, e.timeout, a, r, o))
end
"""


def script(kind: str, public_key: str, private_key: str, *, bulk: int = 100, people: int = 10_000,
           ids_dir: str = "") -> str:
    """ids_dir: where to write acknowledged (legacy, verbose) or sent (modern) ids; "" for none."""
    assert kind in KINDS, kind
    values = {"__IDS__": ids_dir, "__KIND__": kind, "__TOKEN__": public_key, "__PK__": private_key, "__RUN__": uuid.uuid4().hex[:10],
              "__BULK__": str(bulk), "__PEOPLE__": str(people), "__REVISION__": REVISION}
    text = _TEMPLATE
    for key, value in values.items():
        text = text.replace(key, value)
    return text


def parse(stdout: str) -> dict:
    for line in stdout.splitlines():
        if line.startswith("WRKJSON "):
            return json.loads(line[len("WRKJSON "):])
    raise RuntimeError(f"wrk printed no result:\n{stdout[-2000:]}")
