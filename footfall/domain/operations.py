"""Ingest operations of the modern server API, beside TrackOp: strict create, import, update, merge, bulk.

Each is one unit of work for the pipeline; store/profile_writes.py and store/bulk_events.py apply them.
After-commit listeners receive these with their results: every result names the profiles it touched
in `profile_ids`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from operator import attrgetter
from typing import Any

from footfall.domain.models import Event, ProfilePatch, TrackOp, WriteResult


@dataclass
class CreateProfileOp:
    """POST /api/profiles: create a new profile, or refuse (Conflict) if any identifier is taken."""

    account_id: str
    profile: ProfilePatch
    size: int = 0


@dataclass
class ImportProfileOp:
    """POST /api/profile-import: create or update (upsert); identifiers of two profiles conflict."""

    account_id: str
    profile: ProfilePatch
    # Single-valued identifiers sent as null: private-key writes remove them from the profile.
    clear_identifiers: list[str] = field(default_factory=list)
    size: int = 0


@dataclass
class UpdateProfileOp:
    """PATCH /api/profiles/{id}: change the profile with this id (profile.profile_id is set)."""

    account_id: str
    profile: ProfilePatch
    clear_identifiers: list[str] = field(default_factory=list)
    size: int = 0


@dataclass
class MergeProfilesOp:
    """POST /api/profile-merge: fold the source profiles into the destination; sources are deleted."""

    account_id: str
    destination_id: str
    source_ids: list[str]
    size: int = 0


@dataclass
class MergeResult:
    profile_id: str
    merged: list[str] = field(default_factory=list)

    @property
    def profile_ids(self) -> list[str]:
        return [self.profile_id]


@dataclass
class BulkEntry:
    """One profile and its events; `path` says where it sits in the request, for errors."""

    profile: ProfilePatch
    events: list[Event]
    path: str
    event_paths: list[str] = field(default_factory=list)


@dataclass
class BulkEventsOp:
    """Bulk event create (≤1000 events): all entries in one operation, so a refusal stores nothing.

    job_id: record a bulk job with this id (server API); None for /client/event-bulk-create.
    """

    account_id: str
    entries: list[BulkEntry]
    job_id: str | None = None
    size: int = 0

    @property
    def total(self) -> int:
        return sum(len(entry.events) for entry in self.entries)


@dataclass
class BulkResult:
    job_id: str | None
    total: int
    completed: int = 0
    failed: int = 0
    duplicates: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    results: list[WriteResult] = field(default_factory=list)  # one per entry (profile), not per event
    dropped: int = 0  # completed, but not stored: they named a deleted person (suppress after delete)

    @property
    def profile_ids(self) -> list[str]:
        return list(dict.fromkeys(r.profile_id for r in self.results))

    @property
    def events_stored(self) -> int:
        return self.completed - self.duplicates - self.dropped

    @property
    def events_duplicate(self) -> int:
        return self.duplicates


@dataclass
class SubscriptionEntry:
    """One profile of a subscription job: identifiers (and an optional id) plus its consent changes."""

    profile: ProfilePatch
    path: str


@dataclass
class SubscriptionJobOp:
    """Bulk subscribe (subscribe=True) or unsubscribe: all entries in one operation, so a refusal
    stores nothing. Subscribing creates unknown profiles; unsubscribing skips them. list_id: the list
    the profiles join (subscribe) or leave (unsubscribe)."""

    account_id: str
    entries: list[SubscriptionEntry]
    subscribe: bool
    list_id: str | None = None
    size: int = 0


@dataclass
class SourceBatchOp:
    """A Segment-spec or PostHog batch: its messages as TrackOps, committed together or not at all.

    paths[i] says where ops[i] sits in the request ('batch[3]'), so a refusal names the message.
    """

    account_id: str
    ops: list[TrackOp]
    paths: list[str]
    size: int = 0

    def __reduce__(self) -> tuple[Any, tuple[Any, ...]]:
        """Pickled compact, for the hand-off to the writer process: each message as a tuple (its patch,
        which a run of one person's messages shares and pickle sends once; its event's fields; its
        size), not as a TrackOp and an Event object, whose pickling cost more than the rest of it."""
        messages = [(op.account_id, op.profile, op.event and _event_fields(op.event), op.size) for op in self.ops]
        return _source_batch, (self.account_id, messages, self.paths, self.size)


_EVENT_FIELDS = tuple(f.name for f in fields(Event))
_event_fields = attrgetter(*_EVENT_FIELDS)  # Event(*_event_fields(e)) == e


def _source_batch(account_id: str, messages: list[tuple[Any, ...]], paths: list[str], size: int) -> SourceBatchOp:
    ops = [TrackOp(account, profile, event and Event(*event), op_size) for account, profile, event, op_size in messages]
    return SourceBatchOp(account_id, ops, paths, size)


@dataclass
class SubscriptionJobResult:
    profile_ids: list[str] = field(default_factory=list)
    skipped: int = 0


@dataclass
class SourceBatchResult:
    """What a batch did: the profiles it touched and how many of its events were duplicates, settled
    once the writes' outcomes are in (settle()). The per-message results are dropped then, so the
    answer crosses back from the writer process small (a batch is up to hundreds of messages)."""

    results: list[WriteResult] = field(default_factory=list)
    profile_ids: list[str] = field(default_factory=list)
    events_stored: int = 0
    events_duplicate: int = 0

    def add_events(self, stored: int, duplicate: int) -> None:
        """Events of messages that hold no result of their own (a run repeating one person's patch:
        store/track_writes.EventsAgain), whose profile a result before them names."""
        self.events_stored += stored
        self.events_duplicate += duplicate

    def settle(self) -> None:
        self.profile_ids = list(dict.fromkeys(r.profile_id for r in self.results if r.profile_id))
        self.events_stored += sum(r.events_stored for r in self.results)
        self.events_duplicate += sum(r.events_duplicate for r in self.results)
        self.results = []
