"""Deletion and suppression, applied by the ingest writer (so they are ordered with ingest).

A deletion removes every trace that could identify the person: the profile rows (consent and
suppressions with them), identifiers, events, list and segment memberships (with their history), and merge records naming
the profile (an old id would otherwise still find its successor). What is kept is a deletion
record: an HMAC-SHA256 of the normalised identifier under a per-account secret, when, by which key,
and how much went.
"""

from __future__ import annotations

from typing import Any, Callable

from footfall import clock, ids
from footfall.timefmt import iso
from footfall.domain import consent, topics
from footfall.refusals import NotFound
from footfall.domain.limits import Limits
from footfall.domain.privacy import DeleteProfilesOp, DeletionResult, JobResult, SuppressionOp
from footfall.domain.models import ProfilePatch
from footfall.store import deleted, jobs, outbox, profile_upserts, rollups
from footfall.store.conn import Conn
from footfall.store.tally import Tally

DELETION_JOB = "data-privacy-deletion-job"
SUPPRESS_JOB = "profile-suppression-bulk-create-job"
UNSUPPRESS_JOB = "profile-suppression-bulk-delete-job"

# Rows of other features that name a profile and must go with it, beyond Footfall's own tables:
# (table, profile column). Features that keep per-profile rows (a webhook outbox) add theirs here.
PROFILE_ROWS: list[tuple[str, str]] = [
    ("events", "profile_id"),
    ("group_members", "profile_id"),
    ("profile_identifiers", "profile_id"),
    ("profile_merges", "new_id"),
    ("profile_merges", "old_id"),
    # Messages not yet delivered (and the retained window the stream resumes from) name the person: they go too.
    ("outbox", "profile_id"),
    ("outbox", "subject_id"),
]
# Extra clean-up calls (conn, account_id, profile_id) for features whose rows need more than a DELETE
# (run before the rows above go, so a hook can still read the profile's events).
ON_DELETE: list[Callable[[Conn, str, str], None]] = []

account_secret = deleted.account_secret
identifier_hash = deleted.identifier_hash


def matching_profiles(conn: Conn, account_id: str, kind: str, value: str) -> list[str]:
    """Every profile the identifier names: by id (followed through merges), or by identifier row and column."""
    if kind == "id":
        current = profile_upserts._current_id(conn, account_id, value)
        row = conn.one("SELECT id FROM profiles WHERE account_id = ? AND id = ?", (account_id, current))
        return [row[0]] if row else []
    owners = conn.all("SELECT profile_id FROM profile_identifiers WHERE account_id = ? AND kind = ? AND value = ?",
                      (account_id, kind, value))
    held = conn.all(f"SELECT id FROM profiles WHERE account_id = ? AND {kind} = ?", (account_id, value))
    return sorted({r[0] for r in owners} | {r[0] for r in held})


def apply_delete(conn: Conn, op: DeleteProfilesOp, limits: Limits, tally: Tally) -> DeletionResult:
    now = clock.now()
    result = DeletionResult(job_id=op.job_id)
    forget: list[tuple[str, str]] = [] if op.kind == "id" else [(op.kind, op.value)]
    for profile_id in matching_profiles(conn, op.account_id, op.kind, op.value):
        forget += _identifiers(conn, op.account_id, profile_id)
        _delete_profile(conn, op.account_id, profile_id, result, tally)
        # Written after the purge (the tally flushes at the commit), holding only the deleted id.
        tally.message(op.account_id, outbox.Message(topics.PROFILE_DELETED, ids.new_ulid(), profile_id,
                                                    payload={"profile_id": profile_id}))
    if limits.suppress_after_delete:
        deleted.remember(conn, op.account_id, op.job_id, forget)
    digest = identifier_hash(account_secret(conn, op.account_id), op.kind, op.value)
    conn.run(
        "INSERT INTO deletion_records (account_id, id, identifier_kind, identifier_hash, requested_at, completed_at,"
        " key_id, counts) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (op.account_id, op.job_id, op.kind, digest, op.requested_at, now, op.key_id, conn.to_json(result.counts)),
    )
    jobs.insert(conn, op.account_id, op.job_id, DELETION_JOB, total=1, completed=1,
                details={"identifier": op.kind, "counts": result.counts}, created=op.requested_at, completed_at=now)
    if result.profiles:
        tally.add(op.account_id, "profiles_deleted", result.profiles)
    if result.events:
        tally.add(op.account_id, "events_deleted", result.events)
    return result


def _identifiers(conn: Conn, account_id: str, profile_id: str) -> list[tuple[str, str]]:
    rows = conn.all("SELECT kind, value FROM profile_identifiers WHERE account_id = ? AND profile_id = ?",
                    (account_id, profile_id))
    return [(r[0], r[1]) for r in rows]


def _delete_profile(conn: Conn, account_id: str, profile_id: str, result: DeletionResult, tally: Tally) -> None:
    """Every row naming one profile, and the profile: the one place deletion's SQL lives (features
    keeping per-profile rows or totals add to PROFILE_ROWS / ON_DELETE rather than write their own)."""
    (events,) = conn.one("SELECT COUNT(*) FROM events WHERE account_id = ? AND profile_id = ?",
                         (account_id, profile_id))
    (memberships,) = conn.one("SELECT COUNT(*) FROM group_members WHERE account_id = ? AND profile_id = ?",
                              (account_id, profile_id))
    tally.deleting_events(rollups.buckets_of_profile(conn, account_id, profile_id))  # recounted at the commit
    for hook in ON_DELETE:
        hook(conn, account_id, profile_id)
    for table, column in PROFILE_ROWS:
        conn.run(f"DELETE FROM {table} WHERE account_id = ? AND {column} = ?", (account_id, profile_id))
    conn.run("DELETE FROM profiles WHERE account_id = ? AND id = ?", (account_id, profile_id))
    result.profiles += 1
    result.events += events
    result.memberships += memberships
    result.deleted_ids.append(profile_id)


# -- suppression ------------------------------------------------------------------------------------

def apply_suppression(conn: Conn, op: SuppressionOp, limits: Limits, tally: Tally) -> JobResult:
    now = clock.now()
    result = JobResult(job_id=op.job_id)
    targets = _suppression_targets(conn, op, now, tally)
    result.total = len(targets)
    for profile_id in targets:
        if profile_id is None:  # unsuppressing an email nobody holds
            result.skipped += 1
            continue
        changed = (suppress(conn, op.account_id, profile_id, op.reason, now) if op.action == "create"
                   else _unsuppress(conn, op.account_id, profile_id, now))
        if changed:
            result.completed += 1
            result.changed.append(profile_id)
        else:
            result.skipped += 1
    kind = SUPPRESS_JOB if op.action == "create" else UNSUPPRESS_JOB
    details: dict[str, Any] = {"lists": [op.group_id] if op.group_kind == "list" else [],
                               "segments": [op.group_id] if op.group_kind == "segment" else []}
    jobs.insert(conn, op.account_id, op.job_id, kind, total=result.total, completed=result.completed,
                skipped=result.skipped, details=details, created=now, completed_at=now)
    return result


def _suppression_targets(conn: Conn, op: SuppressionOp, now: float, tally: Tally) -> list[str | None]:
    """The profiles to change: the group's current members, or the emails' profiles (suppressing an
    email nobody holds yet creates its profile, so the suppression holds when they arrive)."""
    if op.group_id is not None:
        table = "lists" if op.group_kind == "list" else "segments"
        if conn.one(f"SELECT 1 FROM {table} WHERE account_id = ? AND id = ?", (op.account_id, op.group_id)) is None:
            raise NotFound(f"no {op.group_kind} with that id in this account",
                           f"data.relationships.{op.group_kind}.data.id")
        rows = conn.all("SELECT profile_id FROM group_members WHERE account_id = ? AND group_id = ? AND left_at IS NULL"
                        " ORDER BY profile_id", (op.account_id, op.group_id))
        return [r[0] for r in rows]
    targets: list[str | None] = []
    for email in op.emails:
        owner = conn.one("SELECT profile_id FROM profile_identifiers WHERE account_id = ? AND kind = 'email' "
                         "AND value = ?", (op.account_id, email))
        if owner:
            targets.append(owner[0])
        elif op.action == "create":
            made = profile_upserts.upsert_profile(conn, op.account_id, ProfilePatch(identifiers={"email": email}), now, tally)
            targets.append(made.profile_id)
        else:
            targets.append(None)
    return targets


def suppress(conn: Conn, account_id: str, profile_id: str, reason: str, now: float) -> bool:
    """Add an email marketing suppression (if the profile has none with this reason); True if it changed."""
    change = consent.ConsentChange("email", "suppress", iso(now), reason=reason)
    return _change(conn, account_id, profile_id, change, now)


def _unsuppress(conn: Conn, account_id: str, profile_id: str, now: float) -> bool:
    """Only a user suppression is lifted (domain/consent.UNSUPPRESS_LIFTS): a bounce or unsubscribe stays."""
    return _change(conn, account_id, profile_id, consent.ConsentChange("email", "unsuppress", iso(now)), now)


def _change(conn: Conn, account_id: str, profile_id: str, change: consent.ConsentChange, now: float) -> bool:
    """Suppression lives in the profile's consent record (`consent.email.suppression`, a list of
    {reason, timestamp}), changed by domain/consent's rules, the one place profile reads (as
    subscriptions.email.marketing.suppression), segments and subscription writes all use."""
    lock = " FOR UPDATE" if conn.dialect == "postgresql" else ""  # read to be changed: see profile_upserts._lock_profiles
    row = conn.one(f"SELECT consent FROM profiles WHERE account_id = ? AND id = ?{lock}", (account_id, profile_id))
    if row is None:
        return False
    record = conn.from_json(row[0]) or {}
    changed = consent.apply(record, change)
    if consent.suppressions(changed) == consent.suppressions(record):
        return False
    conn.run("UPDATE profiles SET consent = ?, updated = ? WHERE account_id = ? AND id = ?",
             (conn.to_json(changed), now, account_id, profile_id))
    return True
