"""The writer process: commits cross a socket to a process of their own and come back intact.

These drive footfall.ingest.writer_process.ProcessCommitter directly (what the pipeline's writer
thread calls), against a real database on each backend and a real child process.
"""

from __future__ import annotations

import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from footfall import clock
from footfall.failures import StoreDown
from footfall.refusals import Conflict, InvalidInput, LimitExceeded, NotFound, StoreUnavailable
from footfall.domain.limits import Limits
from footfall.domain.models import Event, ProfilePatch, TrackOp, WriteResult
from footfall.ingest.writer_process import ProcessCommitter
from footfall.store import batch, db
from footfall.store.url import DatabaseURL
from tests.servers import free_port


def committer(url: str, limits: Limits | None = None) -> ProcessCommitter:
    import functools

    return ProcessCommitter(functools.partial(db.connect, url), functools.partial(batch.apply_batch,
                                                                                  limits=limits or Limits()))


def track(account_id: str, email: str, **patch) -> TrackOp:
    return TrackOp(account_id, ProfilePatch(identifiers={"email": email}, **patch),
                   Event(metric="Viewed", time=1_700_000_000, unique_id=email))


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.parametrize("error", [
    InvalidInput("must be a number", "properties.$value"),
    LimitExceeded("over 400 properties", "properties"),
    Conflict("the email belongs to another profile", "01PROFILE"),
    NotFound("no profile with that id in this account", "data.id"),
])
def test_refusals_keep_every_attribute_across_the_process_boundary(error):
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error) and str(copy) == str(error) and vars(copy) == vars(error)


def test_a_source_batch_crosses_whole_with_one_patch_per_run_and_no_object_per_message():
    """SourceBatchOp's compact pickling (domain/operations.py): equal after the crossing, a run's
    shared patch still one object, and its messages sent as tuples, not TrackOp / Event objects."""
    from footfall.domain.operations import SourceBatchOp

    patch = ProfilePatch(identifiers={"external_id": "u1"}, properties={"plan": "pro"})
    viewed = Event(metric="Viewed", time=1_700_000_000, properties={"sku": "B-42", "$context": {"ip": "1.2.3.4"}},
                   value=9.5, value_currency="EUR", unique_id="m1", microsecond=250)
    op = SourceBatchOp("acct", [TrackOp("acct", patch, viewed, 120), TrackOp("acct", patch, None, 40),
                                TrackOp("acct", ProfilePatch(identifiers={"anonymous_id": "a1"}))],
                       ["batch[0]", "batch[1]", "batch[2]"], 300)
    blob = pickle.dumps(op, pickle.HIGHEST_PROTOCOL)
    copy = pickle.loads(blob)
    assert copy == op and copy.ops[0].profile is copy.ops[1].profile
    assert b"TrackOp" not in blob and b"Event" not in blob


def test_a_batch_commits_in_the_writer_process_with_results_and_refusals_in_order(database_url, account):
    c = committer(database_url)
    try:
        c.connect()
        assert c.pid not in (None, os.getpid())
        results = c.commit([track(account.id, "a@example.com"),
                            track(account.id, "b@example.com", profile_id="01NOSUCHPROFILE0000000000"),
                            track(account.id, "a@example.com")])
    finally:
        c.close()
    assert isinstance(results[0], WriteResult) and results[0].profile_created
    assert isinstance(results[1], NotFound) and "no profile with that id" in str(results[1])
    assert isinstance(results[2], WriteResult) and results[2].duplicate
    assert results[2].profile_id == results[0].profile_id


def test_the_writer_process_uses_the_servers_clock(database_url, account):
    c = committer(database_url)
    clock.set_offset(86_400)
    try:
        c.connect()
        [result] = c.commit([track(account.id, "later@example.com")])
    finally:
        clock.set_offset(0)
        c.close()
    conn = db.connect(database_url)
    try:
        (received,) = conn.one("SELECT received FROM events WHERE id = ?", (result.event_id,))
    finally:
        conn.close()
    assert abs(received - (time.time() + 86_400)) < 60


def test_an_unreachable_store_is_reported_by_connect():
    c = committer(f"postgresql://postgres@127.0.0.1:{free_port()}/footfall")
    try:
        with pytest.raises(StoreUnavailable, match="cannot connect to PostgreSQL"):
            c.connect()
        assert not c.connected
    finally:
        c.close()


def test_a_killed_writer_process_fails_the_batch_and_the_next_connect_starts_another(database_url, account):
    c = committer(database_url)
    try:
        c.connect()
        first = c.pid
        os.kill(first, signal.SIGKILL)
        with pytest.raises(StoreDown, match="writer process exited"):
            c.commit([track(account.id, "lost@example.com")])
        assert not c.connected
        c.connect()
        assert c.pid not in (None, first)
        [result] = c.commit([track(account.id, "kept@example.com")])
        assert isinstance(result, WriteResult)
    finally:
        c.close()
    assert not alive(first)


def test_close_ends_the_writer_process(database_url):
    c = committer(database_url)
    c.connect()
    pid = c.pid
    c.close()
    assert not alive(pid)


def test_the_writer_process_leaves_when_its_server_dies_and_ignores_ctrl_c(database_url, tmp_path):
    """A server killed -9 leaves no writer behind; Ctrl-C (SIGINT to the group) does not kill it
    mid-drain: it leaves when the server closes the socket."""
    script = tmp_path / "server.py"
    script.write_text(textwrap.dedent(f"""
        import functools, sys, time
        from footfall.domain.limits import Limits
        from footfall.ingest.writer_process import ProcessCommitter
        from footfall.store import batch, db
        c = ProcessCommitter(functools.partial(db.connect, {database_url!r}),
                             functools.partial(batch.apply_batch, limits=Limits()))
        c.connect()
        print(c.pid, flush=True)
        time.sleep(60)
    """))
    server = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, text=True)
    try:
        writer = int(server.stdout.readline())
        os.kill(writer, signal.SIGINT)
        os.kill(writer, signal.SIGTERM)
        time.sleep(0.3)
        assert alive(writer)
        server.kill()
        server.wait()
        deadline = time.monotonic() + 5
        while alive(writer):
            assert time.monotonic() < deadline, "the writer process outlived its server"
            time.sleep(0.05)
    finally:
        server.kill()


def test_a_prestarted_writer_process_is_the_one_the_first_commits_use(database_url, account):
    """`footfall serve` starts the writer process before its own imports and migration check; the
    pipeline's committer must take that process, not start a second one."""
    from footfall.ingest import writer_process

    writer_process.prestart(DatabaseURL(database_url).backend)
    prestarted = writer_process._prestarted[0].pid
    c = committer(database_url)
    try:
        c.connect()
        assert c.pid == prestarted
        [result] = c.commit([track(account.id, "early@example.com")])
        assert isinstance(result, WriteResult)
    finally:
        c.close()
    assert not alive(prestarted)



class _LaterEvent(Event):  # a subclass: pickled as usual, with its own state
    pass


def test_operations_and_results_cross_pickled_as_their_fields_and_come_back_equal():
    """domain/models.compact_pickle: the class and its fields' values, not an instance dict (no field
    names in the bytes), every field kept; a subclass still pickles as itself."""
    patch = ProfilePatch(identifiers={"email": "p@x.io"}, profile_id="01P", attributes={"first_name": "Pat"},
                         location={"city": "Oslo"}, properties={"n": [1, {"a": None}]}, unset_properties=["gone"],
                         once_properties={"o": 1}, append_properties={"tags": "x"}, consent={"email": {"c": 1}},
                         may_replace_identifiers=True)
    op = TrackOp("A" * 26, patch, Event(metric="Viewed", time=5, properties={"k": "v"}, value=1.5,
                                        value_currency="EUR", unique_id="u", microsecond=7), size=99)
    result = WriteResult(profile_id="01P", event_id="01E", duplicate=True, warnings=["w"], dropped=True)
    for value in (op, result):
        data = pickle.dumps(value, pickle.HIGHEST_PROTOCOL)
        assert pickle.loads(data) == value
        assert b"profile_id" not in data and b"value_currency" not in data
    later = _LaterEvent(metric="m", time=1)
    later.extra = "kept"
    back = pickle.loads(pickle.dumps(later))
    assert type(back) is _LaterEvent and back == later and back.extra == "kept"
