"""Lookups by id stay primary-key lookups on PostgreSQL while the statistics are stale.

An account that has grown since autovacuum last analysed the table (a young table, a new account)
is one the statistics count few rows for; a query left to the planner then scanned all of the
account's rows on every call, by another index that starts with account_id (the webhook
deliverer's renders took 2 ms each in `bench webhooks` and grew with the account). Each test makes
that state (a few rows of the account among others', ANALYZE, then many more of it) and counts the
rows PostgreSQL read for one call, from pg_stat_xact_user_tables (this transaction's own counts).
"""

from __future__ import annotations

import pytest

from footfall.store import db, outbox, profile_upserts
from footfall.store.queries import profiles as profile_queries
from tests.conftest import drop_pg_database, make_pg_database

ROWS = 3000  # the young account's events, profiles and identifiers
ASKED = 20

_PROFILES = ("INSERT INTO profiles (account_id, id, email, location, properties, consent, created, updated) "
             "SELECT %s, 'p' || g, 'p' || g || '@example.com', '{}', '{}', '{}', g, g "
             "FROM generate_series(1, %s) g")
_IDENTIFIERS = ("INSERT INTO profile_identifiers (account_id, kind, value, profile_id) "
                "SELECT %s, 'email', 'p' || g || '@example.com', 'p' || g FROM generate_series(1, %s) g")
_EVENTS = ("INSERT INTO events (account_id, id, metric_id, profile_id, time, unique_id, dedup_key, properties, received) "
           "SELECT %s, 'e' || g, 'm1', 'p' || g, g, 'u' || g, 'd' || g, '{}', g FROM generate_series(1, %s) g")


@pytest.fixture(scope="module")
def stale() -> str:
    """A database whose statistics were taken when the account `young` had few rows."""
    url = make_pg_database()
    conn = db.connect(url)
    try:
        cur = conn.raw.cursor()
        for account_id, n in (("old1", 50), ("old2", 50), ("young", 5)):
            for sql in (_PROFILES, _IDENTIFIERS, _EVENTS):
                cur.execute(sql, (account_id, n))
        conn.raw.commit()
        conn.raw.autocommit = True
        cur.execute("ANALYZE")
        conn.raw.autocommit = False
        for sql in (_PROFILES, _IDENTIFIERS, _EVENTS):
            cur.execute(sql.replace("FROM generate_series(1,", "FROM generate_series(6,"), ("young", ROWS))
        conn.raw.commit()
    finally:
        conn.close()
    yield url
    drop_pg_database(url)


def rows_read(conn, table: str) -> int:
    (n,) = conn.one("SELECT COALESCE(seq_tup_read, 0) + COALESCE(idx_tup_fetch, 0) FROM pg_stat_xact_user_tables "
                    "WHERE relname = ?", (table,))
    return int(n)


@pytest.fixture
def conn(stale):
    conn = db.connect(stale)
    conn.begin()
    yield conn
    conn.rollback()
    conn.close()


def test_events_by_ids_reads_only_the_events_asked_for(conn):
    wanted = [f"e{i}" for i in range(ROWS - ASKED, ROWS)]
    found = outbox.events_by_ids(conn, "young", wanted)
    assert sorted(found) == sorted(wanted)
    assert rows_read(conn, "events") <= 2 * ASKED


def test_profiles_by_ids_reads_only_the_profiles_asked_for(conn):
    wanted = [f"p{i}" for i in range(ROWS - ASKED, ROWS)]
    found = profile_queries.by_ids(conn, "young", wanted)
    assert [p["id"] for p in found] == sorted(wanted)
    assert rows_read(conn, "profiles") <= 2 * ASKED
    assert rows_read(conn, "events") <= 2 * ASKED  # last_event_time: one index lookup per profile


def test_prefetched_owners_read_only_the_identifiers_asked_for(conn):
    keys = [("email", f"p{i}@example.com") for i in range(ROWS - ASKED, ROWS)]
    profile_upserts._prefetch_chunk(conn, "young", keys)
    assert all(conn.batch_cache[("owner", "young", *key)] for key in keys)
    assert rows_read(conn, "profile_identifiers") <= 2 * ASKED
    assert rows_read(conn, "profiles") <= 2 * ASKED
