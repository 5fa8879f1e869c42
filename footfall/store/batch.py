"""A group commit: every operation of a batch in one transaction.

The batch first runs optimistically behind one savepoint. If any operation raises, that whole
attempt is rolled back and the batch is replayed with a savepoint per operation, so one refused
operation (over a limit, unknown profile) leaves no partial write and does not spoil the others in
its group. Refusals are rare, so most batches pay 2 savepoint statements instead of 2 per op.
On PostgreSQL the optimistic pass runs in pipeline mode (Conn.pipeline); the replay does not, so
each op's error is raised by that op.
"""

from __future__ import annotations

import logging
from typing import Any

from footfall.refusals import Conflict, InternalError, InvalidInput, NotFound
from footfall.domain.limits import Limits
from footfall.domain.models import TrackOp
from footfall.domain.operations import BulkEventsOp, SourceBatchOp
from footfall.store.appliers import APPLIERS
from footfall.store.conn import Conn
from footfall.store.profile_upserts import prefetch_owners
from footfall.store.tally import Tally

log = logging.getLogger("footfall.store")

_REFUSALS = (InvalidInput, NotFound, Conflict)
# Ops whose event rows are gathered for one statement per group and that read no event rows themselves
# (a merge they cause writes what is gathered first: profile_upserts.merge_into).
_GATHERING = (TrackOp, SourceBatchOp, BulkEventsOp)


def apply_batch(conn: Conn, ops: list[Any], limits: Limits) -> list[Any]:
    """Results in op order: a result object, or the exception that refused that op."""
    tally = Tally()
    try:
        results = _apply_optimistic(conn, ops, limits, tally)
    except Exception as exc:
        if conn.is_unavailable(exc):
            raise
        conn.execute("ROLLBACK TO SAVEPOINT batch")
        conn.forget()
        tally = Tally()
        results = [_apply_one(conn, op, limits, tally) for op in ops]
    with conn.pipeline():  # nothing here is read: one round trip on PostgreSQL
        conn.execute("RELEASE SAVEPOINT batch")
        tally.flush(conn)
    return results


def _apply_optimistic(conn: Conn, ops: list[Any], limits: Limits, tally: Tally) -> list[Any]:
    """Every op behind one savepoint. The owners of the track ops' identifiers are read ahead, a few
    queries for the batch instead of one per op (profile_upserts.prefetch_owners). On PostgreSQL in pipeline
    mode a statement is sent without waiting for it, so with no read per op the whole pass costs
    those few round trips, and what can wait (an event's duplicate flag) is read at the end in one
    sync. A statement's error may so surface in a later op: the replay finds the op it belongs to.
    The ops' event rows are gathered and written together (Conn.gather), before the first op of
    another kind, whenever event_rows.SEND_AT of them wait (so PostgreSQL inserts them while the rest
    of the group is applied), and at the end."""
    with conn.pipeline():
        conn.execute("SAVEPOINT batch")
        covered = prefetch_owners(conn, ops)
        results = []
        for i, op in enumerate(ops):
            if i == covered:  # read ahead for ops[:covered] only
                conn.batch_cache.clear()
            if type(op) not in _GATHERING:  # it may read or change events gathered so far: write them
                conn.write_gathered()
            results.append(_apply_fast(conn, op, limits, tally))
        conn.write_gathered()  # the group's events not sent yet (store/event_rows.PendingEvents)
        conn.batch_cache.clear()  # true for this transaction only
        return results


def _apply_fast(conn: Conn, op: Any, limits: Limits, tally: Tally) -> Any:
    """Apply without a savepoint of its own: any exception sends the batch to the careful replay."""
    applier = APPLIERS.get(type(op))
    if applier is None:
        return InternalError(f"no applier is listed in store/appliers.py for {type(op).__name__}")
    return applier(conn, op, limits, tally)


def _apply_one(conn: Conn, op: Any, limits: Limits, tally: Tally) -> Any:
    applier = APPLIERS.get(type(op))
    if applier is None:  # a bug, but only this op's: the rest of the group still commits
        return InternalError(f"no applier is listed in store/appliers.py for {type(op).__name__}")
    for attempt in range(3):
        saved = tally.mark()
        conn.execute("SAVEPOINT op")
        try:
            result = applier(conn, op, limits, tally)
        except _REFUSALS as exc:
            _undo(conn, tally, saved)
            return exc
        except Exception as exc:
            if conn.is_unavailable(exc):
                raise
            _undo(conn, tally, saved)
            # Another worker may have claimed the same identifier a moment ago, or locked the same
            # profiles in another order (PostgreSQL broke the deadlock): try again.
            if (_is_integrity_error(exc) or _is_deadlock(exc)) and attempt < 2:
                continue
            if _is_db_class(exc, "DataError"):  # a value the database cannot hold: the caller's to fix
                return InvalidInput(f"the database cannot store a value of this payload ({str(exc).splitlines()[0]})")
            log.exception("ingest operation failed")
            return InternalError(f"{type(exc).__name__}: {exc}")
        conn.execute("RELEASE SAVEPOINT op")
        return result
    return InternalError("operation kept conflicting with concurrent writes")


def _undo(conn: Conn, tally: Tally, saved: Any) -> None:
    conn.execute("ROLLBACK TO SAVEPOINT op")
    conn.forget()
    conn.execute("RELEASE SAVEPOINT op")
    tally.restore(saved)


def _is_deadlock(exc: BaseException) -> bool:
    return getattr(exc, "sqlstate", None) in ("40P01", "40001")  # deadlock / serialization failure


def _is_integrity_error(exc: BaseException) -> bool:
    return _is_db_class(exc, "IntegrityError")


def _is_db_class(exc: BaseException, name: str) -> bool:
    """DB-API exception classes have the same names in sqlite3 and psycopg."""
    return any(cls.__name__ == name for cls in type(exc).__mro__)
