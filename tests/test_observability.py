"""Access and lifecycle logs captured from a real `footfall serve`, and /metrics parsed with the
Prometheus client's own parser (one worker and two: the counts are the server's, whichever worker
answers). Both backends."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from footfall.store import migrate
from tests.legacy_calls import b64, order
from tests.modern import client_headers, server_headers
from tests.servers import ServerThread, free_port, new_account, server_settings
from tests.test_cli import FOOTFALL, wait_healthy


class LoggedServe:
    """`footfall serve` with its stderr in a file (access logs can outgrow a pipe nobody reads)."""

    def __init__(self, tmp_path: Path, database: str, *args: str, env: dict[str, str]) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = tmp_path / f"serve-{self.port}.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen([FOOTFALL, "serve", "--port", str(self.port), "--database", database, *args],
                                     stdout=subprocess.DEVNULL, stderr=self._log, env={**os.environ, **env})
        wait_healthy(self.proc, self.url, self.text)

    def text(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()
        return self.text()


def json_lines(text: str) -> list[dict]:
    return [json.loads(line) for line in text.splitlines() if line.startswith("{")]


def access(lines: list[dict]) -> list[dict]:
    return [line for line in lines if line["logger"] == "footfall.access"]


def wait_for(predicate, what: str, timeout: float = 20.0):
    deadline = time.monotonic() + timeout
    while not (found := predicate()):
        assert time.monotonic() < deadline, what
        time.sleep(0.1)
    return found


def test_access_and_lifecycle_logs_from_footfall_serve(tmp_path, empty_database):
    migrate.upgrade(empty_database)
    account = new_account(empty_database, "logs")
    srv = LoggedServe(tmp_path, empty_database, env={"FOOTFALL_ACCESS_LOG": "1", "FOOTFALL_LOG_FORMAT": "json",
                                                       "FOOTFALL_RATE_LIMITS": "off"})
    secret_body = "sekrit-body-value"
    try:
        with httpx.Client(base_url=srv.url, timeout=10) as c:
            ok = c.get("/api/track", params={"data": b64(order(account, properties={"note": secret_body}))},
                       headers={"X-Request-Id": "req-abc.123"})
            assert ok.text == "1" and ok.headers["x-request-id"] == "req-abc.123"
            unknown = c.get("/api/track", params={"data": b64({**order(account), "token": "NOSUCH"})})
            assert unknown.text == "0" and re.fullmatch(r"[0-9a-f]{16}", unknown.headers["x-request-id"])
            hostile = c.get("/api/track", params={"data": b64(order(account))}, headers={"X-Request-Id": "a b\"c" * 30})
            assert hostile.headers["x-request-id"] != "a b\"c" * 30  # not echoed: a new id
            invalid = c.post("/client/events/", params={"company_id": account.public_key}, headers=client_headers(),
                             content=json.dumps({"data": {"type": "event", "attributes": {"note": secret_body}}}))
            assert invalid.status_code == 400
            read = c.get("/api/profiles/NOSUCHPROFILE", headers=server_headers(account.private_key))
            assert read.status_code == 404
            denied = c.get("/api/profiles/", headers=server_headers("pk_wrongwrongwrong"))
            assert denied.status_code == 401
            assert c.get("/no/such/path").status_code == 404
        lines = wait_for(lambda: len(a := [x for x in access(json_lines(srv.text())) if x["route"] != "/healthz"]) >= 7
                         and a, "seven access lines")
        # The writer process killed: the next write restarts it, and that is logged.
        writer = int(httpx.get(srv.url + "/healthz").json()["writer_pid"])
        os.kill(writer, signal.SIGKILL)
        with httpx.Client(base_url=srv.url, timeout=10) as c:
            wait_for(lambda: c.get("/api/track", params={"data": b64(order(account))}).text == "1", "writes again")
    finally:
        text = srv.stop()
    by_id = {line["request_id"]: line for line in lines}
    first = by_id["req-abc.123"]
    assert first["method"] == "GET" and first["route"] == "/api/track" and first["status"] == 200
    assert first["account"] == account.id and first["bytes"] == 1 and first["reason"] is None
    assert isinstance(first["ms"], float) and first["level"] == "info"
    [unknown_line] = [line for line in lines if line["request_id"] == unknown.headers["x-request-id"]]
    assert (unknown_line["status"], unknown_line["reason"], unknown_line["account"]) == (200, "unknown_key", None)
    assert hostile.headers["x-request-id"] in by_id
    routes = {(line["route"], line["status"], line["reason"], line["account"]) for line in lines}
    assert ("/client/events", 400, "invalid", account.id) in routes
    assert ("/api/profiles/{id}", 404, "not_found", account.id) in routes
    assert ("/api/profiles/", 401, "authentication_failed", None) in routes
    assert ("other", 404, "not_found", None) in routes
    # Never a key, a query string or a body.
    for secret in (account.private_key, account.public_key, "pk_wrongwrongwrong", secret_body, "data=", "NOSUCH"):
        assert secret not in text, secret
    messages = [line["msg"] for line in json_lines(text)]
    assert any(re.match(r"worker \d+ started: database ", m) for m in messages), messages
    assert any(m.startswith("writer process restarted") for m in messages), messages
    assert any(re.match(r"worker \d+ stopped: drained \d+ queued event", m) for m in messages), messages
    assert {line["level"] for line in json_lines(text) if line["msg"].startswith("writer process restarted")} == {"warning"}


BULK = 3  # events in the metrics test's bulk request


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    """Every sample of a /metrics answer, parsed by prometheus_client's parser: (name, labels) -> value."""
    body = httpx.get(url, timeout=10)
    assert body.status_code == 200, body.text
    assert body.headers["content-type"].startswith("text/plain")
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(body.text) for s in family.samples}


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


@pytest.mark.parametrize("workers", ["1", "2"])
def test_metrics_from_footfall_serve_are_the_servers_whichever_worker_answers(tmp_path, empty_database, workers):
    migrate.upgrade(empty_database)
    account = new_account(empty_database, "metrics")
    metrics_port = free_port()
    # No event-loop lag limit: the counts below are exact, and a cold worker's first request on a loaded
    # machine (the parallel part of the suite) can lag past it and be refused as overloaded (503), as
    # it should be; the limit itself is drilled alone, in the serial part (test_durability).
    srv = LoggedServe(tmp_path, empty_database, "--workers", workers, "--access-log",
                      env={"FOOTFALL_METRICS_PORT": str(metrics_port), "FOOTFALL_RATE_LIMITS": "off",
                           "FOOTFALL_LOOP_LAG_LIMIT_SECONDS": "0"})
    sent = 40
    try:
        with httpx.Client(base_url=srv.url, timeout=10, limits=httpx.Limits(max_keepalive_connections=0)) as c:
            answers = [c.get("/api/track", params={"data": b64(order(account, f"m{i}@example.com",
                                                                       properties={"$event_id": f"m-{i}"}))})
                       for i in range(sent)]
            assert [a.text for a in answers] == ["1"] * sent, [(a.status_code, a.headers.get("retry-after"))
                                                               for a in answers if a.text != "1"]
            assert c.get("/api/track", params={"data": b64(order(account, "m0@example.com",
                                                                  properties={"$event_id": "m-0"}))}).text == "1"
            assert c.get("/api/track", params={"data": "%%%"}).text == "0"
            assert c.get("/api/profiles/", headers=server_headers(account.private_key)).status_code == 200
            # A bulk request counts each of its events (its result holds one entry per profile).
            bulk = c.post("/client/event-bulk-create", params={"company_id": account.public_key},
                          headers=client_headers(), content=json.dumps({"data": {
                              "type": "event-bulk-create", "attributes": {
                                  "profile": {"data": {"type": "profile", "attributes": {"email": "bulk@example.com"}}},
                                  "events": {"data": [{"type": "event", "attributes": {
                                      "properties": {}, "unique_id": f"b-{i}", "metric": {"data": {
                                          "type": "metric", "attributes": {"name": "Bulk"}}}}} for i in range(BULK)]}}}}))
            assert bulk.status_code == 202, bulk.text
            # Not on the main port when it has a port of its own.
            assert c.get("/metrics").status_code == 404
        samples = wait_for(lambda: (s := scrape(f"http://127.0.0.1:{metrics_port}/metrics"))
                           and value(s, "footfall_events_ingested_total") == sent + BULK
                           and value(s, "footfall_http_requests_total", route="/api/track", method="GET", status="200")
                           == sent + 2
                           and value(s, "footfall_http_requests_total", route="/api/profiles/", method="GET", status="200")
                           and s, "every event and request counted (each worker flushes every second)")
    finally:
        text = srv.stop()
    assert value(samples, "footfall_http_requests_total", route="/api/track", method="GET", status="200") == sent + 2
    assert value(samples, "footfall_http_requests_total", route="/api/profiles/", method="GET", status="200") == 1
    assert value(samples, "footfall_events_deduplicated_total") == 1
    assert value(samples, "footfall_events_refused_total", reason="invalid") == 1
    assert value(samples, "footfall_http_request_duration_seconds_count", route="/api/track", method="GET") == sent + 2
    assert value(samples, "footfall_group_commit_size_sum") == sent + 2  # and the duplicate, and the bulk request
    assert value(samples, "footfall_group_commit_duration_seconds_count") >= 1
    # The writer processes write their own files: their transactions are counted too.
    assert value(samples, "footfall_store_transaction_duration_seconds_count") >= 1
    assert ("footfall_ingest_queue_depth", ()) in samples and ("footfall_writer_restarts_total", ()) in samples
    # Bounded labels: route templates, never a path with an id or a key.
    routes = {dict(labels).get("route") for (_, labels) in samples} - {None}
    assert routes <= {"/api/track", "/api/profiles/", "/client/event-bulk-create", "/healthz", "/metrics"}, routes
    assert account.public_key not in str(samples) and account.private_key not in str(samples)
    # Text access lines (the default format).
    assert re.search(r"^\S+Z INFO footfall\.access request request_id=[0-9a-f]{16} method=GET route=/api/track "
                     r"status=200 ms=[\d.]+ bytes=1 account=" + account.id + " reason=-$", text, re.MULTILINE), text[-2000:]
    assert re.search(r"route=/api/track status=200 .* reason=invalid$", text, re.MULTILINE)
    if workers == "2":  # both workers answered some of the requests, and both are in the sum
        pids = {int(m) for m in re.findall(r"worker (\d+) started", text)}
        assert len(pids) == 2, text


def test_metrics_on_the_main_port_need_the_token(database_url):
    srv = ServerThread(server_settings(database_url=database_url, metrics_token="scrape-me")).start()
    try:
        with httpx.Client(base_url=srv.url) as c:
            assert c.get("/healthz").status_code == 200
            assert c.get("/metrics").status_code == 401
            assert c.get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401
            good = c.get("/metrics", headers={"Authorization": "Bearer scrape-me"})
            assert good.status_code == 200
            names = {f.name for f in text_string_to_metric_families(good.text)}
            assert {"footfall_http_requests", "footfall_http_request_duration_seconds"} <= names
    finally:
        srv.stop()
    off = ServerThread(server_settings(database_url=database_url)).start()  # no token: not served
    try:
        assert httpx.get(off.url + "/metrics").status_code == 404
    finally:
        off.stop()


def test_webhook_segment_and_rate_limit_metrics_count_what_happened(own_database):
    """Deliveries (attempts by outcome, messages), segment re-checks and 429s, before and after. On a
    database of its own: the session's shared server may not send to 127.0.0.1, and would otherwise
    take this test's deliveries and fail them."""
    database_url = own_database
    from footfall.domain.rate_limit_tiers import Limit, RateLimitSettings, tier_for
    from tests.receivers import Receiver
    from tests.segment_helpers import SegmentApi
    from tests.webhook_helpers import create_webhook, track

    # Only GET /api/metrics's tier is small: the events, webhook and segment calls stay unthrottled.
    tiny = RateLimitSettings(multiplier=1000, overrides={tier_for("GET", "/api/metrics"): Limit(3, 5)},
                             burst_window=1, steady_window=60)
    srv = ServerThread(server_settings(database_url=database_url, metrics_token="scrape-me", rate_limits=tiny,
                                       webhook_allow="127.0.0.1", webhook_poll_seconds=0.2)).start()
    account = new_account(database_url, f"obs-{time.time_ns()}")
    metrics_url = srv.url + "/metrics"

    def scrape_now():
        body = httpx.get(metrics_url, headers={"Authorization": "Bearer scrape-me"}, timeout=10)
        assert body.status_code == 200, body.text
        return {(s.name, tuple(sorted(s.labels.items()))): s.value
                for family in text_string_to_metric_families(body.text) for s in family.samples}

    try:
        before = scrape_now()
        with Receiver() as rx, httpx.Client(base_url=srv.url, timeout=10) as http:
            create_webhook(http, account.private_key, rx.url, ["event:placed_order"])
            api = SegmentApi(srv.url, account, database_url)
            try:
                track(http, account.public_key, "first@example.com")
                (metric_id,) = [mid for name, mid in api.metric_ids().items() if name == "Placed Order"]
                segment_id = api.segment_id({"condition_groups": [{"conditions": [{
                    "type": "profile-metric", "metric_id": metric_id, "measurement": "count",
                    "measurement_filter": {"type": "numeric", "operator": "greater-than-or-equal", "value": 1},
                    "timeframe_filter": {"type": "date", "operator": "in-the-last", "quantity": 1, "unit": "day"}}]}]})
                api.wait_processed([segment_id])
                for i in range(3):
                    track(http, account.public_key, f"p{i}@example.com")
                rx.wait_for(lambda r: len(r.messages()) >= 4)
                statuses = [http.get("/api/metrics", headers=server_headers(account.private_key)).status_code
                            for _ in range(8)]
                assert 429 in statuses, statuses
            finally:
                api.close()
        after = wait_for(lambda: (s := scrape_now())
                         and value(s, "footfall_webhook_messages_delivered_total")
                         - value(before, "footfall_webhook_messages_delivered_total") >= 4 and s,
                         "the deliveries counted")
    finally:
        srv.stop()

    def grew(name: str, **labels) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert grew("footfall_webhook_delivery_attempts_total", outcome="success") >= 1
    assert grew("footfall_webhook_messages_delivered_total") >= 4
    assert grew("footfall_segment_recheck_duration_seconds_count") >= 1
    assert grew("footfall_rate_limited_requests_total", route="/api/metrics") == statuses.count(429)
