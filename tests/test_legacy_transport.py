"""Every way a client gets its JSON to /api/track and /api/identify, and how it is answered.

Each test runs against a real server on SQLite and on PostgreSQL.
"""

from __future__ import annotations

import base64
import json
import struct
from urllib.parse import quote, urlencode

from hypothesis import given, settings, strategies as st

from footfall.wire import legacy_transport
from tests.legacy_calls import b64, order, track

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
# JSON whose base64 holds both `+` and `/`, so alphabet and `+`-as-space handling are exercised.
AWKWARD = {"note": "???>>>~~~", "more": "ÿÿÿ>>>"}


def test_get_with_standard_base64(client, account, stored):
    r = client.get("/api/track", params={"data": b64(order(account))})
    assert (r.status_code, r.text) == (200, "1")
    [event] = stored.events()
    assert event["metric"] == "Ordered Product" and event["properties"]["item_name"] == "Boots"


def test_get_with_url_safe_base64_without_padding(client, account, stored):
    payload = order(account, properties=AWKWARD)
    data = b64(payload, urlsafe=True, padding=False)
    assert "-" in data and "_" in data and len(data) % 4 != 0
    assert client.get("/api/track", params={"data": data}).text == "1"
    assert stored.events()[0]["properties"] == AWKWARD


def test_get_whose_plus_signs_arrived_as_spaces(client, account, stored):
    data = b64(order(account, properties=AWKWARD))
    assert "+" in data
    # The client did not URL-encode the value: its `+` reaches the server as a space.
    r = client.get(f"/api/track?data={data}")
    assert r.text == "1"
    assert stored.events()[0]["properties"] == AWKWARD


def test_get_ignores_extra_parameters_such_as_test(client, account, stored):
    r = client.get("/api/track", params={"data": b64(order(account)), "test": "1", "utm_source": "x"})
    assert r.text == "1"
    assert len(stored.events()) == 1


def test_get_with_i_1_answers_a_transparent_pixel(client, account, stored):
    r = client.get("/api/track", params={"data": b64(order(account)), "i": "1"})
    assert r.status_code == 200 and r.headers["content-type"] == "image/gif"
    gif = r.content
    assert gif[:6] in (b"GIF87a", b"GIF89a")
    assert struct.unpack("<HH", gif[6:10]) == (1, 1)
    # Graphic Control Extension with the transparency flag set.
    gce = gif.index(b"\x21\xf9\x04")
    assert gif[gce + 3] & 1 == 1
    assert len(stored.events()) == 1


def test_post_form_field_with_url_encoded_json(client, account, stored):
    # What the Python SDK sends with method='post'.
    body = "data=" + quote(json.dumps(order(account)))
    r = client.post("/api/track", content=body, headers={**FORM, "Accept": "text/html"})
    assert (r.status_code, r.text) == (200, "1")
    assert stored.events()[0]["value"] == 100


def test_post_raw_json_as_curl_data_sends_it_even_with_ampersand_plus_and_percent(client, account, stored):
    props = {"title": "Salt & Pepper", "formula": "1+1=2", "discount": "20% off", "path": "a=b&c=d"}
    body = "data=" + json.dumps(order(account, properties=props))
    r = client.post("/api/track", content=body, headers=FORM)
    assert r.text == "1"
    assert stored.events()[0]["properties"] == props


def test_post_raw_json_followed_by_other_form_fields(client, account):
    body = "data=" + json.dumps(order(account, properties={"a": "x&verbose=0"})) + "&verbose=1"
    r = client.post("/api/track", content=body, headers=FORM)
    assert r.json()["status"] == 1


def test_post_form_field_with_base64_json(client, account, stored):
    payload = order(account, properties=AWKWARD)
    assert client.post("/api/track", content=urlencode({"data": b64(payload)}), headers=FORM).text == "1"
    # Unencoded base64 in a form: its `+` decode to spaces under form rules, and are put back.
    assert client.post("/api/track", content="data=" + b64({**payload, "time": 1_700_000_001}),
                       headers=FORM).text == "1"
    assert [e["properties"] for e in stored.events()] == [AWKWARD, AWKWARD]


def test_post_json_body(client, account, stored):
    r = client.post("/api/track", json=order(account))
    assert r.text == "1"
    assert len(stored.events()) == 1


def test_identify_accepts_the_same_encodings(client, account, stored):
    payload = {"token": account.public_key, "properties": {"$email": "ann@example.com", "$first_name": "Ann"}}
    assert client.get("/api/identify", params={"data": b64(payload)}).text == "1"
    assert client.post("/api/identify", content="data=" + quote(json.dumps(payload)), headers=FORM).text == "1"
    assert client.post("/api/identify", json=payload).text == "1"
    [profile] = stored.profiles()
    assert profile["first_name"] == "Ann"


def test_trailing_slash_is_the_same_route(client, account, stored):
    assert client.get("/api/track/", params={"data": b64(order(account))}).text == "1"
    assert len(stored.events()) == 1


def test_verbose_in_query_explains_success(client, account, stored):
    r = client.get("/api/track", params={"data": b64(order(account)), "verbose": "1"})
    body = r.json()
    [event] = stored.events()
    assert body == {"status": 1, "profile_id": event["profile_id"], "event_id": event["id"],
                    "duplicate": False, "warnings": []}


def test_verbose_as_form_field(client, account):
    body = urlencode({"data": json.dumps(order(account)), "verbose": "1"})
    r = client.post("/api/track", content=body, headers=FORM)
    assert r.json()["status"] == 1


def test_verbose_refusal_says_what_and_where(client, account, stored):
    r = client.get("/api/track", params={"data": b64(order(account, time="yesterday")), "verbose": "1"})
    assert r.status_code == 200
    assert r.json() == {"status": 0, "error": "time: 'yesterday' is not a number of epoch seconds"}
    assert stored.events() == []


def test_unknown_token_is_zero_and_nothing_is_stored(client, account, stored):
    r = track(client, order(account, token="NOSUCH"))
    assert (r.status_code, r.text) == (200, "0")
    assert stored.events() == [] and stored.profiles() == []


def test_oversized_body_is_413(client, account, stored):
    payload = order(account, properties={"blob": ["x" * 1000] * 1100})  # about 1.1 MB of JSON
    r = client.post("/api/track", json=payload, params={"verbose": "1"})
    assert r.status_code == 413
    assert r.json()["status"] == 0 and "larger than 1048576 bytes" in r.json()["error"]
    assert stored.events() == []


def test_cors_preflight_is_allowed_from_any_origin(client):
    for route in ("/api/track", "/api/identify"):
        r = client.options(route, headers={"Origin": "https://shop.example", "Access-Control-Request-Method": "POST",
                                           "Access-Control-Request-Headers": "content-type"})
        assert r.status_code == 200
        assert r.headers["access-control-allow-origin"] in ("*", "https://shop.example")
        assert "POST" in r.headers["access-control-allow-methods"]
        assert "content-type" in r.headers["access-control-allow-headers"].lower()


def test_cors_header_on_answers_to_browsers(client, account):
    r = client.get("/api/track", params={"data": b64(order(account))}, headers={"Origin": "https://shop.example"})
    assert r.text == "1"
    assert r.headers["access-control-allow-origin"] == "*"
    r = client.post("/api/identify", json={"token": account.public_key, "properties": {"$email": "a@example.com"}},
                    headers={"Origin": "https://shop.example"})
    assert r.text == "1" and r.headers["access-control-allow-origin"] == "*"


# -- the decoder alone: every encoding of any JSON object gives that object back ---------------------

# No NUL characters: they are refused on purpose (PostgreSQL cannot store them).
TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"))
JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=150, deadline=None)
@given(st.dictionaries(TEXT, JSON, max_size=5))
def test_every_encoding_of_an_object_decodes_to_it(obj):
    text = json.dumps(obj, ensure_ascii=False)
    std = base64.b64encode(text.encode()).decode()
    url_safe = base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")
    assert legacy_transport.decode_data(std) == obj
    assert legacy_transport.decode_data(std.replace("+", " ")) == obj  # `+` arrived as a space
    assert legacy_transport.decode_data(url_safe) == obj
    form = "application/x-www-form-urlencoded"
    assert legacy_transport.from_body(("data=" + quote(text)).encode(), form) == (obj, {"data": text})
    assert legacy_transport.from_body(urlencode({"data": text, "verbose": "1"}).encode(), form)[0] == obj
    assert legacy_transport.from_body(("data=" + text + "&verbose=1").encode(), form) == (obj, {"verbose": "1"})
    assert legacy_transport.from_body(text.encode(), "application/json") == (obj, {})
