"""What the `footfall export`, `import` and `privacy delete` commands do, apart from their flags (cli.py)."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskProgressColumn, TextColumn, TimeRemainingColumn

from footfall import clock, config, ids
from footfall.domain import normalize
from footfall.failures import ImportRefused
from footfall.refusals import InvalidInput
from footfall.domain.privacy import DeleteProfilesOp, DeletionResult
from footfall.ingest.committer import LocalCommitter
from footfall.store import batch, db, exports
from footfall.transfer import export_files
from footfall.transfer.importer import MAX_REFUSALS_KEPT, Importer, Summary
from footfall.timefmt import parse_iso

PRINTED_REFUSALS = 20


def parse_time(text: str | None, flag: str) -> float | None:
    """ISO 8601 (a date, or a datetime; UTC if no offset) or epoch seconds."""
    if text is None:
        return None
    try:
        return float(text)
    except ValueError:
        pass
    try:
        return parse_iso(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise ValueError(f"{flag} {text!r} is not an ISO 8601 time or epoch seconds") from None


def _progress(console: Console, unit: str) -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), TaskProgressColumn(), MofNCompleteColumn(),
                    TextColumn("{task.fields[rate]}"), TextColumn("ETA"), TimeRemainingColumn(),
                    console=console, transient=False)


def export(conn: db.Conn, account_id: str, kind: str, fmt: str, output: Path | None, metrics: list[str] | None,
           since: str | None, until: str | None, *, progress: bool, console: Console) -> int:
    start, end = parse_time(since, "--since"), parse_time(until, "--until")
    if kind == "profiles" and (metrics or start is not None or end is not None):
        raise ValueError("--metric, --since and --until filter events; profiles are exported whole")
    if kind == "events":
        rows = exports.events(conn, account_id, metrics=metrics, since=start, until=end)
        total = exports.count_events(conn, account_id, metrics=metrics, since=start, until=end) if progress else 0
    else:
        rows = exports.profiles(conn, account_id)
        total = exports.count_profiles(conn, account_id) if progress else 0
    stream = open(output, "wb") if output else sys.stdout.buffer
    bar = _progress(console, kind) if progress else None
    began = time.monotonic()
    try:
        if bar is not None:
            bar.start()
            task = bar.add_task(f"export {kind}", total=total or None, rate="")

            def tick(n: int) -> None:
                rate = n / max(time.monotonic() - began, 1e-6)
                bar.update(task, completed=n, rate=f"{rate:,.0f} {kind}/s")
        else:
            def tick(n: int) -> None:
                return None
        if fmt == "csv":
            return export_files.write_csv(kind, rows, stream, tick)
        return export_files.write_jsonl(rows, stream, tick)
    finally:
        if bar is not None:
            bar.stop()
        if output:
            stream.close()
        else:
            stream.flush()


def delete_person(url: str, account_id: str, kind: str, value: str) -> dict[str, Any]:
    """Apply a deletion job as the server's writer does (the same applier, one transaction)."""
    settings = config.from_env()
    try:
        if kind == "email":
            value = normalize.email(value, "--email")
        elif kind == "phone_number":
            value = normalize.phone(value, "--phone", settings.default_phone_region)
    except InvalidInput as exc:
        raise ValueError(f"{exc.path}: {exc.detail}") from None
    op = DeleteProfilesOp(account_id, ids.new_ulid(), kind, value, None, clock.now())
    committer = LocalCommitter(lambda: db.connect(url), lambda conn, ops: batch.apply_batch(conn, ops, settings.limits))
    committer.connect()
    try:
        [result] = committer.commit([op])
    finally:
        committer.close()
    if not isinstance(result, DeletionResult):
        raise ValueError(str(result))
    return {"id": result.job_id, "identifier": kind, "counts": result.counts}


def run_import(url: str, account_id: str, kind: str, file: Path, fmt: str, restart: bool, *, progress: bool,
               console: Console) -> Summary:
    settings = config.from_env()
    bar = _progress(console, "bytes") if progress else None
    began = time.monotonic()
    task = None
    if bar is not None:
        bar.start()
        task = bar.add_task(f"import {kind}", total=file.stat().st_size, rate="")

    def on_progress(done: int, total: int) -> None:
        if bar is not None and task is not None:
            rate = done / max(time.monotonic() - began, 1e-6) / 1e6
            bar.update(task, completed=done, total=total, rate=f"{rate:.2f} MB/s")

    try:
        importer = Importer(url, account_id, kind, file, limits=settings.limits,
                            phone_region=settings.default_phone_region, fmt=fmt, restart=restart,
                            on_progress=on_progress)
        return importer.run()
    except ImportRefused as exc:
        raise ValueError(str(exc)) from None
    finally:
        if bar is not None:
            bar.stop()


def print_summary(summary: Summary, out: Console) -> None:
    rate = (summary.stored + summary.duplicates) / summary.seconds if summary.seconds else 0.0
    resumed = f" (resumed after line {summary.resumed_at})" if summary.resumed_at else ""
    out.print(f"{summary.lines} lines{resumed}: {summary.stored} stored, {summary.duplicates} duplicates, "
              f"{summary.refused} refused; {summary.seconds:.1f} s, {rate:,.0f} records/s ({summary.format})")
    shown = summary.refusals[:PRINTED_REFUSALS]
    for line, reason in shown:
        out.print(f"  line {line}: refused: {reason}", soft_wrap=True)
    if summary.refused > len(shown):
        out.print(f"  … and {summary.refused - len(shown)} more (--json lists the first {MAX_REFUSALS_KEPT})")
