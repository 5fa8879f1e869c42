"""Create or upgrade the schema in place (Alembic), once, before any worker starts."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import create_engine, text

from footfall.store.url import DatabaseURL

MIGRATIONS = Path(__file__).parent / "migrations"
_LOCK_ID = 0x466F6F74  # "Foot": one migrator at a time across hosts sharing a PostgreSQL


def upgrade(url: str, revision: str = "head") -> None:
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

    engine = create_engine(DatabaseURL(url).sqlalchemy)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        engine.dispose()


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return cfg
