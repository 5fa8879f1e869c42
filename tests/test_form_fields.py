"""wire/form_fields reads forms and query strings exactly as urllib's parse_qsl does."""

import json
import random
from urllib.parse import parse_qsl, quote

import pytest

from footfall.wire import form_fields


def reference(text: str) -> dict[str, str]:
    return dict(parse_qsl(text, keep_blank_values=True))


@pytest.mark.parametrize("text", [
    "", "&", "a", "a=", "=x", "a=1&&b=2", "a=1&a=2", "a+b=c+d", "data=%7B%22k%22%3A1%7D", "x=%zz", "x=%4", "x=%",
    "x=%e2%82%ac", "x=%E2%82", "x=%ff%fe", "x=\\x41", "x=\\%41", "x=%5C%78%34%31", "x=é%C3%A9", "x=%00", "a;b=c",
    "data=" + quote(json.dumps({"token": "T", "event": "Ordered", "properties": {"$value": 9.5, "s": "a&b=c+d%"}})),
])
def test_same_as_parse_qsl(text: str) -> None:
    assert form_fields.parse(text) == reference(text)


def test_same_as_parse_qsl_on_random_forms() -> None:
    rng = random.Random(7)
    pieces = ["a", "b", "=", "&", "%", "+", "2", "F", "g", "\\", "é", "%41", "%e2%82%ac", "%zz", "%4", ";", " ",
              "%00", "%ff", "\\x41", "\\n", "\ud800", "€", "%5c"]
    for _ in range(100_000):
        text = "".join(rng.choice(pieces) for _ in range(rng.randint(0, 24)))
        assert form_fields.parse(text) == reference(text), repr(text)


def test_a_latin_1_query_string_as_starlette_reads_it() -> None:
    query = "data=eyJ0b2tlbiI6IlQifQ%3D%3D&verbose=1&name=%C3%A9t%C3%A9".encode().decode("latin-1")
    assert form_fields.parse(query) == reference(query) == {"data": "eyJ0b2tlbiI6IlQifQ==", "verbose": "1", "name": "été"}
