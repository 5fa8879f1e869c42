"""Profile bulk import jobs (≤ 10,000 profiles): each profile upserted as POST /api/profile-import
would, a refused one recorded as an import error; the imported profiles added to the job's lists.

One pipeline operation, so the job row, its errors and every profile commit together; each profile
runs behind its own savepoint so a refusal leaves nothing of it.
"""

from __future__ import annotations

from typing import Any

from footfall import clock
from footfall.refusals import Conflict, InvalidInput, NotFound, Refusal, TITLES, answer
from footfall.domain.limits import Limits
from footfall.domain.privacy import ImportEntry, JobResult, ProfileBulkImportOp
from footfall.store import jobs, profile_upserts, profile_writes, segment_list_rows
from footfall.store.conn import Conn
from footfall.store.tally import Tally

IMPORT_JOB = "profile-bulk-import-job"


def import_error(pointer: str, exc: Refusal, original: Any) -> dict[str, Any]:
    """An import-error's attributes (Klaviyo's shape): code, title, detail, source.pointer, original_payload."""
    row = answer(exc)  # the code and title a refusal has in the JSON:API answers (footfall/refusals.py)
    detail = getattr(exc, "detail", None) or str(exc)
    return {"code": row.code, "title": row.title or TITLES[row.status], "detail": detail, "source": {"pointer": pointer},
            # Klaviyo's original_payload is an object: a record that is not one is kept under "value".
            "original_payload": original if isinstance(original, dict) else {"value": original}}


def apply_import_job(conn: Conn, op: ProfileBulkImportOp, limits: Limits, tally: Tally) -> JobResult:
    now = clock.now()
    for position, list_id in enumerate(op.list_ids):
        if segment_list_rows.list_row(conn, op.account_id, list_id) is None:
            raise NotFound(f"list {list_id} does not exist in this account",
                           f"data.relationships.lists.data.{position}.id")
    result = JobResult(job_id=op.job_id, total=op.total, failed=len(op.errors))
    errors = list(op.errors)
    for entry in op.entries:
        profile_id = _import_one(conn, op.account_id, entry, tally, now, errors)
        if profile_id is None:
            result.failed += 1
        else:
            result.completed += 1
            result.changed.append(profile_id)
    imported = list(dict.fromkeys(result.changed))
    for list_id in op.list_ids:
        before = segment_list_rows.current_members(conn, op.account_id, list_id, imported)
        joining = [pid for pid in imported if pid not in before]
        segment_list_rows.record_joins(conn, op.account_id, list_id, joining, now, kind="list")
    jobs.insert(conn, op.account_id, op.job_id, IMPORT_JOB, total=op.total, completed=result.completed,
                failed=result.failed, details={"lists": op.list_ids, "profiles": imported, "errors": errors},
                created=now, completed_at=now)
    return result


def _import_one(conn: Conn, account_id: str, entry: ImportEntry, tally: Tally, now: float,
                errors: list[dict[str, Any]]) -> str | None:
    conn.execute("SAVEPOINT import_profile")
    saved = tally.mark()  # counters and outbox messages of a refused profile are dropped with it
    try:
        made = profile_upserts.upsert_profile(conn, account_id, entry.profile, now, tally, strict=True)
        profile_writes.clear_identifiers(conn, account_id, made.profile_id, entry.clear_identifiers, now, tally)
    except (Conflict, NotFound, InvalidInput) as exc:
        conn.execute("ROLLBACK TO SAVEPOINT import_profile")
        conn.forget()
        conn.execute("RELEASE SAVEPOINT import_profile")
        tally.restore(saved)
        errors.append(import_error(entry.path, exc, entry.original))
        return None
    conn.execute("RELEASE SAVEPOINT import_profile")
    return made.profile_id
