"""The deliverer runs in a process of the worker's own (footfall/webhooks/deliverer_process.py): the
worker's HTTP loop does none of the delivering, /healthz shows the process, a killed one is started
again and delivers what was left, its attempts are counted in the worker's /metrics, and stopping
the server ends it."""

from __future__ import annotations

import logging
import os
import signal
import time

import httpx
from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import make_sqlite_database
from tests.receivers import Receiver
from tests.servers import ServerThread, new_account, server_settings
from tests.webhook_helpers import create_webhook, track

DELIVERED = "footfall_webhook_messages_delivered_total{}"


def _wait(check, timeout: float = 15.0):
    deadline = time.monotonic() + timeout
    while not (value := check()):
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)
    return value


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def test_the_deliverer_process_is_watched_restarted_and_counted(tmp_path, caplog):
    caplog.set_level(logging.INFO, logger="footfall.webhooks")
    url = make_sqlite_database(tmp_path)
    srv = ServerThread(server_settings(database_url=url, webhook_allow="127.0.0.1", webhook_poll_seconds=0.2,
                                       webhook_lease_seconds=1.0, metrics_token="scrape")).start()
    account = new_account(url, "deliverer-process")
    try:
        with Receiver() as rx, httpx.Client(base_url=srv.url, timeout=10) as http:
            def scrape() -> dict[str, float]:  # the counters of this test (the registry is the process's)
                text = http.get("/metrics", headers={"authorization": "Bearer scrape"}).text
                return {f"{s.name}{s.labels}": s.value - before.get(f"{s.name}{s.labels}", 0.0)
                        for family in text_string_to_metric_families(text) for s in family.samples}

            before: dict[str, float] = {}
            before = scrape()

            health = http.get("/healthz").json()
            first = health["deliverer"]["pid"]
            assert health["status"] == "ok" and health["deliverer"]["running"]
            assert first != os.getpid() and _alive(first)  # its own process, not the worker's loop
            # at a lower CPU priority than its worker's (webhook_deliverer_nice): ingest runs first
            _wait(lambda: os.getpriority(os.PRIO_PROCESS, first) == min(19, os.getpriority(os.PRIO_PROCESS, 0) + 10))
            create_webhook(http, account.private_key, rx.url, ["event:placed_order"])
            track(http, account.public_key, "a@example.com")
            rx.wait_for(lambda r: len(r.messages()) >= 1)
            _wait(lambda: scrape()[DELIVERED] == 1)  # reported by the first process
            # the child reported what it listens for: its lane's account and webhook, and "webhooks"
            assert {"webhooks", account.id} <= srv.app.state.deliverer._listening

            os.kill(first, signal.SIGKILL)
            track(http, account.public_key, "b@example.com")  # committed while no deliverer runs
            second = _wait(lambda: (d := http.get("/healthz").json()["deliverer"])["pid"] not in (None, first)
                           and d["pid"])
            rx.wait_for(lambda r: len(r.messages()) >= 2)  # the lapsed lease is taken over
            assert http.get("/healthz").json()["deliverer"]["restarts"] == 1
            scraped = _wait(lambda: (counts := scrape())[DELIVERED] >= 2 and counts)
            assert scraped["footfall_deliverer_restarts_total{}"] == 1
            assert scraped["footfall_webhook_delivery_attempts_total{'outcome': 'success'}"] >= 2
    finally:
        srv.stop()
    assert not _alive(second)  # it ends with the server
    text = caplog.text
    assert f"deliverer process {first} started" in text and f"deliverer process {second} started" in text
    assert f"deliverer process {first} exited" in text and f"deliverer process {second} stopped" in text


def test_healthz_is_degraded_while_the_deliverer_process_is_down(tmp_path, monkeypatch):
    from footfall.webhooks import deliverer_process

    monkeypatch.setattr(deliverer_process, "RESTART_DELAY", 5.0)  # a window to look in
    url = make_sqlite_database(tmp_path)
    srv = ServerThread(server_settings(database_url=url)).start()
    try:
        pid = httpx.get(srv.url + "/healthz").json()["deliverer"]["pid"]
        os.kill(pid, signal.SIGKILL)
        answer = _wait(lambda: (r := httpx.get(srv.url + "/healthz")).status_code == 503 and r)
        assert answer.json()["status"] == "degraded" and answer.json()["deliverer"]["running"] is False
    finally:
        srv.stop()


def test_the_worker_forwards_only_the_notices_its_deliverer_listens_for():
    """An account with no webhook lane in the deliverer process costs it no message; the worker's
    own streams are still woken; before the child's first report everything is forwarded."""
    import asyncio

    from footfall.config import Settings
    from footfall.webhooks.deliverer_process import DelivererProcess
    from footfall.webhooks.hub import Hub

    process = DelivererProcess(Settings())
    sent: list[list[str]] = []
    process._send = lambda message: sent.append(message[1])

    async def run() -> bool:
        hub = Hub()
        hub.bind(asyncio.get_running_loop())
        hub.forward_to(process.notify)
        stream = hub.listen("no-hooks")  # an /api/stream of an account without webhooks
        hub.notify(["hooked", "no-hooks"])
        process._take_status(("status", {}, {}, 0, ["webhooks", "hooked", "webhook:w1"]))
        hub.notify(["hooked", "no-hooks"])
        hub.notify(["no-hooks"])
        hub.notify(["webhook:w1"])
        return await stream.wait(1.0)

    assert asyncio.run(run()) is True
    assert sent == [["hooked", "no-hooks"], ["hooked"], ["webhook:w1"]]
