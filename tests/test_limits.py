"""Every ingestion limit refuses the whole payload with a clear reason, and stores nothing of it.

Most tests use a server with small limits (the defaults would make them slow); a few show the
defaults on the ordinary server.
"""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest

from footfall.config import Settings, from_env
from footfall.domain.limits import Limits
from tests.legacy_calls import b64, order, track
from tests.servers import ServerThread, server_settings

SMALL = Limits(max_metrics_per_account=3, legacy_payload_bytes=2048, max_properties=5,
               max_string_bytes=64, max_array_items=4, max_depth=3)


@pytest.fixture(scope="module")
def small_server(database_url):
    srv = ServerThread(server_settings(database_url=database_url, limits=SMALL)).start()
    yield srv
    srv.stop()


@pytest.fixture
def small(small_server):
    import httpx

    with httpx.Client(base_url=small_server.url, timeout=30) as c:
        yield c


def nested(levels: int) -> dict:
    """Event properties whose deepest container is `levels` deep (the properties object is level 1)."""
    value: object = "leaf"
    for _ in range(levels - 1):
        value = {"x": value}
    return {"x": value}


def refused(client, payload) -> str:
    r = client.post("/api/track", json=payload, params={"verbose": "1"})
    assert r.status_code == 200 and r.json()["status"] == 0, r.text
    return r.json()["error"]


def test_metrics_per_account(small, account, stored):
    for name in ("Viewed Page", "Added to Cart", "Ordered Product"):
        assert track(small, order(account, event=name)).text == "1"
    error = refused(small, order(account, "new@example.com", event="Refunded"))
    assert error == ("event: the account already has 3 metrics, the limit; "
                     "a new metric 'Refunded' cannot be created")
    assert len(stored.events()) == 3
    assert "new@example.com" not in {p["email"] for p in stored.profiles()}
    # Existing metrics still take events.
    assert track(small, order(account, event="Viewed Page", time=1_700_000_001)).text == "1"


def test_payload_size(small, account, stored):
    big = order(account, properties={"blob": "x" * 60, "more": ["y" * 60] * 4}, customer_properties={
        "$email": "a@example.com", **{f"k{i}": "z" * 60 for i in range(4)}})
    big["padding"] = "p" * 1500  # unknown key: ignored, but it still counts towards the size
    r = small.post("/api/track", json=big, params={"verbose": "1"})
    assert r.status_code == 413
    assert r.json() == {"status": 0, "error": "the request body is larger than 2048 bytes"}
    r = small.get("/api/track", params={"data": b64(big), "verbose": "1"})  # the same JSON by GET
    assert r.status_code == 413
    assert stored.events() == [] and stored.profiles() == []


def test_payload_size_is_measured_on_the_json_not_its_encoding(small, account, stored):
    # About 1.5 KB of JSON that URL-encoding triples: the body is over 2048 bytes, the payload is not.
    payload = order(account, properties={"a": "{}<>" * 15, "b": "&%#" * 15, "c": "[]" * 20, "d": "^`|" * 20})
    payload["note"] = "é" * 300
    body = "data=" + quote(json.dumps(payload))
    assert len(body) > 2048 and len(json.dumps(payload, ensure_ascii=False).encode()) < 2048
    assert small.post("/api/track", content=body,
                      headers={"Content-Type": "application/x-www-form-urlencoded"}).text == "1"
    assert len(stored.events()) == 1


def test_properties_per_event_and_per_profile(small, account, stored):
    props = {f"p{i}": i for i in range(6)}
    assert refused(small, order(account, properties=props)) == "properties: 6 properties, more than the limit of 5"
    customer = {"$email": "a@example.com", **{f"c{i}": i for i in range(5)}}
    assert refused(small, order(account, customer_properties=customer)) == (
        "customer_properties: 6 properties, more than the limit of 5")
    assert track(small, order(account, properties={f"p{i}": i for i in range(5)})).text == "1"
    assert len(stored.events()) == 1


def test_string_bytes(small, account, stored):
    assert refused(small, order(account, properties={"note": "€" * 22})) == (
        "properties.note: string of 66 bytes, more than the limit of 64")
    assert refused(small, order(account, customer_properties={"$email": "a@example.com", "bio": "b" * 65})) == (
        "customer_properties.bio: string of 65 bytes, more than the limit of 64")
    assert stored.events() == []
    assert track(small, order(account, properties={"note": "é" * 32})).text == "1"  # exactly 64 bytes


def test_array_items(small, account, stored):
    assert refused(small, order(account, properties={"items": [1, 2, 3, 4, 5]})) == (
        "properties.items: array of 5 items, more than the limit of 4")
    assert stored.events() == []
    assert track(small, order(account, properties={"items": [1, 2, 3, 4]})).text == "1"


def test_nesting_levels(small, account, stored):
    assert refused(small, order(account, properties=nested(4))) == (
        "properties.x.x.x: nested more than 3 levels deep")
    assert stored.events() == []
    assert track(small, order(account, properties=nested(3))).text == "1"


@pytest.mark.parametrize("ok, over", [
    ({f"p{i}": i for i in range(400)}, {f"p{i}": i for i in range(401)}),
    ({"s": "x" * 102_400}, {"s": "x" * 102_401}),
    ({"a": list(range(4000))}, {"a": list(range(4001))}),
    (nested(10), nested(11)),
], ids=["400 properties", "100 KB strings", "4000 array items", "10 levels"])
def test_default_limits(client, account, stored, ok, over):
    assert "more than" in refused(client, order(account, properties=over))
    assert stored.events() == []
    assert client.post("/api/track", json=order(account, properties=ok)).text == "1"


def test_limits_come_from_the_environment():
    settings = from_env({
        "FOOTFALL_MAX_METRICS": "7", "FOOTFALL_LEGACY_PAYLOAD_BYTES": "5000", "FOOTFALL_MAX_PROPERTIES": "9",
        "FOOTFALL_MAX_STRING_BYTES": "100", "FOOTFALL_MAX_ARRAY_ITEMS": "8", "FOOTFALL_MAX_DEPTH": "4",
    })
    assert settings.limits == Limits(max_metrics_per_account=7, legacy_payload_bytes=5000, max_properties=9,
                                     max_string_bytes=100, max_array_items=8, max_depth=4)
    assert from_env({}).limits == Limits()


def test_the_walk_takes_subclasses_of_the_json_types_as_those_types():
    """check_properties tests JSON's own types by identity first (domain/limits.py); a subclass, as a
    Python caller may pass, is still checked as the type it extends."""
    import enum

    from footfall.domain.limits import check_properties
    from footfall.refusals import InvalidInput, LimitExceeded

    class Text(str):
        pass

    class Level(enum.IntEnum):
        HIGH = 3

    check_properties({"level": Level.HIGH, "note": Text("fine"), "flag": True, "none": None}, SMALL)
    with pytest.raises(LimitExceeded, match="string of 65 bytes") as long:
        check_properties({"note": Text("b" * 65)}, SMALL)
    assert long.value.path == "properties.note"
    with pytest.raises(InvalidInput, match="NUL") as nul:
        check_properties({"deep": {"note": Text("a\x00b")}}, SMALL)
    assert nul.value.path == "properties.deep.note"


@pytest.mark.parametrize("props", [
    {"x": nested(3)["x"], "ok": "fine"},
    nested(4),
    {"a": [1, {"b": [{"c": 1}]}]},
    {"list": [[1, 2], [1, 2, 3, 4, 5]]},
    {"deep": [{"x": 1}, {"y": {"z": {"w": 1}}}]},
    {f"p{i}": i for i in range(6)},
], ids=["within", "4 levels", "a list 4 deep", "5 items in a list", "deep in a list", "6 properties"])
def test_a_check_of_strings_known_within_the_limits_refuses_the_rest_alike(props):
    """strings_checked (what the Segment / PostHog wires know of a small body) leaves out only the
    string checks: every other refusal is the full walk's, with the same text and place."""
    from footfall.domain.limits import check_properties
    from footfall.refusals import InvalidInput

    def outcome(**kwargs):
        try:
            check_properties(props, SMALL, "properties", **kwargs)
        except InvalidInput as exc:
            return type(exc), str(exc)
        return None

    assert outcome(strings_checked=True) == outcome()
    assert (outcome() is None) == (props == {"x": nested(3)["x"], "ok": "fine"})
