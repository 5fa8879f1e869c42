"""observability/requests.request_id: a new id is 16 hex digits, different each time, made without
a system call (os.urandom's getrandom() lets go of the interpreter lock on every request)."""

from __future__ import annotations

import os
import re

from footfall.observability.requests import request_id


def test_new_request_ids_are_hex_distinct_and_need_no_urandom(monkeypatch):
    def no_urandom(n: int) -> bytes:
        raise AssertionError("os.urandom called per request")

    monkeypatch.setattr(os, "urandom", no_urandom)
    ids = {request_id([(b"host", b"x")]) for _ in range(1000)}
    assert len(ids) == 1000 and all(re.fullmatch(rb"[0-9a-f]{16}", i) for i in ids)
    assert request_id([(b"x-request-id", b"req-abc.123")]) == b"req-abc.123"
    assert re.fullmatch(rb"[0-9a-f]{16}", request_id([(b"x-request-id", b"a b")]))
