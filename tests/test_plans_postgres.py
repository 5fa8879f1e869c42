"""Lookups by id stay primary-key lookups on PostgreSQL while the statistics are stale.

An account that has grown since autovacuum last analysed the table (a young table, a new account)
is one the statistics count few rows for; a query left to the planner then scanned all of the
account's rows on every call, by another index that starts with account_id (the webhook
deliverer's renders took 2 ms each in `bench webhooks` and grew with the account). Each test makes
that state (a few rows of the account among others', ANALYZE, then many more of it) and counts the
rows PostgreSQL read for one call, from pg_stat_xact_user_tables (this transaction's own counts),
after enough calls that the statement is prepared and PostgreSQL may plan it generically.
"""

from __future__ import annotations

import time
from typing import Iterator

import pytest

from footfall.store import db, outbox, profile_upserts, statistics
from footfall.store.queries import profiles as profile_queries
from tests.conftest import drop_pg_database, make_pg_database
from tests.servers import ServerThread, server_settings

ROWS = 3000  # the young account's events, profiles and identifiers
ASKED = 20
CALLS = 12  # psycopg prepares a statement at its 5th run; PostgreSQL may go generic after 5 more

# Ids unique across accounts, as ULIDs are: `{account}-p{n}` and `{account}-e{n}`, numbered from `first`.
_PROFILES = ("INSERT INTO profiles (account_id, id, email, location, properties, consent, created, updated) "
             "SELECT %(a)s::text, %(a)s::text || '-p' || g, %(a)s::text || '-p' || g || '@example.com', '{}', '{}', '{}', g, g "
             "FROM generate_series(%(first)s::int, %(last)s::int) g")
_IDENTIFIERS = ("INSERT INTO profile_identifiers (account_id, kind, value, profile_id) "
                "SELECT %(a)s::text, 'email', %(a)s::text || '-p' || g || '@example.com', %(a)s::text || '-p' || g "
                "FROM generate_series(%(first)s::int, %(last)s::int) g")
_EVENTS = ("INSERT INTO events (account_id, id, metric_id, profile_id, time, unique_id, dedup_key, properties, received) "
           "SELECT %(a)s::text, %(a)s::text || '-e' || g, 'm1', %(a)s::text || '-p' || g, g, 'u' || g, %(a)s::text || '-d' || g, '{}', g "
           "FROM generate_series(%(first)s::int, %(last)s::int) g")


def add_rows(cur, account_id: str, first: int, last: int) -> None:
    for sql in (_PROFILES, _IDENTIFIERS, _EVENTS):
        cur.execute(sql, {"a": account_id, "first": first, "last": last})


def stale_database(young_before: int) -> str:
    """A new database whose statistics were taken when the account `young` had `young_before` rows
    of each kind (among two other accounts' 50); it has ROWS now."""
    url = make_pg_database()
    conn = db.connect(url)
    try:
        cur = conn.raw.cursor()
        for account_id, n in (("old1", 50), ("old2", 50), ("young", young_before)):
            add_rows(cur, account_id, 1, n)
        conn.raw.commit()
        conn.raw.autocommit = True
        cur.execute("ANALYZE")
        conn.raw.autocommit = False
        add_rows(cur, "young", young_before + 1, ROWS)
        conn.raw.commit()
    finally:
        conn.close()
    return url


@pytest.fixture(scope="module")
def stale() -> Iterator[str]:
    """The account grew since the statistics were taken: the form of each query keeps the primary key."""
    url = stale_database(young_before=5)
    yield url
    drop_pg_database(url)


@pytest.fixture
def unseen() -> Iterator[str]:
    """The account had no rows when the statistics were taken: to the planner it has about one, which
    rates every account_id index as good as the primary key; only fresh statistics help."""
    url = stale_database(young_before=0)
    yield url
    drop_pg_database(url)


def rows_read(conn, table: str) -> int:
    (n,) = conn.one("SELECT COALESCE(seq_tup_read, 0) + COALESCE(idx_tup_fetch, 0) FROM pg_stat_xact_user_tables "
                    "WHERE relname = ?", (table,))
    return int(n)


def reads_of_last(conn, call, *tables: str) -> dict[str, int]:
    """The rows read from each table by the last of CALLS calls."""
    for _ in range(CALLS - 1):
        call()
    before = {t: rows_read(conn, t) for t in tables}
    call()
    return {t: rows_read(conn, t) - before[t] for t in tables}


@pytest.fixture
def conn(stale):
    conn = db.connect(stale)
    conn.begin()
    conn.run("SET LOCAL plan_cache_mode = force_generic_plan")
    yield conn
    conn.rollback()
    conn.close()


def test_events_by_ids_reads_only_the_events_asked_for(conn):
    wanted = [f"young-e{i}" for i in range(ROWS - ASKED, ROWS)]
    assert sorted(outbox.events_by_ids(conn, "young", wanted)) == sorted(wanted)
    read = reads_of_last(conn, lambda: outbox.events_by_ids(conn, "young", wanted), "events")
    assert read["events"] <= 2 * ASKED


def test_profiles_by_ids_reads_only_the_profiles_asked_for(conn):
    wanted = [f"young-p{i}" for i in range(ROWS - ASKED, ROWS)]
    assert [p["id"] for p in profile_queries.by_ids(conn, "young", wanted)] == sorted(wanted)
    read = reads_of_last(conn, lambda: profile_queries.by_ids(conn, "young", wanted), "profiles", "events")
    assert read["profiles"] <= 2 * ASKED
    assert read["events"] <= 2 * ASKED  # last_event_time: one index lookup per profile


def test_prefetched_owners_read_only_the_identifiers_and_profiles_asked_for(conn):
    keys = [("email", f"young-p{i}@example.com") for i in range(ROWS - ASKED, ROWS)]

    def prefetch():
        conn.batch_cache.clear()
        profile_upserts._prefetch_chunk(conn, "young", keys)

    prefetch()
    assert [conn.batch_cache[("owner", "young", *key)] for key in keys] == [f"young-p{i}" for i in range(ROWS - ASKED, ROWS)]
    read = reads_of_last(conn, prefetch, "profile_identifiers", "profiles")
    assert read["profile_identifiers"] <= 2 * ASKED
    assert read["profiles"] <= 2 * ASKED


def test_owners_read_only_the_identifiers_and_profiles_asked_for(conn):
    """The owners of identifiers not read ahead (a group repeating a person reads them per request)."""
    keys = [("email", f"young-p{i}@example.com") for i in range(ROWS - ASKED, ROWS)]
    owners, rows = profile_upserts._owners(conn, "young", keys)
    assert [owners[key] for key in keys] == [f"young-p{i}" for i in range(ROWS - ASKED, ROWS)]
    assert sorted(rows) == sorted(owners.values())
    read = reads_of_last(conn, lambda: profile_upserts._owners(conn, "young", keys), "profile_identifiers", "profiles")
    assert read["profile_identifiers"] <= 2 * ASKED
    assert read["profiles"] <= 2 * ASKED


def lookups_read(conn) -> dict[str, int]:
    """Rows read by the three lookups of ASKED ids each, as the writer and the deliverer make them."""
    events = [f"young-e{i}" for i in range(ROWS - ASKED, ROWS)]
    profiles = [f"young-p{i}" for i in range(ROWS - ASKED, ROWS)]
    keys = [("email", f"young-p{i}@example.com") for i in range(ROWS - ASKED, ROWS)]
    tables = ("events", "profiles", "profile_identifiers")
    before = {t: rows_read(conn, t) for t in tables}
    assert len(outbox.events_by_ids(conn, "young", events)) == ASKED
    assert len(profile_queries.by_ids(conn, "young", profiles)) == ASKED
    conn.batch_cache.clear()
    profile_upserts._prefetch_chunk(conn, "young", keys)
    return {t: rows_read(conn, t) - before[t] for t in tables}


def test_refresh_analyses_the_tables_grown_past_their_statistics(unseen):
    conn = db.connect(unseen)
    try:
        assert {"events", "profiles", "profile_identifiers"} <= set(statistics.stale(conn))
        assert {"events", "profiles", "profile_identifiers"} <= set(statistics.refresh(conn))
        assert statistics.stale(conn) == []
        assert statistics.refresh(conn) == []  # nothing more to do
        conn.begin()
        read = lookups_read(conn)
        conn.rollback()
        # events: the ids asked, and one last_event_time lookup per profile
        assert read == {"events": 2 * ASKED, "profiles": 2 * ASKED, "profile_identifiers": ASKED}
    finally:
        conn.close()


def changed_since_analysis(url: str, table: str, at_least: int) -> int:
    """n_mod_since_analyze of `table`, once it counts at least `at_least` (a backend reports its
    counts when it ends or goes idle, not at once), or what it counts after 10 s."""
    conn = db.connect(url)
    try:
        deadline = time.monotonic() + 10
        while True:
            (n,) = conn.one("SELECT n_mod_since_analyze FROM pg_stat_user_tables WHERE relname = ?", (table,))
            conn.rollback()
            if n >= at_least or time.monotonic() > deadline:
                return int(n)
            time.sleep(0.1)
    finally:
        conn.close()


@pytest.mark.parametrize("own_database", ["postgres"], indirect=True)
def test_a_table_changed_by_less_than_the_threshold_is_left_alone(own_database):
    conn = db.connect(own_database)
    add_rows(conn.raw.cursor(), "small", 1, statistics.MIN_CHANGED // 2)
    conn.raw.commit()
    conn.close()
    assert changed_since_analysis(own_database, "events", statistics.MIN_CHANGED // 2) == statistics.MIN_CHANGED // 2
    conn = db.connect(own_database)
    try:
        assert statistics.stale(conn) == []
        add_rows(conn.raw.cursor(), "small", statistics.MIN_CHANGED // 2 + 1, statistics.MIN_CHANGED)
        conn.raw.commit()
    finally:
        conn.close()
    assert changed_since_analysis(own_database, "events", statistics.MIN_CHANGED) == statistics.MIN_CHANGED
    conn = db.connect(own_database)
    try:
        assert "events" in statistics.stale(conn)  # at the threshold
    finally:
        conn.close()


@pytest.mark.parametrize("own_database", ["postgres"], indirect=True)
def test_a_running_server_analyses_by_itself(own_database):
    srv = ServerThread(server_settings(database_url=own_database, analyze_check_seconds=0.2)).start()
    conn = db.connect(own_database)
    try:
        cur = conn.raw.cursor()
        add_rows(cur, "young", 1, ROWS)
        conn.raw.commit()
        # Analysed by the server's ANALYZE (last_analyze), not autovacuum's (last_autoanalyze).
        analysed = "SELECT last_analyze IS NOT NULL FROM pg_stat_user_tables WHERE relname = 'events'"
        deadline = time.monotonic() + 10
        while not conn.one(analysed)[0] and time.monotonic() < deadline:
            conn.rollback()
            time.sleep(0.1)
        assert conn.one(analysed)[0]
        assert "events" not in statistics.stale(conn)
    finally:
        conn.close()
        srv.stop()
