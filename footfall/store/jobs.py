"""profile_jobs rows: deletion, suppression and profile bulk import jobs, written with the work they record."""

from __future__ import annotations

from typing import Any

from footfall.store.conn import Conn

COLUMNS = ("id", "kind", "status", "total", "completed", "failed", "skipped", "details", "created", "completed_at")


def insert(conn: Conn, account_id: str, job_id: str, kind: str, *, total: int, completed: int, failed: int = 0,
           skipped: int = 0, details: dict[str, Any], created: float, completed_at: float | None) -> None:
    """The job as it stands at its commit (every job here runs inside one writer transaction)."""
    conn.run(
        f"INSERT INTO profile_jobs (account_id, {', '.join(COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (account_id, job_id, kind, "complete", total, completed, failed, skipped, conn.to_json(details),
         created, completed_at),
    )


def get(conn: Conn, account_id: str, kind: str, job_id: str) -> dict[str, Any] | None:
    row = conn.one(f"SELECT {', '.join(COLUMNS)} FROM profile_jobs WHERE account_id = ? AND kind = ? AND id = ?",
                   (account_id, kind, job_id))
    return _job(conn, row) if row else None


def page(conn: Conn, account_id: str, kind: str, *, after: str | None, size: int,
         descending: bool = False) -> list[dict[str, Any]]:
    """Jobs of one kind by id (ULIDs: creation order), `size` after the cursor id."""
    op, order = ("<", "DESC") if descending else (">", "ASC")
    where = f" AND id {op} ?" if after else ""
    params: list[Any] = [account_id, kind, *([after] if after else []), size]
    rows = conn.all(f"SELECT {', '.join(COLUMNS)} FROM profile_jobs WHERE account_id = ? AND kind = ?{where} "
                    f"ORDER BY id {order} LIMIT ?", params)
    return [_job(conn, row) for row in rows]


def _job(conn: Conn, row: Any) -> dict[str, Any]:
    job = dict(zip(COLUMNS, row))
    job["details"] = conn.from_json(job["details"]) or {}
    return job
