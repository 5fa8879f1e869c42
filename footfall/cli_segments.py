"""What `footfall segments …` shows and does, kept out of cli.py so the CLI stays a thin shell."""

from __future__ import annotations

import time
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from footfall import clock
from footfall.segments import evaluator
from footfall.store import segment_list_rows
from footfall.store.conn import Conn
from footfall.timefmt import iso


def segment_rows(conn: Conn, account_id: str) -> list[dict[str, Any]]:
    rows = segment_list_rows.segments(conn, account_id)
    return [{"id": r["id"], "name": r["name"], "members": segment_list_rows.member_count(conn, account_id, r["id"]),
             "is_processing": r["is_processing"], "updated": iso(r["updated"])} for r in rows]


def segment_detail(conn: Conn, account_id: str, segment_id: str) -> dict[str, Any] | None:
    row = segment_list_rows.segment(conn, account_id, segment_id)
    if row is None:
        return None
    return {"id": row["id"], "name": row["name"], "definition": row["definition"], "created": iso(row["created"]),
            "updated": iso(row["updated"]), "is_processing": row["is_processing"],
            "members": segment_list_rows.member_count(conn, account_id, segment_id)}


def member_rows(conn: Conn, account_id: str, segment_id: str, limit: int | None) -> list[dict[str, Any]]:
    rows = segment_list_rows.members_page(conn, account_id, segment_id, limit=limit if limit else 2**62)
    return [{"id": r["id"], "email": r["email"], "joined": iso(r["joined_at"])} for r in rows]


def evaluate(conn: Conn, account_id: str, segment_id: str, console: Console) -> dict[str, Any]:
    """Full evaluation with a progress bar over the membership writes (the query itself is one statement)."""
    row = segment_list_rows.segment(conn, account_id, segment_id)
    if row is None:
        raise LookupError(f"no segment {segment_id!r} in that account")
    seg = evaluator.segment_from_row(account_id, row)
    started = time.perf_counter()
    now = clock.now()
    with Progress(SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TextColumn("{task.completed}/{task.total}"),
                  TimeElapsedColumn(), console=console, transient=True) as progress:
        task = progress.add_task(f"evaluating {segment_id}", total=None)

        def advance(done: int, total: int) -> None:
            progress.update(task, description=f"recording changes of {segment_id}", completed=done, total=total)

        changes = evaluator.evaluate_full(conn, seg, now, advance)
    conn.begin()
    segment_list_rows.finish_processing(conn, account_id, segment_id, seg.version, now)
    conn.commit()
    members = segment_list_rows.member_count(conn, account_id, segment_id)
    conn.rollback()
    return {"members": members, "joined": len(changes.joined), "left": len(changes.left),
            "seconds": time.perf_counter() - started}
