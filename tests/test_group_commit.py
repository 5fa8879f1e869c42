"""The group commit: a batch runs optimistically, and a refused op is replayed behind a savepoint.

These call the store's batch applier directly (the unit the writer thread commits) so that a
refusal can be placed mid-batch deterministically, which concurrent HTTP requests cannot do.
"""

from __future__ import annotations

import json
import uuid

import pytest

from footfall import clock
from footfall.refusals import NotFound
from footfall.domain.limits import Limits
from footfall.domain.models import Event, ProfilePatch, TrackOp, WriteResult
from footfall.store import batch, db
from tests.conftest import commit_ops, query


def _track(account_id: str, email: str, metric: str, *, profile_id: str | None = None) -> TrackOp:
    patch = ProfilePatch(identifiers={"email": email}, profile_id=profile_id)
    return TrackOp(account_id, patch, Event(metric=metric, time=int(clock.now()), unique_id=email))




def test_a_refused_op_mid_batch_leaves_no_trace_and_spoils_nothing(database_url, account):
    ops = [
        _track(account.id, "a@example.com", "Viewed"),
        # creates metric "Refused Metric" and then is refused: the metric must be rolled back too
        _track(account.id, "b@example.com", "Refused Metric", profile_id="01NOSUCHPROFILE0000000000"),
        _track(account.id, "c@example.com", "Viewed"),
    ]
    results = commit_ops(database_url, ops)
    assert isinstance(results[0], WriteResult) and isinstance(results[2], WriteResult)
    assert isinstance(results[1], NotFound)
    emails = query(database_url, "SELECT email FROM profiles WHERE account_id = ? ORDER BY email", (account.id,))
    assert emails == [("a@example.com",), ("c@example.com",)]
    metrics = query(database_url, "SELECT name FROM metrics WHERE account_id = ?", (account.id,))
    assert metrics == [("Viewed",)]


def test_a_metric_rolled_back_is_not_remembered(database_url, account):
    """The same connection must not reuse the id of a metric whose creation was undone."""
    conn = db.connect(database_url)
    try:
        conn.begin()
        refused = batch.apply_batch(conn, [_track(account.id, "x@example.com", "Once",
                                                  profile_id="01NOSUCHPROFILE0000000000")], Limits())
        conn.commit()
        conn.begin()
        stored = batch.apply_batch(conn, [_track(account.id, "y@example.com", "Once")], Limits())
        conn.commit()
    finally:
        conn.close()
    assert isinstance(refused[0], NotFound) and isinstance(stored[0], WriteResult)
    joined = query(database_url, "SELECT m.name FROM events e JOIN metrics m ON m.account_id = e.account_id "
                   "AND m.id = e.metric_id WHERE e.account_id = ?", (account.id,))
    assert joined == [("Once",)]


def test_a_whole_transaction_rolled_back_forgets_metrics(database_url, account):
    conn = db.connect(database_url)
    try:
        conn.begin()
        batch.apply_batch(conn, [_track(account.id, "p@example.com", "Lost")], Limits())
        conn.rollback()  # as the writer does when a commit fails
        conn.begin()
        batch.apply_batch(conn, [_track(account.id, "q@example.com", "Lost")], Limits())
        conn.commit()
    finally:
        conn.close()
    joined = query(database_url, "SELECT m.name FROM events e JOIN metrics m ON m.account_id = e.account_id "
                   "AND m.id = e.metric_id WHERE e.account_id = ?", (account.id,))
    assert joined == [("Lost",)]


def _random_ops(account_id: str, rng, n: int) -> list[TrackOp]:
    """Ops over a small pool of people, so that one batch names the same identifiers many times:
    claims, anonymous merges, property updates, duplicates."""
    ops = []
    for i in range(n):
        ids: dict[str, str] = {}
        while not ids:
            if rng.random() < 0.6:
                ids["email"] = f"p{rng.randrange(6)}@example.com"
            if rng.random() < 0.3:
                ids["external_id"] = f"x{rng.randrange(6)}"
            if rng.random() < 0.4:
                ids["anonymous_id"] = f"cookie-{rng.randrange(6)}"
        # Each op sets one of several properties: a stale read of the profile would lose the others.
        patch = ProfilePatch(identifiers=ids, attributes={"first_name": rng.choice(["Ann", "Bo", None])},
                             properties={f"k{rng.randrange(4)}": i})
        event = Event(metric=rng.choice(["Viewed", "Bought"]), time=1_700_000_000 + i,
                      unique_id=f"e{rng.randrange(n)}") if rng.random() < 0.8 else None
        ops.append(TrackOp(account_id, patch, event))
    return ops


def _state(url: str, account_id: str) -> tuple:
    profiles = sorted(query(url, "SELECT email, external_id, anonymous_id, first_name, properties FROM profiles "
                                 "WHERE account_id = ?", (account_id,)), key=repr)
    events = sorted(query(url, "SELECT p.email, p.external_id, p.anonymous_id, m.name, e.unique_id FROM events e "
                               "JOIN profiles p ON p.account_id = e.account_id AND p.id = e.profile_id "
                               "JOIN metrics m ON m.account_id = e.account_id AND m.id = e.metric_id "
                               "WHERE e.account_id = ?", (account_id,)), key=repr)
    owners = sorted(query(url, "SELECT i.kind, i.value, p.email, p.external_id, p.anonymous_id FROM profile_identifiers i "
                               "JOIN profiles p ON p.account_id = i.account_id AND p.id = i.profile_id "
                               "WHERE i.account_id = ?", (account_id,)), key=repr)
    return profiles, events, owners


def test_a_batch_stores_exactly_what_the_same_ops_one_by_one_store(database_url):
    """The batch reads identifier owners once up front; ops that touch the same people must still
    see each other's writes, exactly as if each op were its own commit."""
    import random

    from tests.servers import new_account

    for seed in range(6):
        rng = random.Random(seed)
        batched, single = (new_account(database_url, f"gc-{seed}-{w}-{uuid.uuid4().hex[:6]}") for w in "ab")
        ops = _random_ops("?", rng, 60)
        for acc in (batched, single):  # people who already exist: their rows are read, not created
            commit_ops(database_url, [TrackOp(acc.id, ProfilePatch(identifiers={"email": f"p{i}@example.com"}))
                                   for i in range(4)])
        for_batched = [TrackOp(batched.id, op.profile, op.event) for op in ops]
        for_single = [TrackOp(single.id, op.profile, op.event) for op in ops]
        results = commit_ops(database_url, for_batched)
        one_by_one = [commit_ops(database_url, [op])[0] for op in for_single]
        assert [type(r) for r in results] == [type(r) for r in one_by_one]
        assert [getattr(r, "duplicate", None) for r in results] == [getattr(r, "duplicate", None) for r in one_by_one]
        assert _state(database_url, batched.id) == _state(database_url, single.id), f"seed {seed}"


def test_later_ops_of_a_batch_see_earlier_ops_changes_to_the_same_person(database_url, account):
    commit_ops(database_url, [TrackOp(account.id, ProfilePatch(identifiers={"email": "same@example.com"}))])
    commit_ops(database_url, [
        TrackOp(account.id, ProfilePatch(identifiers={"email": "same@example.com"}, properties={"k1": 1})),
        TrackOp(account.id, ProfilePatch(identifiers={"email": "other@example.com"}, properties={"k0": 0})),
        TrackOp(account.id, ProfilePatch(identifiers={"email": "same@example.com"}, properties={"k2": 2})),
    ])
    (props,) = query(database_url, "SELECT properties FROM profiles WHERE account_id = ? AND email = ?",
                     (account.id, "same@example.com"))[0]
    assert (json.loads(props) if isinstance(props, str) else props) == {"k1": 1, "k2": 2}


def test_an_anonymous_profile_merged_early_in_a_batch_is_not_used_later_in_it(database_url, account):
    commit_ops(database_url, [TrackOp(account.id, ProfilePatch(identifiers={"anonymous_id": "cookie-9"})),
                           TrackOp(account.id, ProfilePatch(identifiers={"email": "known@example.com"}))])
    commit_ops(database_url, [
        TrackOp(account.id, ProfilePatch(identifiers={"email": "known@example.com", "anonymous_id": "cookie-9"})),
        TrackOp(account.id, ProfilePatch(identifiers={"anonymous_id": "cookie-9"}),
                Event(metric="Viewed", time=1_700_000_000, unique_id="after-merge")),
    ])
    owners = query(database_url, "SELECT p.email FROM events e JOIN profiles p ON p.account_id = e.account_id "
                   "AND p.id = e.profile_id WHERE e.account_id = ?", (account.id,))
    assert owners == [("known@example.com",)]


# -- the owners read ahead for a batch (profile_upserts.prefetch_owners): an answer is used only while nothing
# of the batch can have changed it

def _properties(url: str, account_id: str, email: str) -> dict:
    (props,) = query(url, "SELECT properties FROM profiles WHERE account_id = ? AND email = ?", (account_id, email))[0]
    return json.loads(props) if isinstance(props, str) else props


def test_a_profile_written_by_an_op_that_read_it_afresh_is_not_taken_from_the_read_ahead(database_url, account):
    """The second op misses the read-ahead (its anonymous id was the first op's) and reads the profile
    afresh; the third names the same profile by another identifier: it must not be handed the row
    read ahead, which lacks the second op's property and would write it away."""
    commit_ops(database_url, [
        TrackOp(account.id, ProfilePatch(identifiers={"email": "p@example.com", "external_id": "x-p"})),
        TrackOp(account.id, ProfilePatch(identifiers={"anonymous_id": "cookie-p"})),
    ])
    commit_ops(database_url, [
        TrackOp(account.id, ProfilePatch(identifiers={"anonymous_id": "cookie-p"})),
        TrackOp(account.id, ProfilePatch(identifiers={"email": "p@example.com", "anonymous_id": "cookie-p"},
                                         properties={"k1": 1})),
        TrackOp(account.id, ProfilePatch(identifiers={"external_id": "x-p"}, properties={"k2": 2})),
    ])
    assert _properties(database_url, account.id, "p@example.com") == {"k1": 1, "k2": 2}
    assert query(database_url, "SELECT COUNT(*) FROM profiles WHERE account_id = ?", (account.id,)) == [(1,)]


def test_an_identifier_claimed_earlier_in_a_batch_is_found_in_one_pass(database_url, account, monkeypatch):
    """Read ahead, the new person's email had no owner; once the first op creates the profile, the
    second must find it, not try to claim the email again (a key violation, and a replay of the batch)."""
    replayed = []
    monkeypatch.setattr(batch, "_apply_one", lambda conn, op, *args: replayed.append(op))
    first, second = commit_ops(database_url, [
        TrackOp(account.id, ProfilePatch(identifiers={"email": "new@example.com"}, properties={"k1": 1})),
        TrackOp(account.id, ProfilePatch(identifiers={"email": "new@example.com", "phone_number": "+15005550006"},
                                         properties={"k2": 2})),
    ])
    assert replayed == [] and first.profile_created and not second.profile_created
    assert second.profile_id == first.profile_id
    assert _properties(database_url, account.id, "new@example.com") == {"k1": 1, "k2": 2}


def test_nothing_read_ahead_outlives_its_batch(database_url, account):
    """Between two batches of one connection another connection gives a known person a new identifier:
    the next batch must see it, not an answer read for the batch before."""
    conn = db.connect(database_url)
    try:
        for email in ("one@example.com", "two@example.com"):
            conn.begin()
            batch.apply_batch(conn, [TrackOp(account.id, ProfilePatch(identifiers={"email": email}))], Limits())
            conn.commit()
            assert conn.batch_cache == {}
        commit_ops(database_url, [TrackOp(account.id, ProfilePatch(
            identifiers={"email": "one@example.com", "external_id": "x-one"}))])
        conn.begin()
        (result,) = batch.apply_batch(conn, [TrackOp(account.id, ProfilePatch(identifiers={"external_id": "x-one"}))],
                                      Limits())
        conn.commit()
    finally:
        conn.close()
    assert not result.profile_created


# -- PostgreSQL runs the optimistic pass in pipeline mode: results arrive late, errors surface late ------------

def _counters(url: str, account_id: str) -> dict[str, int]:
    return dict(query(url, "SELECT name, value FROM counters WHERE account_id = ?", (account_id,)))


def test_a_duplicate_within_one_batch_reports_the_first_events_id(database_url, account):
    first, again = (TrackOp(account.id, ProfilePatch(identifiers={"email": "dup@example.com"}),
                            Event(metric="Viewed", time=1_700_000_000, unique_id="once")) for _ in range(2))
    results = commit_ops(database_url, [first, _track(account.id, "other@example.com", "Viewed"), again])
    assert results[0].duplicate is False and results[2].duplicate is True
    assert results[2].event_id == results[0].event_id
    assert results[2].warnings and results[2].warnings[0].startswith("duplicate:")
    stored = query(database_url, "SELECT id FROM events WHERE account_id = ? AND unique_id = ?", (account.id, "once"))
    assert stored == [(results[0].event_id,)]
    counts = _counters(database_url, account.id)
    assert (counts["events_stored"], counts["events_duplicate"]) == (2, 1)


def test_a_duplicates_id_is_read_before_a_later_op_merges_its_profile_away(database_url, account):
    """The id of the event a duplicate repeats is read when the duplicate is inserted, not at the end of
    the batch: by then a later op has merged the anonymous profile (and its event) into another one."""
    commit_ops(database_url, [TrackOp(account.id, ProfilePatch(identifiers={"email": "known@example.com"}))])
    event = Event(metric="Viewed", time=1_700_000_000, unique_id="anon-event")
    anonymous = ProfilePatch(identifiers={"anonymous_id": "cookie-m"})
    results = commit_ops(database_url, [
        TrackOp(account.id, anonymous, event),
        TrackOp(account.id, anonymous, event),
        TrackOp(account.id, ProfilePatch(identifiers={"email": "known@example.com", "anonymous_id": "cookie-m"})),
    ])
    assert results[1].duplicate is True and results[1].event_id == results[0].event_id
    owners = query(database_url, "SELECT e.id, p.email FROM events e JOIN profiles p ON p.account_id = e.account_id "
                   "AND p.id = e.profile_id WHERE e.account_id = ?", (account.id,))
    assert owners == [(results[0].event_id, "known@example.com")]


def _with_nul_in_json(account_id: str) -> TrackOp:
    """PostgreSQL's jsonb refuses \\u0000 (a DataError raised by the server, so in pipeline mode only at a
    later read); SQLite stores it."""
    patch = ProfilePatch(identifiers={"email": "nul@example.com"})
    return TrackOp(account_id, patch, Event(metric="Viewed", time=1_700_000_000, properties={"note": "a\x00b"}))


# PostgreSQL only: SQLite stores NUL in JSON text, so there is no DataError to provoke there.
@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
@pytest.mark.parametrize("position", [0, 1, 2])
def test_a_value_the_database_refuses_is_refused_alone_wherever_it_sits(database_url, account, position):
    ops = [_track(account.id, "a@example.com", "Viewed"), _track(account.id, "c@example.com", "Viewed")]
    ops.insert(position, _with_nul_in_json(account.id))
    results = commit_ops(database_url, ops)
    assert [type(r).__name__ for r in results] == [
        "InvalidInput" if i == position else "WriteResult" for i in range(3)]
    emails = query(database_url, "SELECT email FROM profiles WHERE account_id = ? ORDER BY email", (account.id,))
    assert emails == [("a@example.com",), ("c@example.com",)]
    assert _counters(database_url, account.id)["events_stored"] == 2


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)  # a PostgreSQL fault
def test_a_connection_lost_mid_batch_raises_unavailable_and_is_not_replayed(database_url, account, monkeypatch):
    import psycopg

    from tests.conftest import PG_ADMIN

    class Kill:
        pass

    def kill(conn, op, limits, tally):
        with psycopg.connect(PG_ADMIN, autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (conn.raw.info.backend_pid,))

    monkeypatch.setitem(batch.APPLIERS, Kill, kill)
    conn = db.connect(database_url)
    sent: list[str] = []
    execute = conn.execute
    monkeypatch.setattr(conn, "execute", lambda text, params=(): sent.append(text) or execute(text, params))
    try:
        conn.begin()
        with pytest.raises(psycopg.OperationalError) as raised:
            batch.apply_batch(conn, [_track(account.id, "lost1@example.com", "Viewed"), Kill(),
                                     _track(account.id, "lost2@example.com", "Viewed")], Limits())
        assert conn.is_unavailable(raised.value)
        assert "ROLLBACK TO SAVEPOINT batch" not in sent and not conn.pipelined
    finally:
        conn.rollback()
        conn.close()
    assert query(database_url, "SELECT email FROM profiles WHERE account_id = ?", (account.id,)) == []


def test_a_list_rename_in_a_batch_waits_for_its_row_count(database_url, account, monkeypatch):
    """In pipeline mode a cursor's row count is unknown until its result arrives: the rename of a list
    that exists must not read as "no such list" (which the careful replay would then quietly correct)."""
    from footfall.domain.segment_list_ops import SaveList

    (made,) = commit_ops(database_url, [SaveList(account.id, None, "Before")])
    replayed = []
    monkeypatch.setattr(batch, "_apply_one", lambda conn, op, *args: replayed.append(op))
    results = commit_ops(database_url, [SaveList(account.id, made.group_id, "After"),
                                     _track(account.id, "l@example.com", "Viewed")])
    assert [type(r).__name__ for r in results] == ["GroupResult", "WriteResult"] and replayed == []
    monkeypatch.undo()
    (missing,) = commit_ops(database_url, [SaveList(account.id, "NoSuchList", "Nope")])
    assert isinstance(missing, NotFound)
    assert query(database_url, "SELECT name FROM lists WHERE account_id = ?", (account.id,)) == [("After",)]


def test_bulk_entries_in_a_batch_count_duplicates_and_refusals(database_url, account):
    from footfall.domain.operations import BulkEntry, BulkEventsOp

    def entry(email: str | None, unique_id: str, *, profile_id: str | None = None) -> BulkEntry:
        patch = ProfilePatch(identifiers={"email": email} if email else {}, profile_id=profile_id)
        return BulkEntry(patch, [Event(metric="Viewed", time=1_700_000_000, unique_id=unique_id)],
                         f"/data/{unique_id}", [f"/data/{unique_id}/event"])

    first = _track(account.id, "bulk@example.com", "Viewed")  # unique_id is the email
    bulk = BulkEventsOp(account.id, [entry("bulk@example.com", "bulk@example.com"),
                                     entry(None, "x", profile_id="01NOSUCHPROFILE0000000000"),
                                     entry("new@example.com", "fresh")])
    stored, result = commit_ops(database_url, [first, bulk])
    assert (result.completed, result.failed, result.duplicates) == (2, 1, 1)
    assert result.results[0].event_id == stored.event_id
    counts = _counters(database_url, account.id)
    assert (counts["events_stored"], counts["events_duplicate"]) == (2, 1)


def test_a_metric_created_by_a_refused_bulk_entry_is_not_used_by_the_next_entry(database_url, account):
    """The refused entry's savepoint undoes the metric it created; the next entry creates it again."""
    from footfall.domain.operations import BulkEntry, BulkEventsOp

    def entry(patch: ProfilePatch, unique_id: str) -> BulkEntry:
        return BulkEntry(patch, [Event(metric="Made In Bulk", time=1_700_000_000, unique_id=unique_id)],
                         f"/data/{unique_id}", [f"/data/{unique_id}/event"])

    (result,) = commit_ops(database_url, [BulkEventsOp(account.id, [
        entry(ProfilePatch(profile_id="01NOSUCHPROFILE0000000000"), "refused"),
        entry(ProfilePatch(identifiers={"email": "bulk-metric@example.com"}), "stored"),
    ])])
    assert (result.completed, result.failed) == (1, 1)
    joined = query(database_url, "SELECT m.name FROM events e LEFT JOIN metrics m ON m.account_id = e.account_id "
                   "AND m.id = e.metric_id WHERE e.account_id = ?", (account.id,))
    assert joined == [("Made In Bulk",)]


def _set_properties(account_id: str, email: str, **properties) -> TrackOp:
    return TrackOp(account_id, ProfilePatch(identifiers={"email": email}, properties=properties))


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)  # SQLite has one writer at a time
@pytest.mark.parametrize("read_ahead", [True, False])
def test_two_writers_changing_one_profile_do_not_lose_either_change(database_url, account, read_ahead):
    """Two workers' writers (PostgreSQL commits them concurrently) change the same profile: the
    second waits for the first's commit and builds on what it wrote, whether its batch read the
    owner ahead (a batch of track ops) or at the op (an op after another kind)."""
    import threading
    import time

    from footfall.domain.segment_list_ops import SaveList

    commit_ops(database_url, [_set_properties(account.id, "both@example.com", first=0, second=0)])
    first, second = db.connect(database_url), db.connect(database_url)
    try:
        first.begin()
        batch.apply_batch(first, [_set_properties(account.id, "both@example.com", first=1)], Limits())
        ops = [_set_properties(account.id, "both@example.com", second=2)]
        if not read_ahead:  # another kind of op first: reading ahead stops there
            ops.insert(0, SaveList(account_id=account.id, list_id=None, name=f"l-{uuid.uuid4().hex[:6]}"))
        done = threading.Event()

        def other_worker() -> None:
            second.begin()
            batch.apply_batch(second, ops, Limits())
            second.commit()
            done.set()

        worker = threading.Thread(target=other_worker)
        worker.start()
        time.sleep(0.3)
        assert not done.is_set(), "the second writer did not wait for the first's lock"
        first.commit()
        worker.join(10)
        assert done.is_set()
    finally:
        first.close()
        second.close()
    [(properties,)] = query(database_url, "SELECT properties FROM profiles WHERE account_id = ?", (account.id,))
    assert (json.loads(properties) if isinstance(properties, str) else properties) == {"first": 1, "second": 2}


def _commit_recording_statements(url: str, ops: list, monkeypatch) -> tuple[list, list[str]]:
    """commit_ops, and the text of every statement it sent, in order."""
    conn = db.connect(url)
    sent: list[str] = []
    sql = conn.sql
    monkeypatch.setattr(conn, "sql", lambda text: sent.append(text) or sql(text))
    try:
        conn.begin()
        results = batch.apply_batch(conn, ops, Limits())
        conn.commit()
    finally:
        conn.close()
    return results, sent


def _commit_counting_event_inserts(url: str, ops: list, monkeypatch) -> tuple[list, int]:
    """commit_ops, and how many statements inserted into events."""
    results, sent = _commit_recording_statements(url, ops, monkeypatch)
    return results, sum(1 for text in sent if text.startswith("INSERT INTO events"))


def test_a_groups_events_are_written_by_one_statement_in_their_order(database_url, account, monkeypatch):
    """Every event of a group goes in one multi-row INSERT (store/event_rows.PendingEvents), and the
    result per op is as if they went one at a time: new, or the first copy's id for a repeat."""
    ops = [_track(account.id, f"p{i % 7}@example.com", "Viewed") for i in range(40)]
    results, inserts = _commit_counting_event_inserts(database_url, ops, monkeypatch)
    assert inserts == 1
    assert [r.duplicate for r in results] == [i >= 7 for i in range(40)]
    assert [r.event_id for r in results[7:]] == [results[i % 7].event_id for i in range(7, 40)]
    assert query(database_url, "SELECT COUNT(*) FROM events WHERE account_id = ?", (account.id,)) == [(7,)]


def test_gathered_events_are_written_before_a_savepoint_and_dropped_by_a_rollback_to_it(database_url, account):
    from footfall.store import event_rows, track_writes
    from footfall.store.tally import Tally

    conn = db.connect(database_url)
    try:
        conn.begin()
        metric = event_rows.metric_for(conn, account.id, "Viewed", Limits(), clock.now())
        person = TrackOp(account.id, ProfilePatch(identifiers={"email": "g@x.io"}))
        profile = track_writes.apply_track(conn, person, Limits(), Tally()).profile_id

        def gather(unique_id: str):
            return event_rows.insert_event(conn, account.id, metric, profile,
                                           Event(metric="Viewed", time=1_700_000_000, unique_id=unique_id),
                                           clock.now(), Limits().dedup_without_id)

        kept = gather("kept")
        conn.execute("SAVEPOINT s")  # writes "kept"
        assert "events" not in conn.gathered
        gather("undone")
        conn.execute("ROLLBACK TO SAVEPOINT s")  # "undone" was gathered after it: dropped, never written
        assert "events" not in conn.gathered
        conn.execute("RELEASE SAVEPOINT s")
        again = gather("kept")
        assert again()[1] is True and again()[0] == kept()[0] and kept()[1] is False
        conn.commit()
    finally:
        conn.close()
    stored = query(database_url, "SELECT unique_id FROM events WHERE account_id = ?", (account.id,))
    assert stored == [("kept",)]


def test_segment_and_posthog_batches_are_read_ahead_as_their_messages(database_url, account, monkeypatch):
    """A group of Segment / PostHog batches (SourceBatchOp) reads its messages' owners ahead, as a group of
    track ops does: no owner read per request (on PostgreSQL each is a round trip), and an answer is
    still dropped once a message of the group changes it (the read-afresh case above, split across batches)."""
    from footfall.domain.operations import SourceBatchOp
    from footfall.store import profile_upserts

    def batch_of(*patches: ProfilePatch) -> SourceBatchOp:
        return SourceBatchOp(account.id, [TrackOp(account.id, p) for p in patches], [f"batch[{i}]" for i in range(len(patches))])

    commit_ops(database_url, [
        TrackOp(account.id, ProfilePatch(identifiers={"email": "s@example.com", "external_id": "x-s"})),
        TrackOp(account.id, ProfilePatch(identifiers={"anonymous_id": "cookie-s"})),
    ])
    owner_reads = []
    real = profile_upserts._owners_sql
    monkeypatch.setattr(profile_upserts, "_owners_sql", lambda *args: owner_reads.append(args) or real(*args))
    commit_ops(database_url, [
        batch_of(ProfilePatch(identifiers={"external_id": "x-s"}), ProfilePatch(identifiers={"external_id": "x-s"})),
        batch_of(ProfilePatch(identifiers={"anonymous_id": "cookie-s"})),
    ])
    assert owner_reads == []
    commit_ops(database_url, [
        batch_of(ProfilePatch(identifiers={"anonymous_id": "cookie-s"})),
        batch_of(ProfilePatch(identifiers={"email": "s@example.com", "anonymous_id": "cookie-s"}, properties={"k1": 1})),
        batch_of(ProfilePatch(identifiers={"external_id": "x-s"}, properties={"k2": 2})),
    ])
    assert _properties(database_url, account.id, "s@example.com") == {"k1": 1, "k2": 2}
    assert query(database_url, "SELECT COUNT(*) FROM profiles WHERE account_id = ?", (account.id,)) == [(1,)]


def _bulk(account_id: str, *entries: tuple[ProfilePatch, list[str]]) -> "BulkEventsOp":
    from footfall.domain.operations import BulkEntry, BulkEventsOp

    return BulkEventsOp(account_id, [
        BulkEntry(patch, [Event(metric="Viewed", time=1_700_000_000 + i, unique_id=u) for i, u in enumerate(ids)],
                  f"data[{n}]", [f"data[{n}].events[{i}]" for i in range(len(ids))])
        for n, (patch, ids) in enumerate(entries)])


def test_bulk_entries_are_read_ahead_and_each_entrys_events_go_in_one_statement(database_url, account, monkeypatch):
    """A group of bulk requests reads its entries' owners ahead (no owner read per entry) and writes an
    entry's events in one statement (sent before the next entry's savepoint, its result read only at
    the group's end); the counts and ids come out as one at a time."""
    from footfall.store import profile_upserts

    commit_ops(database_url, [TrackOp(account.id, ProfilePatch(identifiers={"email": "b0@example.com"}))])
    owner_reads = []
    real = profile_upserts._owners_sql
    monkeypatch.setattr(profile_upserts, "_owners_sql", lambda *args: owner_reads.append(args) or real(*args))
    ops = [_bulk(account.id, (ProfilePatch(identifiers={"email": f"b{i}@example.com"}), [f"u{i}a", f"u{i}b"]),
                 (ProfilePatch(identifiers={"email": f"c{i}@example.com"}), [f"v{i}"])) for i in range(3)]
    ops.append(_bulk(account.id, (ProfilePatch(identifiers={"email": "b0@example.com"}), ["u0a", "new"])))
    results, inserts = _commit_counting_event_inserts(database_url, ops, monkeypatch)
    assert len(owner_reads) == 1  # of 7 entries, only the one repeating an earlier entry's person reads afresh
    assert inserts == 7  # one per entry
    assert [(r.completed, r.duplicates) for r in results] == [(3, 0), (3, 0), (3, 0), (2, 1)]
    assert all(p.event_id for r in results for p in r.results)
    assert query(database_url, "SELECT COUNT(*) FROM events WHERE account_id = ?", (account.id,)) == [(10,)]
    counts = _counters(database_url, account.id)
    assert (counts["events_stored"], counts["events_duplicate"]) == (10, 1)


def test_a_refused_bulk_entry_undoes_only_its_own_events_and_a_merge_sees_the_rest(database_url, account):
    """Entries' events wait to be written with the group's; a refused entry between two others drops only
    its own, and an entry whose identify merges an anonymous profile moves events gathered before it."""
    commit_ops(database_url, [TrackOp(account.id, ProfilePatch(identifiers={"email": "m@example.com"}))])
    op = _bulk(account.id,
               (ProfilePatch(identifiers={"anonymous_id": "cookie-b"}), ["anon-1"]),
               (ProfilePatch(identifiers={"email": "x@example.com"}, profile_id="01NOSUCHPROFILE0000000000"), ["gone"]),
               (ProfilePatch(identifiers={"email": "m@example.com", "anonymous_id": "cookie-b"}), ["known-1"]))
    (result,) = commit_ops(database_url, [op])
    assert (result.completed, result.failed, result.duplicates) == (2, 1, 0)
    rows = query(database_url, "SELECT e.unique_id, p.email FROM events e JOIN profiles p ON p.account_id = e.account_id "
                 "AND p.id = e.profile_id WHERE e.account_id = ? ORDER BY e.unique_id", (account.id,))
    assert rows == [("anon-1", "m@example.com"), ("known-1", "m@example.com")]


def _source_batch(account_id: str, email: str, unique_ids: list[str]) -> "SourceBatchOp":
    """A Segment / PostHog batch of one person's track messages, sharing one patch as the wires' do."""
    from footfall.domain.operations import SourceBatchOp

    patch = ProfilePatch(identifiers={"email": email})
    ops = [TrackOp(account_id, patch, Event(metric="Viewed", time=1_700_000_000, unique_id=u)) for u in unique_ids]
    return SourceBatchOp(account_id, ops, [f"batch[{i}]" for i in range(len(ops))])


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)  # pipeline mode: PostgreSQL's
def test_a_groups_events_go_to_postgresql_while_its_later_requests_are_applied(database_url, account, monkeypatch):
    """Inside the group's pipeline, events are sent once event_rows.SEND_AT of them wait, not all after
    the group's last request: PostgreSQL inserts one request's events while the writer applies the next
    (the Segment / PostHog routes reached 0.82x the bulk route's events/s on PostgreSQL without it).
    Outcomes are as before: a repeat across two statements is a duplicate naming the first copy."""
    from footfall.store import event_rows

    size = event_rows.SEND_AT
    first = _source_batch(account.id, "first@example.com", [f"a{i}" for i in range(size)])
    second = _source_batch(account.id, "second@example.com", [f"b{i}" for i in range(size)])
    repeat = _source_batch(account.id, "first@example.com", ["a0", "c0"])
    results, sent = _commit_recording_statements(database_url, [first, second, repeat], monkeypatch)
    writes = [("events" if text.startswith("INSERT INTO events") else "person") for text in sent
              if text.startswith("INSERT INTO events") or "INSERT INTO profile_identifiers" in text]
    assert writes[:3] == ["person", "events", "person"]  # the first request's events before the second's person
    assert [(r.events_stored, r.events_duplicate) for r in results] == [(size, 0), (size, 0), (1, 1)]
    assert query(database_url, "SELECT COUNT(*) FROM events WHERE account_id = ?", (account.id,)) == [(2 * size + 1,)]
    counts = _counters(database_url, account.id)
    assert (counts["events_stored"], counts["events_duplicate"]) == (2 * size + 1, 1)
