"""Schema migrations upgrade a database in place, data intact, to exactly what schema.py defines."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import httpx
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine

from footfall.store import db, migrate, schema
from footfall.store.url import DatabaseURL
from tests.legacy_calls import verbose
from tests.servers import ServerThread, server_settings

HEAD = ScriptDirectory(str(migrate.MIGRATIONS)).get_current_head()


def fill_revision_0001(url: str) -> None:
    """What a Footfall at revision 0001 would have stored: an account, a profile, a metric, an event."""
    conn = db.connect(url)
    try:
        conn.begin()
        conn.execute("INSERT INTO accounts (id, name, public_key, created) VALUES (?, ?, ?, ?)",
                     ("A" * 26, "old shop", "OLD123", 1_600_000_000.5))
        conn.execute("INSERT INTO profiles (account_id, id, email, first_name, location, properties, consent, "
                     "created, updated) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     ("A" * 26, "P" * 26, "ann@example.com", "Ann", conn.to_json({"city": "Oslo"}),
                      conn.to_json({"vip": True}), conn.to_json({}), 1_600_000_000.0, 1_600_000_000.0))
        conn.execute("INSERT INTO profile_identifiers (account_id, kind, value, profile_id) VALUES (?, ?, ?, ?)",
                     ("A" * 26, "email", "ann@example.com", "P" * 26))
        conn.execute("INSERT INTO metrics (account_id, id, name, integration, created, updated) "
                     "VALUES (?, ?, ?, ?, ?, ?)", ("A" * 26, "MET001", "Ordered Product", "API", 1.6e9, 1.6e9))
        conn.execute("INSERT INTO events (account_id, id, metric_id, profile_id, time, value, unique_id, dedup_key, "
                     "properties, received) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                     ("A" * 26, "E" * 26, "MET001", "P" * 26, 1_600_000_000, 99.5, "o-1", "u:o-1",
                      conn.to_json({"$event_id": "o-1", "items": ["boots"]}), 1.6e9))
        conn.commit()
    finally:
        conn.close()


def differences(url: str) -> list:
    engine = create_engine(DatabaseURL(url).sqlalchemy)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True,
                                                                   "compare_server_default": True})
            return compare_metadata(context, schema.metadata)
    finally:
        engine.dispose()


def test_database_at_0001_with_data_upgrades_in_place(empty_database):
    migrate.upgrade(empty_database, "0001")
    assert migrate.current(empty_database) == "0001"
    fill_revision_0001(empty_database)

    done = subprocess.run([str(Path(sys.executable).with_name("footfall")), "db", "upgrade",
                           "--database", empty_database], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert f"schema at revision {HEAD}" in done.stdout
    assert migrate.current(empty_database) == HEAD
    assert differences(empty_database) == []

    conn = db.connect(empty_database)
    try:
        assert conn.all("SELECT id, name, public_key FROM accounts") == [("A" * 26, "old shop", "OLD123")]
        [(email, first, location, props)] = conn.all("SELECT email, first_name, location, properties FROM profiles")
        assert (email, first, conn.from_json(location), conn.from_json(props)) == (
            "ann@example.com", "Ann", {"city": "Oslo"}, {"vip": True})
        [(time, value, properties)] = conn.all("SELECT time, value, properties FROM events")
        assert (time, value, conn.from_json(properties)) == (1_600_000_000, 99.5, {"$event_id": "o-1", "items": ["boots"]})
    finally:
        conn.close()

    # The old data is live: the old profile is found, and its old event deduplicates a resend.
    srv = ServerThread(server_settings(database_url=empty_database)).start()
    try:
        with httpx.Client(base_url=srv.url) as c:
            resend = {"token": "OLD123", "event": "Ordered Product", "time": 1_600_000_000,
                      "customer_properties": {"$email": "ANN@example.com"}, "properties": {"$event_id": "o-1"}}
            body = verbose(c, "track", resend)
    finally:
        srv.stop()
    assert body["status"] == 1 and body["duplicate"] is True
    assert (body["profile_id"], body["event_id"]) == ("P" * 26, "E" * 26)


def test_upgrading_twice_changes_nothing(database_url):
    migrate.upgrade(database_url)
    assert migrate.current(database_url) == HEAD
    assert differences(database_url) == []
