"""Applying a Segment-spec or PostHog batch: every message, or none.

Each message is an ordinary TrackOp (track_writes.apply_track: identity, merge, dedup as everywhere). A
refusal of any message is raised again with that message's place in the request, so the batch's
savepoint (store/batch.py) undoes the messages applied before it and the caller learns which one.
"""

from __future__ import annotations

from footfall.refusals import Conflict, InvalidInput, NotFound
from footfall.domain.limits import Limits
from footfall.domain.operations import SourceBatchOp, SourceBatchResult
from footfall.store import track_writes
from footfall.store.conn import Conn
from footfall.store.tally import Tally


def apply_source_batch(conn: Conn, op: SourceBatchOp, limits: Limits, tally: Tally) -> SourceBatchResult:
    result = SourceBatchResult()
    previous = None  # the profile patch of the message before, and the profile it resolved to
    again: track_writes.EventsAgain | None = None  # the events of the messages repeating that patch
    for track, path in zip(op.ops, op.paths):
        try:
            if previous is not None and (track.profile is previous[0] or track.profile == previous[0]):
                # An SDK's batch is mostly one person's events in a row: the same patch again is a no-op.
                # The wires hand a run one patch object (wire/sources.SharedPatches): `is` answers at once.
                if track.event is not None:
                    if again is None:
                        again = track_writes.EventsAgain(track.account_id, previous[1], tally)
                    again.add(conn, track.event, limits)
                continue
            _close(conn, again, result)
            again = None
            done = track_writes.apply_track(conn, track, limits, tally)
            previous = None if done.dropped else (track.profile, done.profile_id)
            result.results.append(done)
        except (InvalidInput, NotFound, Conflict) as exc:
            detail = getattr(exc, "detail", str(exc))
            inner = getattr(exc, "path", None) or ""
            raise InvalidInput(detail, f"{path}.{inner}" if path and inner else path or inner) from None
    _close(conn, again, result)
    conn.defer(result.settle)  # after every message's own deferred outcome (they run in order)
    return result


def _close(conn: Conn, again: track_writes.EventsAgain | None, result: SourceBatchResult) -> None:
    """A run's events are recorded after the deferred outcome of the message that began it, before the
    next message's: the outbox gets the batch's events in message order."""
    if again is None:
        return

    def record() -> None:
        again.record()
        result.add_events(again.stored, again.duplicates)

    conn.defer(record)
