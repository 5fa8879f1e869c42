"""The ingest transaction of a track or identify: the profile upsert, then the deduplicated event.

Called by the pipeline's writer for every operation of a group commit, inside one transaction.
Rules come from footfall.domain; this module and the store modules it calls only read and write rows.
"""

from __future__ import annotations

from typing import Callable

from footfall import clock
from footfall.domain import topics
from footfall.domain.limits import Limits
from footfall.domain.models import Event, TrackOp, WriteResult
from footfall.store import deleted, outbox
from footfall.store.conn import Conn
from footfall.store.event_rows import insert_event, metric_for
from footfall.store.profile_upserts import upsert_profile
from footfall.store.tally import Tally


def apply_track(conn: Conn, op: TrackOp, limits: Limits, tally: Tally) -> WriteResult:
    """Store one track or identify operation. Raises InvalidInput before writing anything.

    Inside Conn.pipeline() the event's outcome (stored or duplicate) is filled in at the batch's end."""
    if (op.event is not None and limits.suppress_after_delete
            and deleted.names_deleted(conn, op.account_id, op.profile)):
        return dropped_after_delete(op.account_id, tally)
    now = clock.now()
    metric_id = metric_for(conn, op.account_id, op.event.metric, limits, now) if op.event else None
    with conn.holding():  # a new profile's rows: one statement on PostgreSQL
        result = upsert_profile(conn, op.account_id, op.profile, now, tally)
    if op.event is not None and metric_id is not None:  # gathered with the group's other events
        outcome = insert_event(conn, op.account_id, metric_id, result.profile_id, op.event, now,
                               limits.dedup_without_id)
        conn.defer(lambda: _record_event(result, outcome(), op.account_id, metric_id, op.event, tally))
    return result


def dropped_after_delete(account_id: str, tally: Tally, events: int = 1) -> WriteResult:
    """An event naming a deleted person, acknowledged and counted but not stored (suppress after delete)."""
    tally.add(account_id, "events_dropped_deleted", events)
    return WriteResult(profile_id="", dropped=True,
                       warnings=["dropped: the profile was deleted and suppress-after-delete is on"])


def event_message(account_id: str, event: Event, event_id: str, profile_id: str, tally: Tally) -> None:
    """A stored (not duplicate) event goes out on its metric's topic, with the event's id as message id."""
    tally.message(account_id, outbox.Message(topics.event_topic(event.metric), event_id, profile_id, event_id))


def event_messages(account_id: str, profile_id: str, stored: list[tuple[Event, str]], tally: Tally) -> None:
    """event_message for the stored events of one profile, as (event, its id)."""
    topic_of: dict[str, str] = {}
    messages = []
    for event, event_id in stored:
        topic = topic_of.get(event.metric)
        if topic is None:
            topic = topic_of[event.metric] = topics.event_topic(event.metric)
        messages.append(outbox.Message(topic, event_id, profile_id, event_id))
    tally.messages_of(account_id, messages)


class EventsAgain:
    """The events of a run of operations whose profile patch the operation just before them applied
    to `profile_id` (a batch repeating one person): applying the patch again would change nothing, so
    only their events are stored, and recorded together once their outcomes are in (record(): one
    deferred call and one count for the run, not a result, a closure and a call per event)."""

    def __init__(self, account_id: str, profile_id: str, tally: Tally) -> None:
        self.account_id = account_id
        self.profile_id = profile_id
        self._tally = tally
        self._pending: list[tuple[Callable[[], tuple[str, bool]], str, Event]] = []
        self.stored = self.duplicates = 0

    def add(self, conn: Conn, event: Event, limits: Limits) -> None:
        """Insert one event of the run (raises InvalidInput, for a new metric over the limit, before writing)."""
        now = clock.now()
        metric_id = metric_for(conn, self.account_id, event.metric, limits, now)
        self._pending.append((insert_event(conn, self.account_id, metric_id, self.profile_id, event, now,
                                           limits.dedup_without_id), metric_id, event))

    def record(self) -> None:
        """Count and announce the run's events, in order: inside Conn.pipeline(), once their outcomes are in
        (deferred by the caller, after the deferred calls of the operations before)."""
        tally, account_id = self._tally, self.account_id
        for outcome, metric_id, event in self._pending:
            event_id, duplicate = outcome()
            if duplicate:
                self.duplicates += 1
            else:
                self.stored += 1
                tally.stored_event(account_id, metric_id, event.time, event.value)
                event_message(account_id, event, event_id, self.profile_id, tally)
        self._pending = []
        if self.stored:
            tally.add(account_id, "events_stored", self.stored)
        if self.duplicates:
            tally.add(account_id, "events_duplicate", self.duplicates)


def _record_event(result: WriteResult, outcome: tuple[str, bool], account_id: str, metric_id: str, event: Event,
                  tally: Tally) -> None:
    result.event_id, result.duplicate = outcome
    tally.add(account_id, "events_duplicate" if result.duplicate else "events_stored")
    if not result.duplicate:
        tally.stored_event(account_id, metric_id, event.time, event.value)
        event_message(account_id, event, result.event_id, result.profile_id, tally)
    if result.duplicate:
        result.warnings.append("duplicate: an event with the same metric, profile and "
                               + ("$event_id" if event.unique_id is not None else "time and no $event_id")
                               + " was already stored; this one was dropped")
