"""The group commit: a batch runs optimistically, and a refused op is replayed behind a savepoint.

These call the store's batch applier directly (the unit the writer thread commits) so that a
refusal can be placed mid-batch deterministically, which concurrent HTTP requests cannot do.
"""

from __future__ import annotations

import json
import uuid

from footfall import clock
from footfall.domain.errors import NotFound
from footfall.domain.limits import Limits
from footfall.domain.models import Event, ProfilePatch, TrackOp, WriteResult
from footfall.store import batch, db


def _track(account_id: str, email: str, metric: str, *, profile_id: str | None = None) -> TrackOp:
    patch = ProfilePatch(identifiers={"email": email}, profile_id=profile_id)
    return TrackOp(account_id, patch, Event(metric=metric, time=int(clock.now()), unique_id=email))


def _commit(url: str, ops: list[TrackOp]) -> list:
    conn = db.connect(url)
    try:
        conn.begin()
        results = batch.apply_batch(conn, ops, Limits())
        conn.commit()
        return results
    finally:
        conn.close()


def _rows(url: str, sql: str, params: tuple) -> list[tuple]:
    conn = db.connect(url)
    try:
        return conn.all(sql, params)
    finally:
        conn.close()


def test_a_refused_op_mid_batch_leaves_no_trace_and_spoils_nothing(database_url, account):
    ops = [
        _track(account.id, "a@example.com", "Viewed"),
        # creates metric "Refused Metric" and then is refused: the metric must be rolled back too
        _track(account.id, "b@example.com", "Refused Metric", profile_id="01NOSUCHPROFILE0000000000"),
        _track(account.id, "c@example.com", "Viewed"),
    ]
    results = _commit(database_url, ops)
    assert isinstance(results[0], WriteResult) and isinstance(results[2], WriteResult)
    assert isinstance(results[1], NotFound)
    emails = _rows(database_url, "SELECT email FROM profiles WHERE account_id = ? ORDER BY email", (account.id,))
    assert emails == [("a@example.com",), ("c@example.com",)]
    metrics = _rows(database_url, "SELECT name FROM metrics WHERE account_id = ?", (account.id,))
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
    joined = _rows(database_url, "SELECT m.name FROM events e JOIN metrics m ON m.account_id = e.account_id "
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
    joined = _rows(database_url, "SELECT m.name FROM events e JOIN metrics m ON m.account_id = e.account_id "
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
    profiles = sorted(_rows(url, "SELECT email, external_id, anonymous_id, first_name, properties FROM profiles "
                                 "WHERE account_id = ?", (account_id,)), key=repr)
    events = sorted(_rows(url, "SELECT p.email, p.external_id, p.anonymous_id, m.name, e.unique_id FROM events e "
                               "JOIN profiles p ON p.account_id = e.account_id AND p.id = e.profile_id "
                               "JOIN metrics m ON m.account_id = e.account_id AND m.id = e.metric_id "
                               "WHERE e.account_id = ?", (account_id,)), key=repr)
    owners = sorted(_rows(url, "SELECT i.kind, i.value, p.email, p.external_id, p.anonymous_id FROM profile_identifiers i "
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
            _commit(database_url, [TrackOp(acc.id, ProfilePatch(identifiers={"email": f"p{i}@example.com"}))
                                   for i in range(4)])
        for_batched = [TrackOp(batched.id, op.profile, op.event) for op in ops]
        for_single = [TrackOp(single.id, op.profile, op.event) for op in ops]
        results = _commit(database_url, for_batched)
        one_by_one = [_commit(database_url, [op])[0] for op in for_single]
        assert [type(r) for r in results] == [type(r) for r in one_by_one]
        assert [getattr(r, "duplicate", None) for r in results] == [getattr(r, "duplicate", None) for r in one_by_one]
        assert _state(database_url, batched.id) == _state(database_url, single.id), f"seed {seed}"


def test_later_ops_of_a_batch_see_earlier_ops_changes_to_the_same_person(database_url, account):
    _commit(database_url, [TrackOp(account.id, ProfilePatch(identifiers={"email": "same@example.com"}))])
    _commit(database_url, [
        TrackOp(account.id, ProfilePatch(identifiers={"email": "same@example.com"}, properties={"k1": 1})),
        TrackOp(account.id, ProfilePatch(identifiers={"email": "other@example.com"}, properties={"k0": 0})),
        TrackOp(account.id, ProfilePatch(identifiers={"email": "same@example.com"}, properties={"k2": 2})),
    ])
    (props,) = _rows(database_url, "SELECT properties FROM profiles WHERE account_id = ? AND email = ?",
                     (account.id, "same@example.com"))[0]
    assert (json.loads(props) if isinstance(props, str) else props) == {"k1": 1, "k2": 2}


def test_an_anonymous_profile_merged_early_in_a_batch_is_not_used_later_in_it(database_url, account):
    _commit(database_url, [TrackOp(account.id, ProfilePatch(identifiers={"anonymous_id": "cookie-9"})),
                           TrackOp(account.id, ProfilePatch(identifiers={"email": "known@example.com"}))])
    _commit(database_url, [
        TrackOp(account.id, ProfilePatch(identifiers={"email": "known@example.com", "anonymous_id": "cookie-9"})),
        TrackOp(account.id, ProfilePatch(identifiers={"anonymous_id": "cookie-9"}),
                Event(metric="Viewed", time=1_700_000_000, unique_id="after-merge")),
    ])
    owners = _rows(database_url, "SELECT p.email FROM events e JOIN profiles p ON p.account_id = e.account_id "
                   "AND p.id = e.profile_id WHERE e.account_id = ?", (account.id,))
    assert owners == [("known@example.com",)]
