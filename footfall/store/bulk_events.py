"""Bulk event create: up to 1000 events in one pipeline operation, and the job record that reports it.

A unique_id repeated for the same profile and metric within the request refuses the whole operation
(nothing stored), as Klaviyo documents. Any other refusal (an unknown profile id, the metric limit)
fails only that entry, which the job counts in `failed` with the reason in `errors`.
"""

from __future__ import annotations

from typing import Any

from footfall import clock
from footfall.refusals import Conflict, InvalidInput, NotFound, RepeatedUniqueId, answer
from footfall.domain.limits import Limits
from footfall.domain.event_dedup import repeated_unique_id
from footfall.domain.operations import BulkEntry, BulkEventsOp, BulkResult
from footfall.store import deleted, event_rows, profile_upserts, track_writes
from footfall.store.conn import Conn
from footfall.store.tally import Tally

JOB_TYPE = "event-bulk-create-job"
_ENTRY_REFUSALS = (NotFound, Conflict)
_JOB_COLUMNS = ("id", "status", "total", "completed", "failed", "errors", "created", "completed_at")


def apply_bulk(conn: Conn, op: BulkEventsOp, limits: Limits, tally: Tally) -> BulkResult:
    now = clock.now()
    result = BulkResult(job_id=op.job_id, total=op.total)
    seen: set[tuple[str, str, str]] = set()
    for entry in op.entries:
        _apply_entry(conn, op.account_id, entry, limits, tally, now, seen, result)
    if op.job_id is not None:
        _insert_job(conn, op.account_id, result, now)
    return result


def _apply_entry(conn: Conn, account_id: str, entry: BulkEntry, limits: Limits, tally: Tally, now: float,
                 seen: set[tuple[str, str, str]], result: BulkResult) -> None:
    """One profile and its events, behind a nested savepoint so a refused entry leaves nothing."""
    if limits.suppress_after_delete and deleted.names_deleted(conn, account_id, entry.profile):
        track_writes.dropped_after_delete(account_id, tally, len(entry.events))
        result.completed += len(entry.events)  # accepted, as a duplicate is, but not stored
        result.dropped += len(entry.events)
        return
    conn.execute("SAVEPOINT bulk_entry")
    saved = tally.mark()
    try:
        metric_ids = _metric_ids(conn, account_id, entry, limits, now)
        profile = profile_upserts.upsert_profile(conn, account_id, entry.profile, now, tally)
        _refuse_repeats(seen, profile.profile_id, metric_ids, entry)
        pending = event_rows.insert_events(conn, account_id, metric_ids, profile.profile_id, entry.events, now,
                                           limits.dedup_without_id)
    except RepeatedUniqueId:
        raise  # the batch's savepoint for the whole operation undoes every entry
    except (*_ENTRY_REFUSALS, InvalidInput) as exc:
        conn.execute("ROLLBACK TO SAVEPOINT bulk_entry")
        conn.forget()  # a metric this entry created is undone: its cached id must not be used
        conn.execute("RELEASE SAVEPOINT bulk_entry")
        tally.restore(saved)
        result.failed += len(entry.events)
        # status: what the same refusal is on a one-event route (footfall/refusals.py's table: an unknown
        # profile id is a 404 there, a refused payload a 400)
        result.errors.append({"pointer": entry.path, "detail": _detail(exc), "status": answer(exc).status})
        return
    conn.execute("RELEASE SAVEPOINT bulk_entry")
    result.completed += len(entry.events)
    result.results.append(profile)
    # Inside Conn.pipeline() the events go with the rest of the group: their outcomes once it is sent.
    conn.defer(lambda: _record_events(account_id, entry, metric_ids, pending(), profile, tally, result))


def _metric_ids(conn: Conn, account_id: str, entry: BulkEntry, limits: Limits, now: float) -> list[str]:
    """Each event's metric id, looked up (or created, in the order the events first name them) once per name."""
    by_name: dict[str, str] = {}
    for event in entry.events:
        if event.metric not in by_name:
            by_name[event.metric] = event_rows.metric_for(conn, account_id, event.metric, limits, now)
    return [by_name[event.metric] for event in entry.events]


def _refuse_repeats(seen: set[tuple[str, str, str]], profile_id: str, metric_ids: list[str], entry: BulkEntry) -> None:
    """Raise RepeatedUniqueId at the first event whose unique_id came before for its profile and metric."""
    for i, (event, metric_id) in enumerate(zip(entry.events, metric_ids)):
        if repeated_unique_id(seen, profile_id, metric_id, event.unique_id):
            path = entry.event_paths[i] if i < len(entry.event_paths) else entry.path
            raise RepeatedUniqueId(
                f"unique_id {event.unique_id!r} is repeated for the same profile and metric in this "
                "request; the request was refused and no events were stored", f"{path}.unique_id")


def _record_events(account_id: str, entry: BulkEntry, metric_ids: list[str], outcomes: list[tuple[str, bool]],
                   profile: Any, tally: Tally, result: BulkResult) -> None:
    """Count the entry's events and announce the stored ones (rollups and messages: one call each for all)."""
    stored = [(event, metric_id, event_id)
              for event, metric_id, (event_id, dup) in zip(entry.events, metric_ids, outcomes) if not dup]
    duplicates = len(outcomes) - len(stored)
    if stored:
        tally.stored_events(account_id, [(metric_id, event.time, event.value) for event, metric_id, _ in stored])
        track_writes.event_messages(account_id, profile.profile_id, [(event, event_id) for event, _, event_id in stored],
                                    tally)
    tally.add(account_id, "events_stored", len(stored))
    if duplicates:
        tally.add(account_id, "events_duplicate", duplicates)
    result.duplicates += duplicates
    profile.event_id = outcomes[-1][0] if outcomes else None


def _detail(exc: Exception) -> str:
    path = getattr(exc, "path", "")
    detail = getattr(exc, "detail", str(exc))
    return f"{path}: {detail}" if path else detail


def _insert_job(conn: Conn, account_id: str, result: BulkResult, now: float) -> None:
    conn.execute(
        f"INSERT INTO bulk_jobs (account_id, {', '.join(_JOB_COLUMNS)}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (account_id, result.job_id, "complete", result.total, result.completed, result.failed,
         conn.to_json(result.errors), now, now),
    )


def get_job(conn: Conn, account_id: str, job_id: str) -> dict[str, Any] | None:
    """One bulk job of the account, or None."""
    row = conn.one(f"SELECT {', '.join(_JOB_COLUMNS)} FROM bulk_jobs WHERE account_id = ? AND id = ?",
                   (account_id, job_id))
    if row is None:
        return None
    job = dict(zip(_JOB_COLUMNS, row))
    job["errors"] = conn.from_json(job["errors"]) or []
    return job


