"""Commit messages to the writer process (ingest/writer_process.encode_commit): a group of track
operations travels as msgpack and arrives equal, field types included; anything msgpack would not
carry as sent travels pickled; a group the writer cannot read as msgpack is sent again pickled."""

from __future__ import annotations

import functools
from dataclasses import fields, is_dataclass
from typing import Any

import msgspec
import pytest

from bench.routes import Keys, bulk_document, legacy_payload, modern_event, random_event
from footfall.domain.consent import ConsentChange
from footfall.domain.limits import Limits
from footfall.domain.models import Event, ProfilePatch, TrackOp, WriteResult
from footfall.domain.operations import BulkEventsOp
from footfall.ingest import writer_process
from footfall.ingest.writer_process import ProcessCommitter, decode_message, encode_commit
from footfall.refusals import InternalError
from footfall.store import db
from footfall.wire import legacy, modern_events, modern_profile, modern_subscriptions
from tests.conftest import make_sqlite_database

NOW = 1_700_000_000.0
LIMITS = Limits()


def _same(a: Any, b: Any) -> bool:
    """Equal, and of the same types all the way down (1 == 1.0 == True would not do)."""
    if type(a) is not type(b):
        return False
    if is_dataclass(a):
        return all(_same(getattr(a, f.name), getattr(b, f.name)) for f in fields(a))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(map(_same, a, b))
    return a == b


def _wire_ops() -> list[TrackOp]:
    """Track operations as the hot routes' decoders make them."""
    keys = Keys("PubKey", "pk_x")
    ev = random_event("e-1")
    tracked = legacy.parse_track({**legacy_payload(keys, ev), "time": "1699999999.25",
                                  "customer_properties": {"$email": "a@x.io", "$consent": ["email", "sms"],
                                                          "$latitude": "59.9", "big": 2**63 - 1, "n": None}},
                                 "A" * 26, LIMITS, NOW)[0]
    identified = legacy.parse_identify({"token": "PubKey", "properties": {"$id": 7, "x": [1, 2.5, "s"]}},
                                       "A" * 26, LIMITS)[0]
    profile, event = modern_events.decode_event({"data": modern_event(ev)}, LIMITS, NOW, private=True)
    client_profile = modern_profile.decode({"type": "profile", "attributes": {"email": "c@x.io", "location": {
        "city": "Oslo", "latitude": 59.9}, "properties": {"deep": {"a": [{"b": True}]}}}}, "data", LIMITS,
        private=False)
    subscribed = modern_subscriptions.decode({"data": {"type": "subscription", "attributes": {
        "profile": {"data": {"type": "profile", "attributes": {"email": "s@x.io"}}}}}}, LIMITS, NOW)
    return [tracked, identified, TrackOp("A" * 26, profile, event, size=400), TrackOp("A" * 26, client_profile),
            TrackOp("A" * 26, subscribed)]


def test_a_group_of_track_operations_travels_as_msgpack_and_arrives_the_same():
    ops = _wire_ops()
    message = encode_commit(ops, 2.5)
    assert message[:1] == writer_process.TRACK_GROUP
    kind, back, offset = decode_message(message)
    assert kind == "commit" and offset == 2.5 and _same(back, ops)


class _LaterOp(TrackOp):  # a subclass: msgpack would bring it back a TrackOp
    pass


@pytest.mark.parametrize("odd", [
    "bulk", "consent_changes", "int value", "subclass", "huge int",
])
def test_what_msgpack_would_not_carry_as_sent_travels_pickled(odd):
    ops = _wire_ops()
    if odd == "bulk":
        ops.append(BulkEventsOp("A" * 26, [modern_events.decode_client_bulk(
            bulk_document([random_event("b-1")]), LIMITS, NOW)]))
    elif odd == "consent_changes":
        ops[3].profile.consent_changes.append(ConsentChange(channel="email", action="subscribe", at="2024-05-01T12:00:00+00:00"))
    elif odd == "int value":
        ops[0].event.value = 12
    elif odd == "subclass":
        ops.append(_LaterOp("A" * 26, ProfilePatch(identifiers={"email": "l@x.io"})))
    else:
        ops[0].event.properties["huge"] = 2**70
    message = encode_commit(ops, 0.0)
    assert message[:1] != writer_process.TRACK_GROUP
    kind, back, _ = decode_message(message)
    assert kind == "commit" and _same(back, ops)


def test_a_field_not_of_its_declared_type_fails_decoding_rather_than_arrive_changed():
    op = TrackOp("A" * 26, ProfilePatch(identifiers={"email": 5}))  # identifiers are dict[str, str]
    message = encode_commit([op], 0.0)
    assert message[:1] == writer_process.TRACK_GROUP
    with pytest.raises(msgspec.ValidationError):
        decode_message(message)


def _apply(conn, ops: list) -> list:  # runs in the writer process
    return [WriteResult(profile_id=repr(op.profile.identifiers)) for op in ops]


@pytest.fixture
def recorded(tmp_path):
    """A connected ProcessCommitter running _apply, and the first byte of each message it sends once
    connected (b"T": a group of track operations as msgpack, b"\x80": a pickle)."""
    committer = ProcessCommitter(functools.partial(db.connect, make_sqlite_database(tmp_path)), _apply)
    committer.connect()
    sent: list[bytes] = []
    call = committer._call
    committer._call = lambda message: sent.append(message[:1]) or call(message)
    try:
        yield committer, sent
    finally:
        committer.close()


def test_a_group_the_writer_cannot_read_as_msgpack_is_sent_again_pickled(recorded):
    committer, sent = recorded
    good = TrackOp("A" * 26, ProfilePatch(identifiers={"email": "g@x.io"}))
    bad = TrackOp("A" * 26, ProfilePatch(identifiers={"email": 5}))
    assert committer.commit([good]) == [WriteResult(profile_id="{'email': 'g@x.io'}")]
    assert committer.commit([good, bad]) == [WriteResult(profile_id="{'email': 'g@x.io'}"),
                                             WriteResult(profile_id="{'email': 5}")]
    assert committer.connected
    assert sent == [b"T", b"T", b"\x80"]  # msgpack, msgpack refused, pickled


def test_an_operation_that_cannot_travel_fails_alone_and_the_rest_travel_as_msgpack(recorded):
    committer, sent = recorded
    ops = [TrackOp("A" * 26, ProfilePatch(identifiers={"email": f"{n}@x.io"},
                                          properties={"f": (lambda: n) if n == 1 else n}))
           for n in range(3)]  # a function: neither msgpack nor pickle can send it
    first, refused, last = committer.commit(ops)
    assert first == WriteResult(profile_id="{'email': '0@x.io'}") and last.profile_id == "{'email': '2@x.io'}"
    assert isinstance(refused, InternalError) and "TrackOp cannot be sent to the writer process" in str(refused)
    assert sent == [b"T"]  # the two others, as msgpack, in one message


def test_track_operations_arrive_without_instance_dicts():
    """The op classes are slotted: msgspec then sets their fields without building an instance dict
    for each (a fifth of the writer's reading of a group)."""
    _, back, _ = decode_message(encode_commit(_wire_ops(), 0.0))
    for op in back:
        assert not hasattr(op, "__dict__") and not hasattr(op.profile, "__dict__")
        assert op.event is None or not hasattr(op.event, "__dict__")
