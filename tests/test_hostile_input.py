"""Malformed or hostile requests get `0` (or a 4xx), never a 500, and nothing of them is stored."""

from __future__ import annotations

import base64
import json

import pytest

from tests.legacy_calls import b64, order

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
DEEP = "[" * 20_000 + "]" * 20_000  # far deeper than any parser recurses; still fits a URL


def raw_b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def get_cases(account) -> dict[str, str]:
    """?data= values that must be refused."""
    good = b64(order(account))
    token = json.dumps(account.public_key)
    return {
        "truncated base64": good[:-3],
        "base64 of truncated JSON": raw_b64(json.dumps(order(account)).encode()[:-10]),
        "not base64 at all": "%%%not*base64!!",
        "empty": "",
        "invalid UTF-8": raw_b64(b'{"token": "\xff\xfe", "event": "x"}'),
        "JSON array": b64([order(account)]),
        "JSON string": b64("hello"),
        "JSON number": b64(5),
        "JSON null": b64(None),
        "NaN": raw_b64(b'{"token": ' + token.encode() + b', "event": "x", "time": NaN, '
                       b'"customer_properties": {"$email": "a@example.com"}}'),
        "Infinity value": raw_b64(b'{"token": ' + token.encode() + b', "event": "x", '
                                  b'"properties": {"$value": Infinity}, "customer_properties": {"$email": "a@example.com"}}'),
        "huge number": raw_b64(b'{"token": ' + token.encode() + b', "event": "x", "time": 1e400, '
                               b'"customer_properties": {"$email": "a@example.com"}}'),
        "deeply nested": raw_b64(('{"token": ' + token + ', "event": "x", "properties": {"a": ' + DEEP + '}}').encode()),
        "lone surrogate": raw_b64(b'{"token": ' + token.encode() + b', "event": "\\ud800", '
                                  b'"customer_properties": {"$email": "a@example.com"}}'),
    }


def wrong_types(account) -> dict[str, dict]:
    """Well-formed JSON with the wrong shapes."""
    return {
        "token not a string": order(account, token=123456),
        "no token": {k: v for k, v in order(account).items() if k != "token"},
        "event not a string": order(account, event=["Ordered"]),
        "empty event": order(account, event="  "),
        "event name too long": order(account, event="E" * 129),
        "customer_properties a string": order(account, customer_properties="ann@example.com"),
        "properties a list": order(account, properties=[1, 2]),
        "email a number": order(account, customer_properties={"$email": 12345}),
        "email malformed": order(account, customer_properties={"$email": "ann at example"}),
        "first name an object": order(account, customer_properties={"$email": "a@example.com", "$first_name": {}}),
        "consent a number": order(account, customer_properties={"$email": "a@example.com", "$consent": 1}),
        "latitude not a number": order(account, customer_properties={"$email": "a@example.com", "$latitude": "north"}),
        "event_id an object": order(account, properties={"$event_id": {"id": 1}}),
        "NUL in a property": order(account, properties={"note": "a\u0000b"}),
        "NUL in a property name": order(account, properties={"no\u0000te": "x"}),
        "NUL in an attribute": order(account, customer_properties={"$email": "a@example.com", "$first_name": "A\u0000"}),
        "NUL in the event name": order(account, event="Ordered\u0000"),
        "NUL in the id": order(account, customer_properties={"$id": "c\u00001"}),
        "NUL in the token": order(account, token="AB\u0000CD"),
    }


def test_malformed_get_data_is_refused(client, account, stored):
    for case, data in get_cases(account).items():
        r = client.get("/api/track", params={"data": data, "verbose": "1"})
        assert r.status_code == 200, (case, r.status_code, r.text)
        assert r.json()["status"] == 0 and r.json()["error"], case
    assert stored.events() == [] and stored.profiles() == []


def test_wrong_types_are_refused_with_the_path(client, account, stored):
    for case, payload in wrong_types(account).items():
        r = client.post("/api/track", json=payload, params={"verbose": "1"})
        assert r.status_code == 200, (case, r.status_code, r.text)
        assert r.json()["status"] == 0, (case, r.text)
    assert stored.events() == [] and stored.profiles() == []


@pytest.mark.parametrize("body, content_type", [
    (b"", "application/x-www-form-urlencoded"),
    (b"verbose=1", "application/x-www-form-urlencoded"),
    (b"data=%7B%22token%22", "application/x-www-form-urlencoded"),
    (b'data={"token": "x", "event": ' + DEEP.encode() + b"}", "application/x-www-form-urlencoded"),
    (b'{"a": ' + DEEP.encode() + b"}", "application/json"),
    (b'data={"token": \xff}', "application/x-www-form-urlencoded"),
    (b'{"token": "\xff"}', "application/json"),
    (b"data=" + b"A" * 5, "application/x-www-form-urlencoded"),
    (b"[1, 2, 3]", "application/json"),
    (b"not json", "application/json"),
    (b"\x00\x01\x02", "application/octet-stream"),
], ids=["empty", "no data field", "truncated", "deep raw", "deep json", "invalid utf-8 form",
        "invalid utf-8 json", "bad base64", "array", "not json", "binary"])
def test_malformed_post_bodies_are_refused(client, account, stored, body, content_type):
    r = client.post("/api/track", content=body, headers={"Content-Type": content_type}, params={"verbose": "1"})
    assert r.status_code == 200, r.text
    assert r.json()["status"] == 0 and r.json()["error"]


def test_a_get_without_data_is_zero(client):
    r = client.get("/api/identify")
    assert (r.status_code, r.text) == (200, "0")


def test_plain_answer_to_garbage_is_zero(client, account, stored):
    r = client.get("/api/track", params={"data": "garbage"})
    assert (r.status_code, r.text) == (200, "0")
    r = client.post("/api/identify", content=b"data=garbage", headers=FORM)
    assert (r.status_code, r.text) == (200, "0")
