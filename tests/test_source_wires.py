"""The Segment-spec (/v1/*) and PostHog capture routes over real HTTP: auth, limits, encodings, the
whole-batch rule, skew correction, and the mapping (docs/sources.md), on both backends."""

from __future__ import annotations

import base64
import gzip
import json
import time
from datetime import datetime, timedelta, timezone

import pytest

from tests.servers import row_counts
from tests.sources_helpers import made_write_key
from tests.sources_helpers import rows as export


@pytest.fixture
def key(database_url, account) -> dict:
    return made_write_key(database_url, account)


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def v1(client, path: str, body, key: str | None, **kwargs):
    return client.post(path, json=body, auth=(key, "") if key else None, **kwargs)


# -- Segment ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("call", ["identify", "track", "page", "screen", "group", "alias"])
def test_each_single_call_is_answered_success_once_committed(call, client, key, database_url, account):
    message = {"identify": {"userId": "u1", "traits": {"email": "one@example.com"}},
               "track": {"userId": "u1", "event": "Clicked"},
               "page": {"userId": "u1", "name": "Home"},
               "screen": {"userId": "u1", "name": "Main"},
               "group": {"userId": "u1", "groupId": "g1"},
               "alias": {"userId": "u1", "previousId": "anon-1"}}[call]
    r = v1(client, f"/v1/{call}", message, key["key"])
    assert (r.status_code, r.json()) == (200, {"success": True})
    [person] = export(database_url, account, "profiles")
    assert person["external_id"] == "u1"
    events = export(database_url, account, "events")
    assert [e["metric"] for e in events] == {"track": ["Clicked"], "page": ["Viewed Page"],
                                             "screen": ["Viewed Screen"]}.get(call, [])


def test_batch_with_one_bad_message_is_refused_whole_with_its_index(client, key, database_url, account):
    batch = [{"type": "track", "userId": "u1", "event": "Fine"},
             {"type": "identify", "userId": "u1", "traits": {"email": "ok@example.com"}},
             {"type": "track", "userId": "u1", "event": "Fine too", "properties": {"revenue": "lots"}}]
    r = v1(client, "/v1/batch", {"batch": batch}, key["key"])
    assert r.status_code == 400
    body = r.json()
    assert body["success"] is False and body["index"] == 2 and body["path"] == "batch[2].properties.revenue"
    assert "'lots' is not a number" in body["message"]
    assert row_counts(database_url, account.id)["events"] == 0 and export(database_url, account, "profiles") == []


def test_a_refusal_inside_the_store_also_refuses_the_whole_batch(server, client, key, database_url, account):
    """The metric limit is checked in the transaction: message 1 over it undoes message 0 too."""
    limit = server.settings.limits.max_metrics_per_account
    batch = [{"type": "track", "userId": "u1", "event": f"m{i}"} for i in range(limit + 1)]
    r = v1(client, "/v1/batch", {"batch": batch}, key["key"])
    assert r.status_code == 400 and r.json()["index"] == limit, r.text
    assert export(database_url, account, "events") == [] and export(database_url, account, "profiles") == []


def test_segment_size_limits_are_400(client, key, database_url, account):
    big = {"type": "track", "userId": "u1", "event": "Big", "properties": {"blob": "x" * (33 * 1024)}}
    r = v1(client, "/v1/batch", {"batch": [big]}, key["key"])
    assert r.status_code == 400 and "32 KB" in r.json()["message"] and r.json()["index"] == 0
    r = v1(client, "/v1/track", {k: v for k, v in big.items() if k != "type"}, key["key"])
    assert r.status_code == 400 and "32 KB" in r.json()["message"]
    many = [{"type": "track", "userId": "u1", "event": "Mid", "properties": {"blob": "y" * 30_000}}
            for _ in range(20)]  # each under 32 KB, together over 500 KB
    r = v1(client, "/v1/batch", {"batch": many}, key["key"])
    assert r.status_code == 400 and "500 KB per batch" in r.json()["message"]
    bomb = gzip.compress(json.dumps({"batch": many}).encode())  # small on the wire, over the limit inflated
    r = client.post("/v1/batch", content=bomb, auth=(key["key"], ""), headers={"content-encoding": "gzip"})
    assert r.status_code == 400 and "512000 bytes, the limit, once decompressed" in r.json()["message"]
    assert row_counts(database_url, account.id)["events"] == 0


def test_gzip_and_write_key_in_the_body(client, key, database_url, account):
    body = {"writeKey": key["key"], "batch": [{"type": "track", "anonymousId": "a1", "event": "Zipped"}]}
    r = client.post("/v1/import", content=gzip.compress(json.dumps(body).encode()),
                    headers={"content-encoding": "gzip", "content-type": "application/json"})
    assert (r.status_code, r.json()) == (200, {"success": True})
    [event] = export(database_url, account, "events")
    assert event["metric"] == "Zipped" and event["properties"]["$source"] == key["id"]


def test_client_clock_skew_is_corrected_with_sent_at(client, key, database_url, account):
    now = time.time()
    # The client's clock runs an hour fast: it says the event happened 10 s before it sent it.
    fast = now + 3600
    body = {"batch": [{"type": "track", "userId": "u1", "event": "Skewed", "messageId": "s1",
                       "timestamp": iso(fast - 10)}], "sentAt": iso(fast)}
    assert v1(client, "/v1/batch", body, key["key"]).status_code == 200
    [event] = export(database_url, account, "events")
    assert abs(event["timestamp"] - (now - 10)) <= 3, (event["timestamp"], now)


def test_resent_message_id_is_stored_once(client, key, database_url, account):
    message = {"type": "track", "userId": "u1", "event": "Paid", "messageId": "m-1",
               "properties": {"revenue": 5, "currency": "usd"}}
    for _ in range(2):
        assert v1(client, "/v1/batch", {"batch": [message, message]}, key["key"]).status_code == 200
    [event] = export(database_url, account, "events")
    assert (event["unique_id"], event["value"], event["value_currency"]) == ("m-1", 5.0, "USD")


def test_an_address_of_traits_over_a_non_object_address_of_context_traits(client, key, database_url, account):
    # context.traits first, then the message's traits: the later wins, as for every other trait
    message = {"userId": "u1", "context": {"traits": {"address": "x"}},
               "traits": {"address": {"city": "Oslo", "floor": 3}}}
    r = v1(client, "/v1/identify", message, key["key"])
    assert (r.status_code, r.json()) == (200, {"success": True})
    [person] = export(database_url, account, "profiles")
    assert person["location"]["city"] == "Oslo" and person["properties"]["address"] == {"floor": 3}


def test_alias_never_merges_two_identified_profiles(client, key, database_url, account):
    batch = [{"type": "identify", "userId": "known-1", "traits": {"email": "k1@example.com"}},
             {"type": "identify", "anonymousId": "anon-2", "traits": {"email": "k2@example.com"}},
             {"type": "alias", "userId": "known-1", "previousId": "anon-2"}]
    assert v1(client, "/v1/batch", {"batch": batch}, key["key"]).status_code == 200
    assert sorted(p["email"] for p in export(database_url, account, "profiles")) == ["k1@example.com",
                                                                                     "k2@example.com"]


@pytest.mark.parametrize("auth", ["none", "unknown", "private", "public", "empty"])
def test_without_a_live_write_key_nothing_is_stored(auth, client, account, database_url):
    key = {"none": None, "unknown": "wk_" + "0" * 32, "private": account.private_key, "public": account.public_key,
           "empty": ""}[auth]
    r = v1(client, "/v1/track", {"userId": "u1", "event": "Nope"}, key)
    assert r.status_code == 401 and r.json()["success"] is False
    r = client.post("/batch/", json={"api_key": key, "batch": [{"event": "x", "distinct_id": "d"}]})
    assert r.status_code == 401
    assert row_counts(database_url, account.id)["events"] == 0


# -- PostHog ---------------------------------------------------------------------------------------

def _ph_batch(key: str) -> dict:
    return {"api_key": key, "batch": [{"event": "Viewed", "distinct_id": "d1", "uuid": "9f1c7c5e-0000-4000-8000-000000000001",
                                       "properties": {"$set": {"email": "d1@example.com"}}}]}


@pytest.mark.parametrize("path, encoding", [
    *((path, "json") for path in ("/capture/", "/batch/", "/i/v0/e/", "/e", "/i/v0/ai/batch/")),
    *(("/e/", encoding) for encoding in ("json", "gzip", "gzip-js", "base64", "form-base64", "form-json", "get")),
])
def test_posthog_bodies_as_the_sdks_send_them(path, encoding, client, key, database_url, account):
    raw = json.dumps(_ph_batch(key["key"])).encode()
    kwargs: dict = {}
    if encoding == "json":
        kwargs = {"content": raw, "headers": {"content-type": "application/json"}}
    elif encoding == "gzip":
        kwargs = {"content": gzip.compress(raw), "headers": {"content-encoding": "gzip"}}
    elif encoding == "gzip-js":
        kwargs = {"content": gzip.compress(raw), "params": {"compression": "gzip-js"}}
    elif encoding == "base64":
        kwargs = {"content": base64.b64encode(raw)}
    elif encoding == "form-base64":
        kwargs = {"data": {"data": base64.b64encode(raw).decode()}}
    elif encoding == "form-json":
        kwargs = {"data": {"data": raw.decode()}}
    method = "GET" if encoding == "get" else "POST"
    if method == "GET":
        kwargs = {"params": {"data": base64.b64encode(raw).decode()}}
    r = client.request(method, path, **kwargs)
    assert r.status_code == 200, r.text
    [event] = export(database_url, account, "events")
    assert event["metric"] == "Viewed" and event["unique_id"] == "9f1c7c5e-0000-4000-8000-000000000001"
    [person] = export(database_url, account, "profiles")
    assert (person["external_id"], person["email"]) == ("d1", "d1@example.com")


def test_posthog_offset_and_sent_at(client, key, database_url, account):
    now = time.time()
    fast = now + 7200
    body = {"api_key": key["key"], "sent_at": iso(fast), "batch": [
        {"event": "Skewed", "distinct_id": "d1", "timestamp": iso(fast - 30)},
        {"event": "Offset", "distinct_id": "d1", "offset": 60_000},
        {"event": "Imported", "distinct_id": "d1", "timestamp": "2025-01-02T03:04:05Z",
         "properties": {"$ignore_sent_at": True}}]}
    assert client.post("/batch/", json=body).status_code == 200
    got = {e["metric"]: e["timestamp"] for e in export(database_url, account, "events")}
    assert abs(got["Skewed"] - (now - 30)) <= 3 and abs(got["Offset"] - (now - 60)) <= 3
    assert got["Imported"] == 1735787045


def test_posthog_refusals(client, key, database_url, account):
    r = client.post("/batch/", json={"api_key": key["key"], "batch": [{"event": "ok", "distinct_id": "d"},
                                                                    {"event": "no id"}]})
    assert r.status_code == 400 and r.json()["attr"] == "batch[1].distinct_id"
    r = client.post("/e/", content=b"%%%not base64%%%", params={"token": key["key"]})
    assert r.status_code == 400 and r.json()["type"] == "validation_error"
    r = client.post("/e/", content=b"x", params={"token": key["key"], "compression": "lz64"})
    assert r.status_code == 400 and "lz64" in r.json()["detail"]
    big = gzip.compress(b'{"api_key": "k", "batch": [' + b'{"event": "x", "distinct_id": "d"},' * 700_000 + b'1]}')
    r = client.post("/batch/", content=big, headers={"content-encoding": "gzip"})
    assert r.status_code == 413
    assert row_counts(database_url, account.id)["events"] == 0


@pytest.mark.parametrize("path", ["/decide/?v=3", "/flags/?v=2", "/flags/?v=4", "/decide"])
def test_decide_and_flags_answer_no_flags(path, client, key):
    r = client.post(path, json={"api_key": key["key"], "distinct_id": "d1"})
    assert r.status_code == 200
    body = r.json()
    assert body["featureFlags"] == {} and body["flags"] == {} and body["errorsWhileComputingFlags"] is False
    assert client.post(path, json={"api_key": "wk_" + "1" * 32, "distinct_id": "d1"}).status_code == 401


def test_an_old_timestamp_is_refused_with_its_place(client, key, database_url, account):
    old = (datetime(1999, 12, 31, tzinfo=timezone.utc)).isoformat()
    r = v1(client, "/v1/batch", {"batch": [{"type": "track", "userId": "u", "event": "Old", "timestamp": old}]},
           key["key"])
    assert r.status_code == 400 and r.json()["path"] == "batch[0].timestamp"
    future = (datetime.now(timezone.utc) + timedelta(days=800)).isoformat()
    r = client.post("/batch/", json={"api_key": key["key"], "batch": [{"event": "F", "distinct_id": "d",
                                                                      "timestamp": future}]})
    assert r.status_code == 400 and r.json()["attr"] == "batch[0].timestamp"
    assert row_counts(database_url, account.id)["events"] == 0


def test_a_batch_repeating_one_person_holds_one_patch_object():
    """What crosses to the writer once per run of one person's messages, not once per message
    (wire/sources.SharedPatches): equal inputs share the patch; inputs that differ, even only in
    their JSON type (1 and 1.0), or a message of another kind between, map their own."""
    from footfall.domain.limits import Limits
    from footfall.wire import posthog_capture, segment_spec
    from footfall.wire.sources import Source

    source, now = Source("a", "k", "test"), time.time()

    def track(user, traits):
        return {"type": "track", "userId": user, "event": "E", "context": {"traits": traits}}

    batch = [track("u", {"email": "a@x.co", "n": 1}), track("u", {"email": "a@x.co", "n": 1}),
             track("u", {"email": "a@x.co", "n": 1.0}), track("v", {"email": "a@x.co", "n": 1.0}),
             {"type": "identify", "userId": "v", "context": {"traits": {"email": "a@x.co", "n": 1.0}},
              "traits": {"plan": "pro"}},
             track("v", {"email": "a@x.co", "n": 1.0})]
    ops, _ = segment_spec.decode_batch({"batch": batch}, source, Limits(), now)
    assert ops[1].profile is ops[0].profile
    assert all(ops[i].profile is not ops[i - 1].profile for i in range(2, 6))
    assert ops[2].profile.properties == {"n": 1.0} and ops[3].profile.identifiers["external_id"] == "v"
    assert ops[4].profile.properties == {"n": 1.0, "plan": "pro"} and ops[5].profile.properties == {"n": 1.0}

    def capture(distinct, **props):
        return {"event": "E", "distinct_id": distinct, "properties": {"$set": {"email": "a@x.co"}, **props}}

    events = [capture("d"), capture("d", item="other"), capture("d", **{"$process_person_profile": False}),
              capture("e", **{"$process_person_profile": False}), {**capture("e"), "event": "$identify"}]
    ops, _ = posthog_capture.decode({"batch": events}, source, Limits(), now)
    assert ops[1].profile is ops[0].profile  # a property of the event alone is no profile input
    assert all(ops[i].profile is not ops[i - 1].profile for i in range(2, 5))
    assert [op.profile.identifiers for op in ops[1:]] == [
        {"external_id": "d", "email": "a@x.co"}, {"anonymous_id": "d", "email": "a@x.co"},
        {"anonymous_id": "e", "email": "a@x.co"}, {"external_id": "e", "email": "a@x.co"}]


def test_a_batch_repeating_one_context_holds_one_context_object():
    """Segment messages keeping the same context share one `$context` dict (wire/sources.SharedContexts),
    checked once; one that differs, even only in a JSON type, keeps its own, and is checked: a context
    nested too deep is refused with its message's place whether or not one before it was shared."""
    import msgspec

    from footfall.domain.limits import Limits
    from footfall.refusals import LimitExceeded
    from footfall.wire import segment_spec
    from footfall.wire.sources import Source

    source, now, limits = Source("a", "k", "test"), time.time(), Limits()

    def track(library, **props):
        return {"type": "track", "userId": "u", "event": "E", "properties": props,
                "context": {"library": library, "traits": {"email": "a@x.co"}}}

    batch = [track({"name": "js", "v": 1}), track({"name": "js", "v": 1}, item="x"),
             track({"name": "js", "v": 1.0}), track({"name": "js", "v": 1.0})]
    ops, _ = segment_spec.decode_batch({"batch": batch}, source, limits, now, body_bytes=1000)
    contexts = [op.event.properties["$context"] for op in ops]
    assert contexts[1] is contexts[0] and contexts[2] is not contexts[1] and contexts[3] is contexts[2]
    assert [msgspec.json.encode(c) for c in contexts] == [b'{"library":{"name":"js","v":1}}'] * 2 + [
        b'{"library":{"name":"js","v":1.0}}'] * 2
    assert list(ops[1].event.properties) == ["item", "$context", "$source"]  # the stored order, as before

    deep: dict = {"name": "js"}
    for _ in range(limits.max_depth):
        deep = {"in": deep}
    for bad in ([track(deep)], [track({"name": "js"}), track({"name": "js"}), track(deep)],
                [track({"name": "js"}), track({"name": "js"}, item=deep)]):
        with pytest.raises(LimitExceeded) as refused:
            segment_spec.decode_batch({"batch": bad}, source, limits, now, body_bytes=1000)
        where = "$context.library" if bad[-1]["context"]["library"] is deep else "item"
        assert refused.value.path.startswith(f"batch[{len(bad) - 1}].properties.{where}"), refused.value.path


def test_a_settled_source_batch_result_still_counts_its_events():
    """Settled to what crosses back to the server, it keeps what the ingest metrics count."""
    from footfall.domain.models import WriteResult
    from footfall.domain.operations import SourceBatchResult

    result = SourceBatchResult(results=[WriteResult("p1", "e1"), WriteResult("p1", "e2", duplicate=True),
                                        WriteResult("p2"), WriteResult("", dropped=True), WriteResult("p2", "e3")])
    result.settle()
    assert (result.events_stored, result.events_duplicate, result.profile_ids) == (2, 1, ["p1", "p2"])
    assert result.results == []


def test_a_batch_of_runs_counts_and_announces_every_event_in_message_order(database_url, account):
    """Runs of one person's messages (their events stored together, store/track_writes.EventsAgain)
    between other people's, with a duplicate inside a run: the batch's result, the counters and the
    outbox say what each message did, in the batch's order, as one message at a time would."""
    from footfall import clock
    from footfall.domain.limits import Limits
    from footfall.domain.operations import SourceBatchOp
    from footfall.store import batch, db
    from footfall.wire import segment_spec
    from footfall.wire.sources import Source

    def track(user: str, message_id: str) -> dict:
        return {"type": "track", "userId": user, "event": "Ran", "messageId": message_id,
                "context": {"traits": {"email": f"{user}@example.com"}}}

    source, limits = Source(account.id, "key", "test"), Limits()
    first = [track("a", "m0")]
    body = [track("a", "m1"), track("a", "m2"), track("a", "m0"), track("b", "m3"), track("b", "m4"),
            {"type": "identify", "userId": "b"}, track("b", "m5"), track("a", "m6")]
    conn = db.connect(database_url)
    try:
        for messages in (first, body):
            ops, paths = segment_spec.decode_batch({"batch": messages}, source, limits, clock.now())
            conn.begin()
            [result] = batch.apply_batch(conn, [SourceBatchOp(account.id, ops, paths)], limits)
            conn.commit()
        assert (result.events_stored, result.events_duplicate) == (6, 1)
        assert len(result.profile_ids) == 2 and result.results == []
        counters = dict(conn.all("SELECT name, value FROM counters WHERE account_id = ?", (account.id,)))
        assert (counters["events_stored"], counters["events_duplicate"]) == (7, 1)
        announced = conn.all("SELECT id FROM outbox WHERE account_id = ? AND topic = 'event:ran' ORDER BY position",
                             (account.id,))
        stored = dict(conn.all("SELECT id, unique_id FROM events WHERE account_id = ?", (account.id,)))
    finally:
        conn.close()
    assert [stored[event_id] for (event_id,) in announced] == ["m0", "m1", "m2", "m3", "m4", "m5", "m6"]
