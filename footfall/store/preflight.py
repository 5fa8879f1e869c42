"""Is this database URL usable? Said before anything is created, with what is wrong and how to fix it.

A mistyped URL must not quietly become an empty SQLite file, and an unreachable PostgreSQL must not
end in a driver traceback: the CLI asks check() first and prints its one line.
"""

from __future__ import annotations

import os

from footfall.store.url import DatabaseURL
from footfall.failures import DatabaseProblem


def check(url: str) -> DatabaseURL:
    """The parsed URL if it names a database Footfall can open (DatabaseProblem otherwise)."""
    if "://" not in url and not url.startswith("sqlite:"):
        raise DatabaseProblem(f"{url!r} is not a database URL: use sqlite:///PATH (a file) or "
                              "postgresql://USER@HOST/DATABASE")
    parsed = DatabaseURL(url)
    try:
        backend = parsed.backend
    except ValueError as exc:
        raise DatabaseProblem(str(exc)) from None
    if backend == "sqlite":
        _check_sqlite(parsed)
    else:
        _check_postgresql(parsed)
    return parsed


def _check_sqlite(parsed: DatabaseURL) -> None:
    path = parsed.sqlite_path
    if path == ":memory:":
        raise DatabaseProblem("an in-memory SQLite database would be lost at exit: use sqlite:///PATH")
    directory = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(directory):
        raise DatabaseProblem(f"the directory of SQLite database {path!r} does not exist: create it "
                              f"(mkdir -p {directory}) or choose another path")
    if os.path.isdir(path):
        raise DatabaseProblem(f"SQLite database {path!r} is a directory: name a file, e.g. sqlite:///{path}/footfall.db")
    if not os.access(path if os.path.exists(path) else directory, os.W_OK):
        raise DatabaseProblem(f"SQLite database {path!r} is not writable by this user")


def _check_postgresql(parsed: DatabaseURL) -> None:
    import psycopg

    try:
        with psycopg.connect(parsed.libpq, connect_timeout=5):
            pass
    except psycopg.OperationalError as exc:
        raise DatabaseProblem(_postgresql_reason(parsed, str(exc))) from None
    except psycopg.ProgrammingError as exc:  # e.g. a malformed connection string
        raise DatabaseProblem(f"{parsed.redacted()!r} is not a valid PostgreSQL URL: {_first_line(str(exc))}") from None


def _postgresql_reason(parsed: DatabaseURL, message: str) -> str:
    where = parsed.redacted()
    lowered = message.lower()
    if "does not exist" in lowered and "database" in lowered:
        name = parsed.libpq.rsplit("/", 1)[-1].split("?", 1)[0]
        return f"PostgreSQL database {name!r} does not exist ({where}): create it with `createdb {name}`"
    if "password" in lowered or "authentication" in lowered or "role" in lowered:
        return f"PostgreSQL refused the login ({where}): {_first_line(message)}; check the user and password"
    return (f"cannot reach PostgreSQL at {where}: {_first_line(message)}; is the server running, and are "
            "the host and port right?")


def _first_line(message: str) -> str:
    lines = [line.strip() for line in message.strip().splitlines() if line.strip()]
    return lines[0] if lines else message.strip()
