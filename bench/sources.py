"""Segment / PostHog wires benchmark: `/v1/batch` and PostHog `/batch/` events/s next to Footfall's own
bulk route (`/client/event-bulk-create`), in the same run, on the same server.

`python -m bench sources [--quick] [--duration S] [--connections N] [--backend B] [--batch N]`.

Each request carries N (100) events for one person drawn from 10,000, with unique ids, so the three
routes do the same store work and the ratio measures what each wire costs; goal: each wire >= 0.9x the
bulk route's events/s. Footfall runs as `footfall serve` pinned to CPU 0, wrk to CPU 1, alternating
the routes (bulk, segment, posthog, then in the reverse order) so a shift in the machine's load, and
the tables growing, fall on all of them alike (each route's mean place is the same, over --rounds
runs of each); each route's events/s is the mean over its runs (all it acknowledged over all its run
time: a best-of would favour the route whose first run met the emptiest tables), with the CPU each
acknowledged event cost the HTTP process, the writer process, PostgreSQL's backends and wrk (figures
the machine's other load moves far less than events/s). Ends with a check
that every unique id is stored at most once and at least as many as acknowledged.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import subprocess
import tempfile
import uuid

from bench.crash import database, new_account
from bench.ingest import CLIENT_CPU, SERVER_CPU, ensure_wrk
from bench.routes import REVISION
from bench.server_proc import cpu_seconds, footfall_serve, postgres_backends
from bench.wrk_script import parse

GOAL = 0.9
KINDS = ("bulk", "segment", "posthog")
LABELS = {"bulk": "POST /client/event-bulk-create", "segment": "POST /v1/batch", "posthog": "POST /batch/"}

_LUA = r"""
local kind = "__KIND__"
local token = "__TOKEN__"
local write_key = "__WK__"
local run = "__RUN__"
local batch = __BATCH__
local people = 10000
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
end

local alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
local function b64(s)
  local out, n = {}, #s
  for i = 1, n, 3 do
    local a, b, c = s:byte(i, i + 2)
    local v = a * 65536 + (b or 0) * 256 + (c or 0)
    out[#out + 1] = alphabet:sub(math.floor(v / 262144) % 64 + 1, math.floor(v / 262144) % 64 + 1)
      .. alphabet:sub(math.floor(v / 4096) % 64 + 1, math.floor(v / 4096) % 64 + 1)
      .. (b and alphabet:sub(math.floor(v / 64) % 64 + 1, math.floor(v / 64) % 64 + 1) or "=")
      .. (c and alphabet:sub(v % 64 + 1, v % 64 + 1) or "=")
  end
  return table.concat(out)
end

local function next_id()
  counter = counter + 1
  return string.format("%s-%d-%d", run, tid, counter)
end

local modern_headers = {["revision"] = "__REVISION__", ["Content-Type"] = "application/vnd.api+json"}
local segment_headers = {["Content-Type"] = "application/json", ["Authorization"] = "Basic " .. b64(write_key .. ":")}
local posthog_headers = {["Content-Type"] = "application/json"}

function request()
  local person = math.random(people)
  local email = string.format("person%d@example.com", person)
  local parts = {}
  for i = 1, batch do
    local metric = metrics[math.random(#metrics)]
    local value = math.random(100, 20000) / 100
    if kind == "bulk" then
      parts[i] = string.format('{"type":"event","attributes":{"properties":{"item":"Boots","sku":"B-42"},'
        .. '"metric":{"data":{"type":"metric","attributes":{"name":"%s"}}},"unique_id":"%s","value":%.2f}}',
        metric, next_id(), value)
    elseif kind == "segment" then
      parts[i] = string.format('{"type":"track","userId":"user%d","event":"%s","messageId":"%s",'
        .. '"timestamp":"2026-01-01T00:00:00.000Z","properties":{"item":"Boots","sku":"B-42","revenue":%.2f},'
        .. '"context":{"traits":{"email":"%s"},"library":{"name":"bench","version":"1"}}}',
        person, metric, next_id(), value, email)
    else
      parts[i] = string.format('{"event":"%s","distinct_id":"user%d","uuid":"%s","timestamp":"2026-01-01T00:00:00Z",'
        .. '"properties":{"item":"Boots","sku":"B-42","revenue":%.2f,"$set":{"email":"%s"}}}',
        metric, person, next_id(), value, email)
    end
  end
  local events = table.concat(parts, ",")
  if kind == "bulk" then
    local body = string.format('{"data":{"type":"event-bulk-create","attributes":{"profile":{"data":{"type":"profile",'
      .. '"attributes":{"email":"%s","external_id":"user%d"}}},"events":{"data":[%s]}}}}', email, person, events)
    return wrk.format("POST", "/client/event-bulk-create?company_id=" .. token, modern_headers, body)
  elseif kind == "segment" then
    return wrk.format("POST", "/v1/batch", segment_headers,
      '{"sentAt":"2026-01-01T00:00:01.000Z","batch":[' .. events .. ']}')
  else
    return wrk.format("POST", "/batch/", posthog_headers, string.format(
      '{"api_key":"%s","sent_at":"2026-01-01T00:00:01Z","batch":[%s]}', write_key, events))
  end
end

function response(status, headers, body)
  if status == 200 or status == 202 then
    acked = acked + 1
  elseif status == 503 or status == 429 then
    refused = refused + 1
  else
    other = other + 1
    if other < 3 then io.stderr:write(status, " ", body:sub(1, 300), "\n") end
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


def _script(kind: str, token: str, write_key: str, batch: int) -> str:
    values = {"__KIND__": kind, "__TOKEN__": token, "__WK__": write_key, "__RUN__": uuid.uuid4().hex[:10],
              "__BATCH__": str(batch), "__REVISION__": REVISION}
    text = _LUA
    for key, value in values.items():
        text = text.replace(key, value)
    return text


def _wrk(url: str, script: str, duration: float, connections: int) -> dict:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as f:
        f.write(script)
    try:
        argv = ["wrk", "-t1", f"-c{connections}", f"-d{max(int(duration), 1)}s", "--timeout", "20s", "-s", f.name, url]
        if shutil.which("taskset"):
            argv = ["taskset", "-c", str(CLIENT_CPU), *argv]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        done = subprocess.run(argv, capture_output=True, text=True, timeout=duration + 90)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if "WRKJSON" not in done.stdout:
            raise RuntimeError(f"wrk failed: {done.stderr[-1000:]}")
        result = parse(done.stdout)
        # The load generator's own CPU: it builds each body in Lua, and a longer message costs it more
        # (on the client core, which PostgreSQL's backends share).
        result["wrk_cpu"] = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
        result["stderr"] = done.stderr.strip()
        return result
    finally:
        os.unlink(f.name)


def _write_key(url: str, account_id: str) -> str:
    from footfall.store import db, keys

    conn = db.connect(url)
    try:
        return keys.create_key(conn, account_id, "bench", kind="write").secret
    finally:
        conn.close()


def _stored(url: str, account_id: str) -> tuple[int, int]:
    from footfall.store import db

    conn = db.connect(url)
    try:
        total, distinct = conn.one("SELECT COUNT(*), COUNT(DISTINCT unique_id) FROM events WHERE account_id = ?",
                                   (account_id,))
    finally:
        conn.close()
    return int(total), int(distinct)


def run_backend(backend: str, args, log_dir: str) -> list[str]:
    lines = []
    with database(backend) as url:
        account = new_account(url)
        key = _write_key(url, account.id)
        proc = footfall_serve(url, cpu=SERVER_CPU, env={"FOOTFALL_RATE_LIMITS": "off"},
                              log_path=os.path.join(log_dir, f"footfall-sources-{backend}.log"))
        proc.start()
        runs: dict[str, list[dict]] = {kind: [] for kind in KINDS}
        acked_events = 0
        try:
            for kind in KINDS:  # warm-up: every route once, briefly
                warm = _wrk(proc.url, _script(kind, account.keys.public_key, key, args.batch), 1, args.connections)
                acked_events += warm["acked"] * args.batch
            for order in [KINDS if i % 2 == 0 else KINDS[::-1] for i in range(args.rounds)]:
                for kind in order:
                    backends = postgres_backends(url)
                    http0, writer0 = proc.cpu_split()
                    pg0 = cpu_seconds(backends)
                    res = _wrk(proc.url, _script(kind, account.keys.public_key, key, args.batch), args.duration,
                               args.connections)
                    http1, writer1 = proc.cpu_split()
                    pg1 = cpu_seconds(backends)
                    res["eps"] = res["acked"] * args.batch / (res["duration_us"] / 1e6)
                    # CPU per acknowledged event by process kind: unlike events/s, not moved by whatever
                    # else the machine runs, so it says where a wire costs more than the bulk route.
                    per_event = 1e6 / max(res["acked"] * args.batch, 1)
                    res["http_us"], res["writer_us"] = (http1 - http0) * per_event, (writer1 - writer0) * per_event
                    res["pg_us"], res["wrk_us"] = (pg1 - pg0) * per_event, res["wrk_cpu"] * per_event
                    acked_events += res["acked"] * args.batch
                    runs[kind].append(res)
        finally:
            proc.stop()
        total, distinct = _stored(url, account.id)
    mean = {kind: _mean(found) for kind, found in runs.items()}
    base = mean["bulk"]["eps"]
    for kind in KINDS:
        r = mean[kind]
        ratio = r["eps"] / base if base else 0.0
        note = "" if kind == "bulk" else f"{ratio:5.2f}x bulk  [{'met ' if ratio >= GOAL else 'MISS'}] >= {GOAL}x"
        bad = f"  refused {r['refused']}  other {r['other']}" if r["refused"] or r["other"] else ""
        lines.append(f"{backend:9} {LABELS[kind]:32} x{args.batch:<4} {r['eps']:10,.0f} ev/s  "
                     f"p50 {r['p50_us'] / 1000:7.1f} ms  p99 {r['p99_us'] / 1000:7.1f} ms  "
                     f"cpu/ev http {r['http_us']:5.1f} us writer {r['writer_us']:5.1f} us"
                     + (f" postgres {r['pg_us']:5.1f} us" if backend == "postgres" else "")
                     + f" wrk {r['wrk_us']:4.1f} us  {note}{bad}")
        print(lines[-1], flush=True)
    for kind in KINDS[1:]:  # each round's ratio: the spread the mean hides
        each = ", ".join(f"{w['eps'] / b['eps']:.2f}" for w, b in zip(runs[kind], runs["bulk"]) if b["eps"])
        lines.append(f"{'':9} {LABELS[kind]:32} per round vs bulk: {each}")
        print(lines[-1], flush=True)
    ok = total == distinct and distinct >= acked_events
    lines.append(f"{'':9} stored {total:,} events, {distinct:,} distinct ids, {acked_events:,} acknowledged -> "
                 + ("every acknowledged event stored, none twice" if ok else "MISMATCH"))
    print(lines[-1], flush=True)
    return lines


def _mean(runs: list[dict]) -> dict:
    """One route's runs as one: events/s over all their time; p50 / p99 and CPU per event weighted
    by the events each run acknowledged; refusals summed."""
    seconds = sum(r["duration_us"] for r in runs) / 1e6
    events = sum(r["eps"] * r["duration_us"] / 1e6 for r in runs)
    weights = [r["eps"] * r["duration_us"] for r in runs]
    total = sum(weights) or 1.0

    def weighted(name: str) -> float:
        return sum(r[name] * w for r, w in zip(runs, weights)) / total

    return {"eps": events / seconds if seconds else 0.0, "p50_us": weighted("p50_us"), "p99_us": weighted("p99_us"),
            "http_us": weighted("http_us"), "writer_us": weighted("writer_us"), "pg_us": weighted("pg_us"),
            "wrk_us": weighted("wrk_us"),
            "refused": sum(r["refused"] for r in runs), "other": sum(r["other"] for r in runs)}


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench sources", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="short runs for a smoke test")
    parser.add_argument("--duration", type=float, default=None, help="seconds per wrk run (default 10, quick 3)")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--batch", type=int, default=100, help="events per request")
    parser.add_argument("--rounds", type=int, default=4, help="runs of each route, alternating the order")
    args = parser.parse_args(argv)
    args.duration = args.duration or (3.0 if args.quick else 10.0)
    ensure_wrk()
    load = os.getloadavg()[0]
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    with tempfile.TemporaryDirectory(prefix="footfall-bench-sources-") as log_dir:
        out = []
        for backend in backends:
            out += run_backend(backend, args, log_dir)
    print(f"\nSegment / PostHog wires vs the bulk route ({args.connections} connections, {args.duration:g}s runs, "
          f"mean of {args.rounds} alternated; load average {load:.2f} before, {os.getloadavg()[0]:.2f} after):")
    for line in out:
        print("  " + line)
