"""wire/modern_events: events it accepts are decoded without building the paths its refusals name,
and whatever an event holds, the answer is the one the checked decoding gives (the same Event, or
the same refusal naming the same place)."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bench.routes import bulk_document, modern_event, random_event
from footfall.domain.limits import Limits
from footfall.refusals import InvalidInput
from footfall.wire import modern_events

NOW = 1_700_000_000.0
LIMITS = Limits(max_properties=4, max_depth=3, max_array_items=3, max_string_bytes=40)


def _outcome(fn, *args) -> Any:
    try:
        return ("event", fn(*args))
    except InvalidInput as exc:
        return (type(exc).__name__, exc.detail, exc.path)


def test_a_valid_bulk_request_takes_no_checked_decoding(monkeypatch):
    checked = []
    real = modern_events._checked_event
    monkeypatch.setattr(modern_events, "_checked_event", lambda *a: checked.append(a) or real(*a))
    entry = modern_events.decode_client_bulk(bulk_document([random_event(f"e{i}") for i in range(100)]),
                                             Limits(), NOW)
    assert len(entry.events) == 100 and not checked
    assert entry.event_paths[7] == "data.attributes.events.data[7].attributes"
    bad = bulk_document([random_event(f"e{i}") for i in range(3)])
    bad["data"]["attributes"]["events"]["data"][2]["attributes"]["value"] = "12"
    with pytest.raises(InvalidInput) as refused:
        modern_events.decode_client_bulk(bad, Limits(), NOW)
    assert refused.value.path == "data.attributes.events.data[2].attributes.value" and len(checked) == 1


_scalar = st.one_of(st.none(), st.booleans(), st.integers(-10, 2_000_000_000), st.floats(allow_nan=True),
                    st.text(max_size=45), st.sampled_from(["USD", " eur ", "2024-05-01T12:00:00Z", "1700000000",
                                                          "2023-11-14T22:13:20.5+02:00", "__track_once__"]))
_json = st.recursive(_scalar, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                     st.dictionaries(st.text(max_size=6), inner, max_size=5)),
                     max_leaves=12)
_changes = st.dictionaries(st.sampled_from(["properties", "time", "value", "value_currency", "unique_id",
                                            "backfill", "metric", "profile", "other", "metric.data",
                                            "metric.data.type", "metric.data.attributes",
                                            "metric.data.attributes.name", "properties.__track_once__"]),
                           st.one_of(_scalar, _json, st.just("<delete>")), max_size=2)


def _changed(attrs: dict[str, Any], changes: dict[str, Any]) -> dict[str, Any]:
    attrs = copy.deepcopy(attrs)
    for where, value in changes.items():
        *parents, last = where.split(".")
        target: Any = attrs
        for part in parents:
            target = target.get(part) if isinstance(target, dict) else None
        if not isinstance(target, dict):
            continue
        if value == "<delete>":
            target.pop(last, None)
        else:
            target[last] = value
    return attrs


@settings(max_examples=600, deadline=None, derandomize=True)
@given(changes=_changes, extra=st.sampled_from([frozenset(), frozenset({"profile"})]))
def test_any_event_is_answered_as_the_checked_decoding_answers_it(changes, extra):
    attrs = modern_event(random_event("u-1"))["attributes"]
    if not extra:
        del attrs["profile"]
    attrs = _changed(attrs, changes)
    path = "data.attributes.events.data[0].attributes"
    fast = _outcome(modern_events._event, attrs, path, LIMITS, NOW, extra)
    assert fast == _outcome(modern_events._checked_event, attrs, path, LIMITS, NOW, extra)
