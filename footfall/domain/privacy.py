"""Privacy and profile-job operations: deletion, suppression, profile bulk import, and restoring an export.

Each is one unit of work for the ingest pipeline, so it is ordered with every other write; the store
functions listed for them in store/appliers.py apply them. Results name the profiles they changed in
`profile_ids` (after-commit listeners read it); a deletion names none, nothing of the person remains.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from footfall.domain.consent import USER_SUPPRESSED
from footfall.domain.models import Event, ProfilePatch

# Identifier kinds a deletion job may name, as Klaviyo's request names them -> Footfall's kind.
DELETION_IDENTIFIERS = {"id": "id", "email": "email", "phone_number": "phone_number"}


@dataclass
class DeleteProfilesOp:
    """Delete every profile holding one identifier: its identifiers, events, memberships, suppressions,
    merge records naming it; keep a deletion record with a keyed hash of the identifier."""

    account_id: str
    job_id: str
    kind: str  # id | email | phone_number
    value: str
    key_id: str | None
    requested_at: float
    size: int = 0


@dataclass
class DeletionResult:
    job_id: str
    profiles: int = 0
    events: int = 0
    memberships: int = 0
    deleted_ids: list[str] = field(default_factory=list)

    @property
    def profile_ids(self) -> list[str]:
        return []

    @property
    def counts(self) -> dict[str, int]:
        return {"profiles": self.profiles, "events": self.events, "memberships": self.memberships}


@dataclass
class SuppressionOp:
    """Suppress (create) or unsuppress (delete) email marketing for emails, or a list's / segment's members."""

    account_id: str
    job_id: str
    action: str  # "create" | "delete"
    emails: list[str]
    group_id: str | None = None
    group_kind: str | None = None  # "list" | "segment"
    reason: str = USER_SUPPRESSED
    size: int = 0


@dataclass
class JobResult:
    job_id: str
    total: int = 0
    completed: int = 0
    failed: int = 0
    skipped: int = 0
    changed: list[str] = field(default_factory=list)

    @property
    def profile_ids(self) -> list[str]:
        return self.changed


@dataclass
class ImportEntry:
    """One profile of a bulk import job; `path` points at it in the request, `original` is as sent."""

    profile: ProfilePatch
    path: str
    original: Any
    clear_identifiers: list[str] = field(default_factory=list)


@dataclass
class ProfileBulkImportOp:
    """POST /api/profile-bulk-import-jobs: upsert each profile (a refused one is an import error),
    add the imported profiles to the lists named; `errors` are those refused before the writer."""

    account_id: str
    job_id: str
    entries: list[ImportEntry]
    list_ids: list[str]
    errors: list[dict[str, Any]]
    total: int
    size: int = 0


@dataclass
class RestoredProfile:
    """A profile line of `footfall export`, to be stored with its own id (line: where it came from)."""

    line: int
    profile_id: str
    identifiers: list[tuple[str, str]]
    row: dict[str, Any]


@dataclass
class RestoredEvent:
    """An event line of `footfall export`, stored with its own id for the profile it names."""

    line: int
    event_id: str
    metric: str
    profile_id: str
    event: Event
    dedup_key: str | None = None  # carried by the export when it cannot be derived from the event


@dataclass
class RestoreOp:
    """A chunk of `footfall import` lines of the export's own format: profiles, then events."""

    account_id: str
    profiles: list[RestoredProfile] = field(default_factory=list)
    events: list[RestoredEvent] = field(default_factory=list)
    size: int = 0


@dataclass
class RestoreResult:
    stored: int = 0
    duplicates: int = 0
    refused: list[tuple[int, str]] = field(default_factory=list)  # (line, reason)
    changed: list[str] = field(default_factory=list)

    @property
    def profile_ids(self) -> list[str]:
        return self.changed
