"""Webhook deliveries to real local receivers, on both backends: success, 500 then 429 + Retry-After
then 200, a hang past the timeout, 410; both signatures (the `standardwebhooks` package and an
independent Klaviyo recipe); batches, order per profile, retry of one delivery, replay, joins."""

from __future__ import annotations

import time
import uuid
from typing import Iterator

import httpx
import pytest
import standardwebhooks

from footfall.webhooks.signing import standard_secret
from tests.conftest import drop_pg_database, make_pg_database, make_sqlite_database
from tests.receivers import Answer, Receiver
from tests.segment_helpers import SegmentApi
from tests.servers import ServerThread, new_account, server_settings
from tests.webhook_helpers import SECRET, create_webhook, headers, klaviyo_valid, track

TIMEOUT = 1.0
LINGER = 0.5


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def hook_server(request, tmp_path_factory) -> Iterator[ServerThread]:
    """A server of its own database (no other deliverer claims its webhooks) that may deliver to
    loopback, with a short retry schedule and timeout."""
    url = (make_sqlite_database(tmp_path_factory.mktemp("hooks")) if request.param == "sqlite"
           else make_pg_database())
    srv = ServerThread(server_settings(database_url=url, webhook_allow="127.0.0.1",
                                       webhook_retry_schedule=(0, 0.3, 0.3, 0.3, 0.3, 0.3),
                                       webhook_timeout_seconds=TIMEOUT, webhook_poll_seconds=0.2,
                                       webhook_linger_seconds=LINGER)).start()
    yield srv
    srv.stop()
    if request.param != "sqlite":
        drop_pg_database(url)


@pytest.fixture
def hook_account(hook_server):
    return new_account(hook_server.settings.database_url, f"hooks-{uuid.uuid4().hex[:8]}")


@pytest.fixture
def http(hook_server) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=hook_server.url, timeout=30) as c:
        yield c


def test_a_200_receiver_gets_every_event_signed_both_ways(http, hook_account):
    with Receiver() as rx:
        hook = create_webhook(http, hook_account.private_key, rx.url, ["event:placed_order", "profile:created"])
        for i in range(3):
            track(http, hook_account.public_key, f"p{i}@x.co", total=i)
        rx.wait_for(lambda r: len([m for m in r.messages() if m["topic"] == "event:placed_order"]) >= 3)
        verifier = standardwebhooks.Webhook(standard_secret(SECRET))
        for req in rx.received:
            assert klaviyo_valid(SECRET, req.body, req.headers)
            verifier.verify(req.body, {"webhook-id": req.headers["webhook-id"],
                                       "webhook-timestamp": req.headers["webhook-timestamp"],
                                       "webhook-signature": req.headers["webhook-signature"]})
            body = req.json()
            assert req.headers["klaviyo-webhook-id"] == body["meta"]["klaviyo_webhook_id"] == hook["id"]
            assert body["meta"]["klaviyo_account_id"] == hook_account.id
        events = [m for m in rx.messages() if m["topic"] == "event:placed_order"]
        assert sorted(m["payload"]["attributes"]["event_properties"]["total"] for m in events) == [0, 1, 2]
        assert all(m["external_id"] == m["payload"]["id"] for m in events)  # the event's id
        assert len([m for m in rx.messages() if m["topic"] == "profile:created"]) == 3
        # A wrong secret does not verify.
        req = rx.received[0]
        assert not klaviyo_valid(SECRET + "x", req.body, req.headers)
        with pytest.raises(standardwebhooks.WebhookVerificationError):
            standardwebhooks.Webhook(standard_secret(SECRET + "x")).verify(req.body, {
                k: req.headers[k] for k in ("webhook-id", "webhook-timestamp", "webhook-signature")})


def test_500_then_429_with_retry_after_then_200(http, hook_account):
    with Receiver(Answer(500), Answer(429, {"Retry-After": "1"}), Answer(200)) as rx:
        create_webhook(http, hook_account.private_key, rx.url, ["event:placed_order"])
        track(http, hook_account.public_key, "r@x.co")
        rx.wait_for(lambda r: len(r.received) >= 3)
        time.sleep(0.5)
        assert len(rx.received) == 3  # delivered on the third attempt, then nothing more
        first, second, third = rx.received
        assert first.headers["webhook-id"] == second.headers["webhook-id"] == third.headers["webhook-id"]
        assert first.json()["data"] == third.json()["data"]
        assert third.at - second.at >= 0.95  # Retry-After: 1 honoured over the 0.3 s schedule
        deliveries = http.get("/api/webhook-deliveries", headers=headers(hook_account.private_key)).json()["data"]
        assert len(deliveries) == 1 and deliveries[0]["attributes"]["status"] == "succeeded"
        assert deliveries[0]["attributes"]["attempts"] == 3
        attempts = http.get(f"/api/webhook-deliveries/{deliveries[0]['id']}/attempts",
                            headers=headers(hook_account.private_key)).json()["data"]
        assert [a["attributes"]["status_code"] for a in attempts] == [500, 429, 200]
        assert attempts[0]["attributes"]["response"] == "ok"
        assert all(a["attributes"]["latency_ms"] >= 0 for a in attempts)


def test_a_receiver_that_hangs_past_the_timeout_is_retried(http, hook_account):
    with Receiver(Answer(200, delay=TIMEOUT + 1.5), Answer(200)) as rx:
        create_webhook(http, hook_account.private_key, rx.url, ["event:placed_order"])
        track(http, hook_account.public_key, "h@x.co")
        rx.wait_for(lambda r: len(r.received) >= 2, timeout=20)
        assert rx.received[0].headers["webhook-id"] == rx.received[1].headers["webhook-id"]
        key = headers(hook_account.private_key)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            (d,) = http.get("/api/webhook-deliveries", headers=key).json()["data"]
            if d["attributes"]["status"] == "succeeded":
                break
            time.sleep(0.1)
        attempts = http.get(f"/api/webhook-deliveries/{d['id']}/attempts", headers=key).json()["data"]
        assert attempts[0]["attributes"]["status_code"] is None
        assert "no answer within" in attempts[0]["attributes"]["error"]
        assert attempts[-1]["attributes"]["status_code"] == 200


def test_410_disables_the_webhook_and_says_why(http, hook_account):
    with Receiver(Answer(410)) as rx:
        hook = create_webhook(http, hook_account.private_key, rx.url, ["event:placed_order"])
        track(http, hook_account.public_key, "g@x.co")
        rx.wait_for(lambda r: len(r.received) >= 1)
        key = headers(hook_account.private_key)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            shown = http.get(f"/api/webhooks/{hook['id']}", headers=key).json()["data"]["attributes"]
            if not shown["enabled"]:
                break
            time.sleep(0.1)
        assert shown["enabled"] is False and "410" in shown["disabled_reason"]
        track(http, hook_account.public_key, "g2@x.co")
        time.sleep(1.0)
        assert len(rx.received) == 1  # nothing more goes to a disabled endpoint
        (d,) = http.get("/api/webhook-deliveries", headers=key).json()["data"]
        assert "410" in d["attributes"]["last_error"]


def test_a_batch_not_yet_full_lingers_for_more_messages(http, hook_account):
    """Ten events committed one by one within the linger go out in one or two requests, not ten."""
    with Receiver() as rx:
        create_webhook(http, hook_account.private_key, rx.url, ["event:placed_order"])
        began = time.monotonic()
        for i in range(10):
            track(http, hook_account.public_key, f"l{i}@x.co", n=i)
        sent_within = time.monotonic() - began
        rx.wait_for(lambda r: len(r.messages()) >= 10)
        if sent_within < LINGER:  # on a very slow machine the ten may span more than one linger
            assert len(rx.received) <= 2, [len(r.json()["data"]) for r in rx.received]
        assert len(rx.received) <= 1 + int(sent_within / LINGER) + 1


def test_batches_keep_commit_order_per_profile(http, hook_account):
    with Receiver(Answer(500), Answer(200)) as rx:
        create_webhook(http, hook_account.private_key, rx.url, ["event:placed_order"], batch_size=4)
        sent = []
        for i in range(12):
            email = f"o{i % 2}@x.co"
            track(http, hook_account.public_key, email, n=i)
            sent.append((email, i))
        rx.wait_for(lambda r: len({m["external_id"] for m in r.messages()}) >= 12)
        sizes = [len(r.json()["data"]) for r in rx.received]
        assert max(sizes) <= 4
        seen: dict[str, list[int]] = {}
        first_seen = []
        for m in rx.messages():
            if m["external_id"] not in first_seen:
                first_seen.append(m["external_id"])
                props = m["payload"]["attributes"]["event_properties"]
                seen.setdefault(m["payload"]["relationships"]["profile"]["data"]["id"], []).append(props["n"])
        assert len(seen) == 2
        for ns in seen.values():
            assert ns == sorted(ns)


def test_standard_webhooks_format_one_message_per_request(http, hook_account):
    with Receiver() as rx:
        create_webhook(http, hook_account.private_key, rx.url, ["event:placed_order"], format="standard")
        for i in range(2):
            track(http, hook_account.public_key, f"s{i}@x.co")
        rx.wait_for(lambda r: len(r.received) >= 2)
        verifier = standardwebhooks.Webhook(standard_secret(SECRET))
        ids = set()
        for req in rx.received:
            payload = verifier.verify(req.body, {k: req.headers[k] for k in
                                                 ("webhook-id", "webhook-timestamp", "webhook-signature")})
            assert payload["type"] == "event:placed_order"
            assert payload["data"]["id"] == req.headers["webhook-id"]
            assert klaviyo_valid(SECRET, req.body, req.headers)
            ids.add(req.headers["webhook-id"])
        assert len(ids) == 2


def test_retry_one_delivery_and_replay_a_time_range(http, hook_account):
    key = headers(hook_account.private_key)
    with Receiver() as rx:
        hook = create_webhook(http, hook_account.private_key, rx.url, ["event:placed_order"])
        start = time.time() - 1
        for i in range(3):
            track(http, hook_account.public_key, f"rr{i}@x.co")
        rx.wait_for(lambda r: len(r.messages()) >= 3)
        deadline = time.monotonic() + 10
        while True:  # the delivery is recorded just after the receiver answered
            deliveries = http.get("/api/webhook-deliveries", headers=key).json()["data"]
            if sum(d["attributes"]["message_count"] for d in deliveries) >= 3 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        target = deliveries[-1]
        before = len(rx.received)
        r = http.post(f"/api/webhook-deliveries/{target['id']}/retry", headers=key)
        assert r.status_code == 202, r.text
        rx.wait_for(lambda r: len(r.received) > before)
        again = rx.received[before]
        assert again.headers["webhook-id"] == target["id"]
        assert [m["external_id"] for m in again.json()["data"]] == target["attributes"]["message_ids"]
        ids = {m["external_id"] for m in rx.messages()}
        count = len(rx.messages())
        r = http.post(f"/api/webhooks/{hook['id']}/replay", headers=key, json={"data": {
            "type": "webhook-replay", "attributes": {
                "start": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start)),
                "end": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 2))}}})
        assert r.status_code == 202, r.text
        rx.wait_for(lambda r: len(r.messages()) >= count + 3)
        assert {m["external_id"] for m in rx.messages()[count:]} == ids


def test_segment_joins_are_delivered(hook_server, http, hook_account):
    api = SegmentApi(hook_server.url, hook_account, hook_server.settings.database_url)
    try:
        with Receiver() as rx:
            track(http, hook_account.public_key, "seed@x.co", metric="Bought")
            definition = {"condition_groups": [{"conditions": [{
                "type": "profile-metric", "metric_id": api.metric_ids()["Bought"], "measurement": "count",
                "measurement_filter": {"type": "numeric", "operator": "greater-than-or-equal", "value": 1},
                "timeframe_filter": {"type": "date", "operator": "in-the-last", "quantity": 1, "unit": "hour"}}]}]}
            sid = api.segment_id(definition)
            api.wait_processed([sid])
            create_webhook(http, hook_account.private_key, rx.url, ["segment:joined"], group_ids=[sid])
            track(http, hook_account.public_key, "joiner@x.co", metric="Bought")
            rx.wait_for(lambda r: any(m["topic"] == "segment:joined" for m in r.messages()))
            (joined,) = [m for m in rx.messages() if m["topic"] == "segment:joined"]
            assert joined["payload"]["id"] == sid and joined["payload"]["type"] == "segment"
    finally:
        api.close()


def test_lanes_share_what_one_of_them_rendered(monkeypatch, tmp_path):
    """Three webhooks on the same topics: each message is read and rendered once, not once per lane."""
    from footfall.config import Settings
    from footfall.webhooks import deliverer, messages
    from footfall.webhooks.hub import Hub

    calls: list[list[int]] = []

    def render(conn, account_id, rows, base):
        calls.append([r["position"] for r in rows])
        return [{"position": r["position"], "id": f"m{r['position']}", "topic": "event:x", "created": "",
                 "payload": {}} for r in rows]

    monkeypatch.setattr(messages, "render", render)
    d = deliverer.Deliverer(Settings(), lambda: None, Hub())
    rows = [{"position": p} for p in (1, 2, 3)]
    first = d._render(None, "acct", rows)
    assert d._render(None, "acct", rows) == first and d._render(None, "acct", rows[1:]) == first[1:]
    assert d._render(None, "other", rows[:1])[0]["id"] == "m1"  # another account's position 1 is its own
    assert calls == [[1, 2, 3], [1]]


def test_lanes_finishing_together_record_in_one_transaction(monkeypatch):
    """Records of lanes that finish at about the same time share one transaction; each learns
    whether its own was written (a lost lease writes nothing and says so)."""
    import asyncio

    from footfall.config import Settings
    from footfall.store import webhooks
    from footfall.webhooks import deliverer
    from footfall.webhooks.hub import Hub

    transactions: list[int] = []

    def records(conn, writes):
        transactions.append(len(writes))
        return [write(conn) for write in writes]

    monkeypatch.setattr(webhooks, "records", records)

    class NoConn:
        def is_unavailable(self, exc):
            return False

    async def lanes():
        d = deliverer.Deliverer(Settings(), NoConn, Hub())
        first = await asyncio.gather(*(d._record(lambda c, ok=ok: ok) for ok in (True, False, True)))
        second = await d._record(lambda c: True)
        return first, second

    first, second = asyncio.run(lanes())
    assert first == [True, False, True] and second is True
    assert transactions == [3, 1]


def test_a_lane_reads_each_outbox_row_once_when_most_of_them_match(monkeypatch):
    """batch_size rows at first, more only while few match; after the linger it reads on from where
    it was (the outbox has no gaps), not again from its cursor."""
    from footfall.config import Settings
    from footfall.store import outbox
    from footfall.webhooks import deliverer
    from footfall.webhooks.hub import Hub

    reads: list[tuple[int, int]] = []
    topics_at = {p: "event:placed_order" if p % 50 == 0 else "event:viewed" for p in range(1, 20_001)}

    def after(conn, account_id, position, limit, until=None):
        reads.append((position, limit))
        return [{"position": p, "topic": topics_at[p], "subject_id": None}
                for p in range(position + 1, min(position + limit, 20_000) + 1)]

    class Conn:
        def rollback(self):
            pass

    monkeypatch.setattr(outbox, "after", after)
    d = deliverer.Deliverer(Settings(), Conn, Hub())
    every = {"id": "w", "cursor": 0, "format": "klaviyo", "batch_size": 100,
             "topics": ["event:placed_order", "event:viewed"]}
    rows, upto = d._next_rows(Conn(), "acct", every)
    assert (len(rows), upto, reads) == (100, 100, [(0, 100)])
    reads.clear()
    d._shared_rows.clear()  # what the lanes read lately (test_lanes_of_one_account_share_outbox_reads)
    rows, upto = d._next_rows(Conn(), "acct", every, have=(rows[:40], 40))
    assert (len(rows), upto, reads) == (100, 100, [(40, 100)])  # on from 40, not from the cursor
    reads.clear()
    d._shared_rows.clear()
    sparse = {**every, "topics": ["event:placed_order"]}  # 1 row in 50
    rows, upto = d._next_rows(Conn(), "acct", sparse)
    assert len(rows) == 100 and [limit for _, limit in reads] == [100, 400, 1600, 5000]


def test_under_load_a_lane_reads_the_outbox_once_per_request(monkeypatch):
    """Messages committed every few ms: after a batch that was not full, a lane waits out the linger
    and sends what its next read finds (one read per request), instead of reading, waiting out the
    new batch's linger and reading again (two)."""
    import asyncio

    from footfall.webhooks import deliverer

    fake = _FakeOutbox(monkeypatch)
    linger = 0.05

    async def run() -> float:
        d = _lane_deliverer(webhook_linger_seconds=linger)
        hook = fake.hook("w")
        lane = deliverer.LaneState()
        began = time.monotonic()
        producer = asyncio.create_task(fake.produce(d.hub, 150))  # one message every 4 ms for 0.6 s
        while not producer.done() or hook["cursor"] < len(fake.committed):
            wait = await d._step(None, "acct", hook, lane)
            if wait:
                await asyncio.sleep(min(wait, 0.01))
        await producer
        return time.monotonic() - began

    took = asyncio.run(run())
    sent = fake.sent["w"]
    assert fake.delivered("w") == list(range(1, 151))  # all of them, in order, once
    assert len(sent) <= took / linger + 3  # lingered: about one request per linger, not one per message
    assert len(fake.reads) <= len(sent) + 3, (len(fake.reads), len(sent))


class _FakeOutbox:
    """The deliverer's database, faked for running its lanes: outbox rows appended as a producer
    commits them (and notifies the hub, as the pipeline does), every read and pending look counted."""

    def __init__(self, monkeypatch, answer=lambda hook_id, positions: 200) -> None:
        from footfall import clock
        from footfall.store import outbox, webhooks
        from footfall.webhooks import deliverer, messages

        self.committed: list[dict] = []
        self.reads: list[int] = []
        self.looks: list[str] = []
        self.sent: dict[str, list[list[int]]] = {}
        self.hooks: dict[str, dict] = {}
        fake = self

        def after(conn, account_id, position, limit, until=None):
            fake.reads.append(position)
            return [r for r in fake.committed if r["position"] > position][:limit]

        async def send(self, client, account_id, hook, delivery_id, items):
            positions = [i["position"] for i in items]
            fake.sent.setdefault(hook["id"], []).append(positions)
            return {"started": clock.now(), "status_code": answer(hook["id"], positions), "latency_ms": 1.0,
                    "response": "", "error": None}, None

        monkeypatch.setattr(outbox, "after", after)
        monkeypatch.setattr(webhooks, "next_pending", lambda conn, account_id, webhook_id: fake.looks.append(webhook_id))
        monkeypatch.setattr(webhooks, "renew", lambda conn, account_id, webhook_id, owner, until: fake.hooks[webhook_id])
        monkeypatch.setattr(webhooks, "record_new", lambda *args: True)
        monkeypatch.setattr(webhooks, "records", lambda conn, writes: [write(conn) for write in writes])
        monkeypatch.setattr(messages, "render", lambda conn, account_id, rows, base: [
            {"position": r["position"], "id": str(r["position"]), "topic": r["topic"], "created": "", "payload": {}}
            for r in rows])
        monkeypatch.setattr(deliverer.Deliverer, "_send", send)

    def hook(self, hook_id: str) -> dict:
        self.hooks[hook_id] = {"id": hook_id, "cursor": 0, "format": "klaviyo", "batch_size": 100,
                               "topics": ["event:x"], "group_ids": [], "failing_since": None}
        return self.hooks[hook_id]

    async def produce(self, hub, n: int, every: float = 0.004) -> None:
        import asyncio

        from footfall import clock
        for _ in range(n):
            self.committed.append({"position": len(self.committed) + 1, "topic": "event:x", "subject_id": None,
                                   "created": clock.now()})
            hub.notify(["acct"])
            await asyncio.sleep(every)

    def delivered(self, hook_id: str) -> list[int]:
        return [p for batch in self.sent.get(hook_id, []) for p in batch]


class _FakeConn:
    def rollback(self):
        pass

    def is_unavailable(self, exc):
        return False

    def close(self):
        pass


def _lane_deliverer(**settings):
    import asyncio

    from footfall.config import Settings
    from footfall.webhooks import deliverer
    from footfall.webhooks.hub import Hub

    hub = Hub()
    hub.bind(asyncio.get_running_loop())
    return deliverer.Deliverer(Settings(webhook_lease_seconds=60, **settings), _FakeConn, hub)


async def _until(predicate, timeout: float = 10.0) -> None:
    import asyncio
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met"
        await asyncio.sleep(0.005)


def test_a_lane_looks_for_pending_deliveries_only_when_there_may_be_one(monkeypatch):
    """Not on every read: at the start, after a failed attempt, on a notice for the webhook (a retry
    or replay asked for) and once per poll interval."""
    import asyncio

    failing: set[int] = set()
    fake = _FakeOutbox(monkeypatch, answer=lambda hook_id, positions: 500 if set(positions) & failing else 200)

    async def run():
        d = _lane_deliverer(webhook_linger_seconds=0.02, webhook_poll_seconds=30)
        hook = fake.hook("w")
        lane = asyncio.create_task(d._lane("acct", "w"))
        await fake.produce(d.hub, 100)
        await _until(lambda: hook["cursor"] == 100)
        healthy = (len(fake.looks), len(fake.reads))
        d.hub.notify(["webhook:w"])  # POST .../retry or a replay
        await _until(lambda: len(fake.looks) > healthy[0])
        noticed = len(fake.looks)
        failing.add(101)
        await fake.produce(d.hub, 1)
        await _until(lambda: len(fake.looks) > noticed)  # the failed delivery is pending: looked for
        lane.cancel()
        await asyncio.gather(lane, return_exceptions=True)
        return healthy

    looks, reads = asyncio.run(run())
    assert fake.delivered("w") == list(range(1, 102))
    assert looks == 1 and reads > 5, (looks, reads)  # once, at the start; not per read


def test_lanes_of_one_account_share_outbox_reads(monkeypatch):
    """Three webhooks of one account under load: what one lane read is there for the others
    (SharedRows), so the outbox is read about once per request of one lane, not once per lane."""
    import asyncio

    fake = _FakeOutbox(monkeypatch)

    async def run():
        d = _lane_deliverer(webhook_linger_seconds=0.05, webhook_poll_seconds=30)
        hooks = [fake.hook(f"w{i}") for i in range(3)]
        lanes = [asyncio.create_task(d._lane("acct", h["id"])) for h in hooks]
        await fake.produce(d.hub, 150)
        await _until(lambda: all(h["cursor"] == 150 for h in hooks))
        for lane in lanes:
            lane.cancel()
        await asyncio.gather(*lanes, return_exceptions=True)

    asyncio.run(run())
    requests = [len(fake.sent[f"w{i}"]) for i in range(3)]
    assert all(fake.delivered(f"w{i}") == list(range(1, 151)) for i in range(3))  # each got all, in order, once
    assert len(fake.reads) <= 1.5 * max(requests) + 4, (len(fake.reads), requests)  # unshared: ~3x


def test_shared_rows_take_another_lanes_end_only_if_read_after_the_last_notice():
    from footfall.webhooks.deliverer import SharedRows

    outbox = [{"position": p} for p in range(1, 6)]
    reads: list[tuple[int, int]] = []

    def read(position, limit):
        reads.append((position, limit))
        return [r for r in outbox if r["position"] > position][:limit]

    shared = SharedRows()
    assert [r["position"] for r in shared.after(read, 0, 20, fresh_after=0.0, started=10.0)] == [1, 2, 3, 4, 5]
    assert [r["position"] for r in shared.after(read, 2, 20, fresh_after=9.0, started=11.0)] == [3, 4, 5]
    assert [r["position"] for r in shared.after(read, 1, 2, fresh_after=99.0, started=11.0)] == [2, 3]  # a full read
    assert reads == [(0, 20)]  # both from what the first read found
    outbox.append({"position": 6})  # committed, and noticed at 10.5: the end seen at 10.0 is too old
    assert [r["position"] for r in shared.after(read, 3, 20, fresh_after=10.5, started=12.0)] == [4, 5, 6]
    assert reads == [(0, 20), (5, 18)]  # only what follows the rows it had
    assert [r["position"] for r in shared.after(read, 6, 20, fresh_after=11.0, started=13.0)] == []
    assert reads == [(0, 20), (5, 18)]
