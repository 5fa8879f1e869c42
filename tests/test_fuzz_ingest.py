"""Hostile input over real HTTP on every ingest route: never a 5xx, never a partial write.

Hypothesis mutates valid legacy and JSON:API payloads (wrong types, huge strings, deep nesting,
NaN/Infinity, negative and enormous times, duplicate keys) and breaks their encoding (bad base64,
invalid UTF-8, truncation). After each request: no 5xx; a request that was not acknowledged left
no rows for the account. After each route: /healthz is still 200. A route that is not served (404/405)
fails: a deleted route must not pass as a skip. FOOTFALL_FUZZ_EXAMPLES sets examples per route (default 40).
"""

from __future__ import annotations

import base64
import gzip
import json
import os
import uuid
from dataclasses import dataclass
from typing import Any, Callable
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from bench.routes import REVISION, bulk_document, modern_event, route_missing
from tests.servers import row_counts
from tests.sources_helpers import made_write_key as write_key

EXAMPLES = int(os.environ.get("FOOTFALL_FUZZ_EXAMPLES", "40"))


# -- hostile values -------------------------------------------------------------------------------

def _nested(depth: int) -> Any:
    value: Any = "deep"
    for n in range(depth):
        value = {"k": value} if n % 2 else [value]
    return value


TIMES = st.sampled_from([-1, 0, -1e20, 2**63, 2**70, 1e300, 946684799, 99999999999, "1700000000", "abc", "", "-5",
                         "2023-01-01T00:00:00", "9999-12-31T23:59:59Z", "0000-00-00", 1700000000.5, True])
SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=40),
    st.sampled_from(["\x00", "\ud800", "é" * 10, "<script>", "'; DROP TABLE events; --", "%s%s%n", "$email"]),
)
HOSTILE = st.one_of(
    SCALARS,
    TIMES,
    st.builds(lambda n: "x" * n, st.sampled_from([100_001, 300_000])),  # over the 100 KB string limit
    st.builds(_nested, st.integers(min_value=8, max_value=60)),  # over the nesting limit
    st.builds(lambda n: list(range(n)), st.sampled_from([4001, 5000])),  # over the array limit
    st.builds(lambda n: {f"p{i}": i for i in range(n)}, st.sampled_from([401, 600])),  # too many properties
    st.lists(SCALARS, max_size=4),
    st.dictionaries(st.text(max_size=8), SCALARS, max_size=4),
)


def _paths(doc: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(doc, dict):
        for k, v in doc.items():
            found += _paths(v, prefix + (k,))
    elif isinstance(doc, list):
        for i, v in enumerate(doc):
            found += _paths(v, prefix + (i,))
    return found


def _set(doc: Any, path: tuple, value: Any, delete: bool) -> Any:
    if not path:
        return value
    parent = doc
    for key in path[:-1]:
        parent = parent[key]
    if delete:
        del parent[path[-1]]
    else:
        parent[path[-1]] = value
    return doc


@st.composite
def mutated(draw, base: Callable[[], Any]) -> Any:
    """A valid document with 0-3 places replaced by hostile values, deleted, or given extra keys."""
    doc = base()
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        paths = _paths(doc)
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if action == "delete" and path:
            doc = _set(doc, path, None, delete=True)
        elif action == "add" and isinstance(_get(doc, path), dict):
            _get(doc, path)[draw(st.text(max_size=12))] = draw(HOSTILE)
        else:
            doc = _set(doc, path, draw(HOSTILE), delete=False)
    return doc


def _get(doc: Any, path: tuple) -> Any:
    for key in path:
        doc = doc[key]
    return doc


@st.composite
def encoded(draw, doc: Any) -> bytes:
    """The document as JSON text, sometimes broken: duplicate keys, bad UTF-8, truncated, NaN."""
    text = json.dumps(doc, allow_nan=True, ensure_ascii=draw(st.booleans()))
    raw = text.encode("utf-8", "surrogatepass")
    how = draw(st.sampled_from(["plain", "plain", "plain", "dup-key", "bad-utf8", "truncate", "garbage"]))
    if how == "dup-key" and text.startswith("{") and len(text) > 2:
        raw = (text[:-1] + ', "event": {"dup": 1}, "data": 5}').encode("utf-8", "surrogatepass")
    elif how == "bad-utf8":
        cut = draw(st.integers(min_value=0, max_value=len(raw)))
        raw = raw[:cut] + draw(st.sampled_from([b"\xff", b"\xc3\x28", b"\xed\xa0\x80", b"\x80"])) + raw[cut:]
    elif how == "truncate":
        raw = raw[: draw(st.integers(min_value=0, max_value=max(len(raw) - 1, 0)))]
    elif how == "garbage":
        raw = draw(st.binary(max_size=64))
    return raw


# -- routes ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    name: str
    method: str
    path: str
    base: Callable[[Any], Any]  # account -> a valid document
    to_request: Callable[[Any, bytes, Any], dict]  # (account, body bytes, draw) -> httpx.request kwargs
    acked: Callable[[httpx.Response], bool]
    write_key: bool = False  # the route takes a write key (Segment / PostHog wires): one is made per test


def _legacy_doc(account) -> dict:
    n = uuid.uuid4().hex[:12]
    return {"token": account.public_key, "event": "Fuzzed", "time": 1700000000,
            "customer_properties": {"$email": f"f{n}@example.com", "$first_name": "F", "$phone_number": "+14155550100"},
            "properties": {"$event_id": f"e{n}", "$value": 9.5, "items": [{"sku": "a"}]}}


def _identify_doc(account) -> dict:
    return {"token": account.public_key, "properties": {"$email": f"i{uuid.uuid4().hex[:12]}@example.com",
                                                        "$city": "Oslo", "plan": "pro"}}


def _legacy_get(account, raw: bytes, draw) -> dict:
    how = draw(st.sampled_from(["b64", "b64url", "raw", "bad-b64"]))
    if how == "b64":
        data = base64.b64encode(raw).decode()
    elif how == "b64url":
        data = base64.urlsafe_b64encode(raw).decode().rstrip("=")
    elif how == "raw":
        data = raw.decode("utf-8", "replace")
    else:
        data = draw(st.text(alphabet="ABCxyz019+/=_-!*@ ", min_size=1, max_size=40))
    assume(len(quote(data)) < 60_000)  # httpx refuses longer URLs; huge payloads are fuzzed via POST
    return {"params": {"data": data}}


def _legacy_form(account, raw: bytes, draw) -> dict:
    encode_b64 = draw(st.booleans())
    value = base64.b64encode(raw).decode() if encode_b64 else quote(raw, safe="")
    return {"content": b"data=" + value.encode(), "headers": {"content-type": "application/x-www-form-urlencoded"}}


def _legacy_json(account, raw: bytes, draw) -> dict:
    return {"content": raw, "headers": {"content-type": "application/json"}}


def _client(account, raw: bytes, draw) -> dict:
    return {"content": raw, "params": {"company_id": account.public_key},
            "headers": {"revision": REVISION, "content-type": "application/vnd.api+json"}}


def _server(account, raw: bytes, draw) -> dict:
    return {"content": raw, "headers": {"revision": REVISION, "content-type": "application/vnd.api+json",
                                        "authorization": f"Klaviyo-API-Key {account.private_key}"}}


def _legacy_ok(r: httpx.Response) -> bool:
    return r.status_code == 200 and r.text.strip() == "1"


def _modern_ok(r: httpx.Response) -> bool:
    return 200 <= r.status_code < 300


def _event_doc(account) -> dict:
    from bench.routes import random_event
    return {"data": modern_event(random_event(f"u{uuid.uuid4().hex[:12]}"))}


def _bulk_doc(account) -> dict:
    from bench.routes import random_event
    return bulk_document([random_event(f"b{uuid.uuid4().hex[:12]}-{i}") for i in range(3)])


def _profile_doc(account) -> dict:
    return {"data": {"type": "profile", "attributes": {
        "email": f"p{uuid.uuid4().hex[:12]}@example.com", "first_name": "P",
        "location": {"city": "Oslo", "latitude": 59.9}, "properties": {"plan": "pro"}}}}


def _bulk_job_doc(account) -> dict:
    from bench.routes import random_event
    entry = bulk_document([random_event(f"j{uuid.uuid4().hex[:12]}")])["data"]
    return {"data": {"type": "event-bulk-create-job", "attributes": {"events-bulk-create": {"data": [entry]}}}}


# Segment-spec and PostHog wires: the write key made for the test is in WRITE_KEYS[account.id].
WRITE_KEYS: dict[str, str] = {}


def _segment_doc(account) -> dict:
    n = uuid.uuid4().hex[:12]
    return {"batch": [
        {"type": "identify", "userId": f"u{n}", "anonymousId": f"a{n}", "messageId": f"i{n}",
         "traits": {"email": f"s{n}@example.com", "firstName": "S", "address": {"city": "Oslo"}}},
        {"type": "track", "userId": f"u{n}", "event": "Fuzzed", "messageId": f"t{n}",
         "timestamp": "2026-01-01T00:00:00.000Z", "properties": {"revenue": 9.5, "currency": "usd"},
         "context": {"ip": "203.0.113.1", "page": {"url": "https://x.example"}}},
        {"type": "alias", "userId": f"u{n}", "previousId": f"p{n}"},
    ], "sentAt": "2026-01-01T00:00:01.000Z"}


def _posthog_doc(account) -> dict:
    n = uuid.uuid4().hex[:12]
    return {"batch": [
        {"event": "$identify", "distinct_id": f"u{n}", "properties": {"$anon_distinct_id": f"a{n}",
                                                                     "$set": {"email": f"h{n}@example.com"}}},
        {"event": "Fuzzed", "distinct_id": f"u{n}", "uuid": str(uuid.uuid4()), "timestamp": "2026-01-01T00:00:00Z",
         "properties": {"revenue": 3, "$set_once": {"first": 1}}},
    ], "sent_at": "2026-01-01T00:00:02Z"}


def _segment(account, raw: bytes, draw) -> dict:
    headers = {"content-type": "application/json"}
    if draw(st.booleans()):
        raw, headers["content-encoding"] = gzip.compress(raw), "gzip"
    return {"content": raw, "auth": (WRITE_KEYS[account.id], ""), "headers": headers}


def _posthog(account, raw: bytes, draw) -> dict:
    how = draw(st.sampled_from(["json", "gzip", "gzip-js", "base64", "form"]))
    params = {"token": WRITE_KEYS[account.id]}
    if how == "gzip":
        return {"content": gzip.compress(raw), "params": params, "headers": {"content-encoding": "gzip"}}
    if how == "gzip-js":
        return {"content": gzip.compress(raw), "params": {**params, "compression": "gzip-js"}}
    if how == "base64":
        return {"content": base64.b64encode(raw), "params": params}
    if how == "form":
        return {"content": b"data=" + quote(base64.b64encode(raw)).encode(), "params": params,
                "headers": {"content-type": "application/x-www-form-urlencoded"}}
    return {"content": raw, "params": params, "headers": {"content-type": "application/json"}}


def _source_ok(r: httpx.Response) -> bool:
    return r.status_code == 200


TARGETS = [
    Target("track GET", "GET", "/api/track", _legacy_doc, _legacy_get, _legacy_ok),
    Target("track POST form", "POST", "/api/track", _legacy_doc, _legacy_form, _legacy_ok),
    Target("track POST json", "POST", "/api/track", _legacy_doc, _legacy_json, _legacy_ok),
    Target("identify GET", "GET", "/api/identify", _identify_doc, _legacy_get, _legacy_ok),
    Target("identify POST form", "POST", "/api/identify", _identify_doc, _legacy_form, _legacy_ok),
    Target("client events", "POST", "/client/events", _event_doc, _client, _modern_ok),
    Target("client profiles", "POST", "/client/profiles", _profile_doc, _client, _modern_ok),
    Target("client bulk create", "POST", "/client/event-bulk-create", _bulk_doc, _client, _modern_ok),
    Target("server events", "POST", "/api/events", _event_doc, _server, _modern_ok),
    Target("server profiles", "POST", "/api/profiles", _profile_doc, _server, _modern_ok),
    Target("profile import", "POST", "/api/profile-import", _profile_doc, _server, _modern_ok),
    Target("event bulk jobs", "POST", "/api/event-bulk-create-jobs", _bulk_job_doc, _server, _modern_ok),
    Target("segment batch", "POST", "/v1/batch", _segment_doc, _segment, _source_ok, write_key=True),
    Target("segment track", "POST", "/v1/track", lambda a: _segment_doc(a)["batch"][1], _segment, _source_ok,
           write_key=True),
    Target("segment identify", "POST", "/v1/identify", lambda a: _segment_doc(a)["batch"][0], _segment, _source_ok,
           write_key=True),
    Target("posthog batch", "POST", "/batch/", _posthog_doc, _posthog, _source_ok, write_key=True),
    Target("posthog e", "POST", "/e/", lambda a: _posthog_doc(a)["batch"], _posthog, _source_ok, write_key=True),
    Target("posthog capture", "POST", "/capture/", lambda a: _posthog_doc(a)["batch"][1], _posthog, _source_ok,
           write_key=True),
]


@pytest.mark.parametrize("target", TARGETS, ids=[t.name for t in TARGETS])
def test_fuzz_route(target: Target, client, account, database_url):
    probe = client.request(target.method, target.path, content=b"{}" if target.method == "POST" else None)
    assert not route_missing(probe), f"{target.method} {target.path} is not served ({probe.status_code})"
    if target.write_key:
        WRITE_KEYS[account.id] = write_key(database_url, account)["key"]
    seen: dict[str, int] = {"requests": 0, "acked": 0}

    @settings(max_examples=EXAMPLES, deadline=None, derandomize=not os.environ.get("FOOTFALL_FUZZ_EXAMPLES"),
              suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                     HealthCheck.data_too_large, HealthCheck.large_base_example,
                                     HealthCheck.filter_too_much])
    @given(data=st.data())
    def run(data) -> None:
        doc = data.draw(mutated(lambda: target.base(account)))
        raw = data.draw(encoded(doc))
        kwargs = target.to_request(account, raw, data.draw)
        before = row_counts(database_url, account.id)
        r = client.request(target.method, target.path, **kwargs)
        seen["requests"] += 1
        assert r.status_code < 500 or r.status_code == 503 and "retry-after" in r.headers, \
            f"{r.status_code} {r.text[:300]}"
        assert r.status_code != 503, f"503 without an outage: {r.text[:200]}"
        if target.acked(r):
            seen["acked"] += 1
        else:
            assert row_counts(database_url, account.id) == before, f"refused ({r.status_code} {r.text[:200]}) but rows were stored"

    run()
    assert client.get("/healthz").status_code == 200, "server unhealthy after the fuzz run"
    print(f"[fuzz] {target.name}: {seen['requests']} requests, {seen['acked']} acknowledged, 0 5xx")

