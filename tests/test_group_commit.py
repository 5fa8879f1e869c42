"""The group commit: a batch runs optimistically, and a refused op is replayed behind a savepoint.

These call the store's batch applier directly (the unit the writer thread commits) so that a
refusal can be placed mid-batch deterministically, which concurrent HTTP requests cannot do.
"""

from __future__ import annotations

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
