"""Create or upgrade the schema in place (Alembic), once, before any worker starts."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from footfall.store.url import DatabaseURL
from footfall.refusals import StoreUnavailable

MIGRATIONS = Path(__file__).parent / "migrations"
_LOCK_ID = 0x466F6F74  # "Foot": one migrator at a time across hosts sharing a PostgreSQL


def upgrade(url: str, revision: str = "head") -> None:
    if revision == "head" and _at_head(url):
        return  # the common case on every start: skip importing Alembic (about 0.5 s)
    from alembic import command
    from sqlalchemy import create_engine, text

    parsed = DatabaseURL(url)
    engine = create_engine(parsed.sqlalchemy)
    try:
        with engine.begin() as connection:
            if parsed.backend == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _LOCK_ID})
            cfg = _config()
            cfg.attributes["connection"] = connection
            command.upgrade(cfg, revision)
    finally:
        engine.dispose()


def current(url: str) -> str | None:
    from alembic.runtime.migration import MigrationContext
    from sqlalchemy import create_engine

    engine = create_engine(DatabaseURL(url).sqlalchemy)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


_ASSIGN = re.compile(r"^(revision|down_revision)\s*(?::[^=]*)?=\s*(.+)$", re.M)


def _heads() -> set[str]:
    """Revisions no other revision builds on, read from the version files without Alembic."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS / "versions").glob("*.py"):
        found = dict(_ASSIGN.findall(path.read_text()))
        if "revision" not in found:
            continue
        revisions.add(ast.literal_eval(found["revision"].strip()))
        down = ast.literal_eval(found.get("down_revision", "None").strip())
        parents.update(down if isinstance(down, (tuple, list)) else [down] if down else [])
    return revisions - parents


def _at_head(url: str) -> bool:
    """True when the database's alembic_version already holds exactly the head revisions."""
    from footfall.store import db

    try:
        conn = db.connect(url)
    except StoreUnavailable:
        return False
    try:
        stored = {row[0] for row in conn.all("SELECT version_num FROM alembic_version")}
    except Exception:  # no table yet: a new database
        return False
    finally:
        conn.close()
    try:
        return bool(stored) and stored == _heads()
    except (OSError, ValueError, SyntaxError):
        return False


def _config():
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg
