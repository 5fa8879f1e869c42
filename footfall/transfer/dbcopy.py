"""`footfall db copy`: every table of store/schema.py from one database into another, then verified.

Generic over the schema's metadata, so a table someone adds is copied with no change here. Rows are
read and written through SQLAlchemy's column types (JSON text on SQLite ⇄ JSONB on PostgreSQL), in
the schema's dependency order, all in one target transaction: a failed copy leaves the target as it
was. Verification reads both sides again and compares, per table, the row count and a checksum that
does not depend on row order (a sum of per-row SHA-256 digests; JSON with sorted keys).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from sqlalchemy import Table, create_engine, event, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.engine import Connection, Engine

from footfall.store import migrate, schema
from footfall.store.url import DatabaseURL
from footfall.failures import CopyMismatch as _Mismatch, CopyRefused

BATCH = 2000
_MOD = 2 ** 256


@dataclass
class TableReport:
    name: str
    rows: int
    checksum: str
    verified: bool


@dataclass
class CopyReport:
    tables: list[TableReport] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def verified(self) -> bool:
        return all(t.verified for t in self.tables)

    @property
    def total_rows(self) -> int:
        return sum(t.rows for t in self.tables)


def tables() -> list[Table]:
    return list(schema.metadata.sorted_tables)


def _engine(url: str, *, snapshot: bool = False) -> Engine:
    """snapshot: every read of the copy sees one state of the database (a writer may run meanwhile)."""
    parsed = DatabaseURL(url)
    if parsed.backend != "sqlite":
        return create_engine(parsed.sqlalchemy, isolation_level="REPEATABLE READ" if snapshot else None)
    engine = create_engine(parsed.sqlalchemy)

    # pysqlite emits no BEGIN of its own; SQLAlchemy's documented recipe makes transactions real, so
    # the source is read in one WAL snapshot and the target written in one transaction.
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None
        dbapi_connection.execute("PRAGMA busy_timeout=10000")

    @event.listens_for(engine, "begin")
    def _begin(connection: Connection) -> None:
        connection.exec_driver_sql("BEGIN")

    return engine


def _account_column(table: Table) -> Any:
    return table.c.id if table.name == "accounts" else table.c.account_id


def _rows(conn: Connection, table: Table, accounts: list[str] | None) -> Iterator[dict[str, Any]]:
    query = select(table)
    if accounts is not None:
        query = query.where(_account_column(table).in_(accounts))
    result = conn.execution_options(stream_results=True, yield_per=BATCH).execute(query)
    for row in result.mappings():
        yield dict(row)


def _canonical(value: Any) -> str:
    if value is None:
        return "N"
    if isinstance(value, bool):
        return "T" if value else "F"
    if isinstance(value, float):
        return "f" + value.hex()
    if isinstance(value, int):
        return "i" + str(value)
    if isinstance(value, (dict, list)):
        return "j" + json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return "s" + str(value)


def row_digest(table: Table, row: dict[str, Any]) -> int:
    text = "\x1f".join(_canonical(row[c.name]) for c in table.columns)
    return int.from_bytes(hashlib.sha256(text.encode()).digest(), "big")


def table_checksum(conn: Connection, table: Table, accounts: list[str] | None = None) -> tuple[int, str]:
    """(rows, checksum) of a table, optionally only the rows of some accounts."""
    total, n = 0, 0
    for row in _rows(conn, table, accounts):
        total = (total + row_digest(table, row)) % _MOD
        n += 1
    return n, f"{total:064x}"


def _count(conn: Connection, table: Table) -> int:
    return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def copy(source: str, target: str, *, allow_non_empty: bool = False, console: Console | None = None) -> CopyReport:
    if DatabaseURL(source).redacted() == DatabaseURL(target).redacted():
        raise CopyRefused("--from and --to name the same database")
    started = time.monotonic()
    migrate.upgrade(source)  # both at the same (latest) revision, so their tables are the schema's
    migrate.upgrade(target)
    src, dst = _engine(source, snapshot=True), _engine(target)
    report = CopyReport()
    try:
        with src.begin() as read, dst.begin() as write:
            counts = {t.name: _count(read, t) for t in tables()}
            taken = [t.name for t in tables() if _count(write, t)]
            if taken and not allow_non_empty:
                raise CopyRefused(f"the target is not empty ({', '.join(taken)} have rows); "
                                  "copy into an empty database, or pass --allow-non-empty")
            accounts = [r[0] for r in read.execute(select(schema.accounts.c.id))] if allow_non_empty else None
            progress = _progress(console, sum(counts.values()))
            try:
                for table in tables():
                    _copy_table(read, write, table, progress)
            finally:
                if progress is not None:
                    progress.stop()
            # Verify inside the target transaction: what is compared is exactly what commits.
            for table in tables():
                n_src, sum_src = table_checksum(read, table, accounts)
                n_dst, sum_dst = table_checksum(write, table, accounts)
                report.tables.append(TableReport(table.name, n_src, sum_src, n_src == n_dst and sum_src == sum_dst))
            if not report.verified:
                raise _Mismatch()  # leaving the block this way rolls the target back
    except _Mismatch:
        pass
    except IntegrityError as exc:
        raise CopyRefused("the target already holds rows with the same keys as the source "
                          f"({str(exc.orig).splitlines()[0]}); nothing was copied") from None
    finally:
        src.dispose()
        dst.dispose()
    report.seconds = time.monotonic() - started
    return report


def _copy_table(read: Connection, write: Connection, table: Table, progress: Progress | None) -> None:
    task = progress.add_task(table.name, total=None, rate="") if progress is not None else None
    began = time.monotonic()
    batch: list[dict[str, Any]] = []
    done = 0
    for row in _rows(read, table, None):
        batch.append(row)
        if len(batch) >= BATCH:
            write.execute(table.insert(), batch)
            done += len(batch)
            batch = []
            if progress is not None:
                progress.update(task, completed=done, rate=f"{done / max(time.monotonic() - began, 1e-6):,.0f} rows/s")
                progress.advance(progress.task_ids[0], BATCH)
    if batch:
        write.execute(table.insert(), batch)
        done += len(batch)
        if progress is not None:
            progress.advance(progress.task_ids[0], len(batch))
    if progress is not None:
        progress.update(task, completed=done, total=done, rate="")


def _progress(console: Console | None, total: int) -> Progress | None:
    if console is None:
        return None
    progress = Progress(TextColumn("{task.description:>20}"), BarColumn(), MofNCompleteColumn(),
                        TextColumn("{task.fields[rate]}"), TimeRemainingColumn(), console=console)
    progress.start()
    progress.add_task("all tables", total=total, rate="")
    return progress
