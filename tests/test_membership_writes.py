"""Membership writes re-check what they change in their own transaction: the membership worker decides
from reads made before it, and a deletion job may have removed the person in between."""

from __future__ import annotations

from footfall.domain import topics
from footfall.store import db, segment_list_rows
from tests.servers import new_account


def _messages(conn, account_id: str) -> list[tuple[str, str]]:
    return [(t, p) for t, p in conn.all("SELECT topic, profile_id FROM outbox WHERE account_id = ? ORDER BY position",
                                        (account_id,))]


def _write(conn, fn, *args, **kwargs) -> None:
    conn.begin()
    fn(conn, *args, **kwargs)
    conn.commit()


def test_no_leave_or_join_is_written_or_sent_for_a_person_deleted_meanwhile(database_url):
    account = new_account(database_url, "membership-writes")
    conn = db.connect(database_url)
    try:
        for pid in ("P1", "P2"):
            _write(conn, lambda c, p=pid: c.execute(
                "INSERT INTO profiles (account_id, id, properties, location, consent, created, updated) "
                "VALUES (?, ?, ?, ?, ?, ?, ?)", (account.id, p, "{}", "{}", "{}", 1.0, 1.0)))
        _write(conn, segment_list_rows.record_joins, account.id, "G1", ["P1", "P2"], 10.0, kind="segment")
        assert _messages(conn, account.id) == [(topics.SEGMENT_JOINED, "P1"), (topics.SEGMENT_JOINED, "P2")]

        # A join decided before: P1 is a member already, P3 does not exist (deleted since, or never was).
        _write(conn, segment_list_rows.record_joins, account.id, "G1", ["P1", "P3"], 11.0, kind="segment")
        # P2 is deleted (its membership with it), then a leave decided before the deletion arrives.
        _write(conn, lambda c: c.execute("DELETE FROM group_members WHERE account_id = ? AND profile_id = ?",
                                         (account.id, "P2")))
        _write(conn, segment_list_rows.record_leaves, account.id, "G1", ["P1", "P2"], 12.0, kind="segment")
        assert _messages(conn, account.id) == [(topics.SEGMENT_JOINED, "P1"), (topics.SEGMENT_JOINED, "P2"),
                                               (topics.SEGMENT_LEFT, "P1")]
        rows = conn.all("SELECT profile_id, left_at FROM group_members WHERE account_id = ? ORDER BY profile_id",
                        (account.id,))
        assert [tuple(r) for r in rows] == [("P1", 12.0)]
    finally:
        conn.close()
