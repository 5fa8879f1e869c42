"""Planner statistics kept fresh on PostgreSQL for the tables ingest grows.

Autovacuum analyses a table once a tenth of it has changed, looking once a minute. Until then a
young table (a new install, a bench's database) is planned on statistics that count a few rows per
account, and PostgreSQL's planner, seeing an estimate of about one row for `account_id = ?`, rates
every index that starts with account_id the same as the primary key: lookups by id then read all of
the account's rows by another index on every call (the writer's owner read-ahead, the webhook
deliverer's renders: tests/test_plans_postgres.py). `refresh` analyses each such table as soon as
MIN_CHANGED rows, or FRACTION of it, changed since its last analysis; the worker calls it every
`analyze_check_seconds` (app.py). The analyses grow geometrically apart, so a table that has
grown to N rows was analysed about log(N) times, a sample of at most 30,000 rows each.
SQLite's planner needs none of this: it prefers a primary key's equality match without statistics.
"""

from __future__ import annotations

import logging

from footfall.store.conn import Conn

log = logging.getLogger("footfall.store")

TABLES = ("events", "profiles", "profile_identifiers", "profile_merges", "group_members", "outbox",
          "metric_rollups", "webhook_deliveries", "webhook_attempts")
MIN_CHANGED = 1000
FRACTION = 0.2
_LOCK = 0x466F6F74  # pg_try_advisory_xact_lock key: one worker of a cluster analyses at a time

_STALE = ("SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid "
          "WHERE s.schemaname = current_schema() AND s.relname = ANY(?) "
          "AND s.n_mod_since_analyze >= GREATEST(?, ? * GREATEST(c.reltuples, 0)) ORDER BY s.relname")


def stale(conn: Conn) -> list[str]:
    """The tables whose statistics lag behind what changed in them (see the module docstring)."""
    return [r[0] for r in conn.all(_STALE, (list(TABLES), MIN_CHANGED, FRACTION))]


def refresh(conn: Conn) -> list[str]:
    """ANALYZE the stale tables, unless another connection is doing so; returns those analysed."""
    if conn.dialect != "postgresql":
        return []
    tables = stale(conn)
    conn.rollback()
    if not tables:
        return []
    conn.begin()
    try:
        (ours,) = conn.one("SELECT pg_try_advisory_xact_lock(?)", (_LOCK,))
        if ours:
            for table in tables:
                conn.run(f'ANALYZE "{table}"')  # names from TABLES only
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    if ours:
        log.debug("analysed %s", ", ".join(tables))
    return tables if ours else []
