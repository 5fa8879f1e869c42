"""GET /api/stream: committed events, profile changes and joins as Server-Sent Events, filtered by
topic; Last-Event-ID resumes without a gap or a repeat; bad parameters are 400s."""

from __future__ import annotations

import time

from tests.sse import SseReader
from tests.webhook_helpers import headers, track


def test_the_stream_carries_what_is_committed_in_order(server, client, account):
    with SseReader(f"{server.url}/api/stream", headers(account.private_key),
                   {"topic": "event:placed_order"}) as sse:
        acked = []
        for i in range(5):
            track(client, account.public_key, f"s{i % 2}@x.co", n=i)
            acked.append(time.time())
        events = sse.wait_for(5)
    assert [e.event for e in events] == ["event:placed_order"] * 5
    assert [e.data["payload"]["attributes"]["event_properties"]["n"] for e in events] == list(range(5))
    ids = [int(e.id) for e in events]
    assert ids == sorted(ids) and len(set(ids)) == 5
    assert all(e.data["position"] == int(e.id) for e in events)
    assert all(e.at - a < 2.0 for e, a in zip(events, acked))  # live (the bench measures the p95)


def test_all_topics_by_default_and_last_event_id_resumes(server, client, account):
    key = headers(account.private_key)
    with SseReader(f"{server.url}/api/stream", key) as sse:
        track(client, account.public_key, "first@x.co")
        events = sse.wait_for(2)  # profile:created, then the event
    assert {e.event for e in events} == {"profile:created", "event:placed_order"}
    last = events[-1].id
    for i in range(3):  # while nobody listens
        track(client, account.public_key, f"later{i}@x.co")
    with SseReader(f"{server.url}/api/stream", {**key, "last-event-id": last}) as sse:
        resumed = sse.wait_for(6)
        time.sleep(0.3)
    assert len(resumed) == 6  # 3 profiles created + 3 events: nothing missed, nothing repeated
    assert [int(e.id) for e in resumed] == list(range(int(last) + 1, int(last) + 7))


def test_bad_parameters_are_refused(client, account):
    key = headers(account.private_key)
    r = client.get("/api/stream", params={"topic": "profile:exploded"}, headers=key)
    assert r.status_code == 400 and r.json()["errors"][0]["source"]["parameter"] == "topic"
    r = client.get("/api/stream", headers={**key, "last-event-id": "abc"})
    assert r.status_code == 400 and r.json()["errors"][0]["source"]["parameter"] == "Last-Event-ID"
    r = client.get("/api/stream", headers={**key, "last-event-id": "9" * 40})
    assert r.status_code == 400
    r = client.get("/api/stream", headers={k: v for k, v in key.items() if k != "authorization"})
    assert r.status_code == 401
