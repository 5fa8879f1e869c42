"""The server profile API's writes: strict create, import (upsert), update by id, clear identifiers, merge.

Applied by the pipeline's writer inside a savepoint per operation (store/batch.py), so a refusal
(Conflict, NotFound, InvalidInput) leaves nothing behind. Identity rules stay in domain/identity.py
and the profile upsert in profile_upserts.upsert_profile; this module only adds the operations around them.
"""

from __future__ import annotations

from footfall import clock
from footfall.refusals import DuplicateProfile, InvalidInput, NotFound
from footfall.domain.limits import Limits
from footfall.domain.models import SINGLE_VALUED, WriteResult
from footfall.domain.operations import (
    CreateProfileOp, ImportProfileOp, MergeProfilesOp, MergeResult, UpdateProfileOp,
)
from footfall.store import profile_upserts
from footfall.store.conn import Conn
from footfall.store.tally import Tally

DUPLICATE = "A profile already exists with one of these identifiers."


def apply_create(conn: Conn, op: CreateProfileOp, limits: Limits, tally: Tally) -> WriteResult:
    """A new profile, or DuplicateProfile naming the profile that already holds one of the identifiers."""
    result = profile_upserts.upsert_profile(conn, op.account_id, op.profile, clock.now(), tally, strict=True)
    if not result.profile_created:  # the savepoint is rolled back: whatever the upsert changed is undone
        raise DuplicateProfile(DUPLICATE, result.profile_id)
    return result


def apply_import(conn: Conn, op: ImportProfileOp, limits: Limits, tally: Tally) -> WriteResult:
    now = clock.now()
    result = profile_upserts.upsert_profile(conn, op.account_id, op.profile, now, tally, strict=True)
    clear_identifiers(conn, op.account_id, result.profile_id, op.clear_identifiers, now, tally)
    return result


def apply_update(conn: Conn, op: UpdateProfileOp, limits: Limits, tally: Tally) -> WriteResult:
    now = clock.now()
    result = profile_upserts.upsert_profile(conn, op.account_id, op.profile, now, tally, strict=True)
    clear_identifiers(conn, op.account_id, result.profile_id, op.clear_identifiers, now, tally)
    return result


def clear_identifiers(conn: Conn, account_id: str, profile_id: str, kinds: list[str], now: float,
                      tally: Tally) -> None:
    """Remove single-valued identifiers (email, phone, external id) from a profile: a null in a private write."""
    for kind in kinds:
        if kind not in SINGLE_VALUED:
            raise InvalidInput(f"{kind} cannot be cleared", kind)
        conn.execute("DELETE FROM profile_identifiers WHERE account_id = ? AND profile_id = ? AND kind = ?",
                     (account_id, profile_id, kind))
        conn.execute(f"UPDATE profiles SET {kind} = NULL, updated = ? WHERE account_id = ? AND id = ?",
                     (now, account_id, profile_id))
    if kinds:
        profile_upserts.updated_message(account_id, profile_id, list(kinds), tally)


def apply_merge(conn: Conn, op: MergeProfilesOp, limits: Limits, tally: Tally) -> MergeResult:
    """Fold each source into the destination: identifiers, events and the gaps in its fields."""
    now = clock.now()
    destination = profile_upserts._current_id(conn, op.account_id, op.destination_id)
    sources = [profile_upserts._current_id(conn, op.account_id, s) for s in op.source_ids]
    rows = profile_upserts._load_profiles(conn, op.account_id, {destination, *sources})
    if destination not in rows:
        raise NotFound("no destination profile with that id in this account", "data.id")
    target = rows[destination]
    merged: list[str] = []
    for position, source in enumerate(sources):
        if source not in rows:
            raise NotFound(f"source profile #{position + 1} is not a profile in this account",
                           f"data.relationships.profiles.data.{position}.id")
        if source == destination or source in merged:
            continue  # already the destination (an earlier merge), or listed twice
        _fill_identifiers(target, rows[source])
        profile_upserts.merge_into(conn, op.account_id, target, rows[source], now, tally)
        profile_upserts.merged_message(op.account_id, source, destination, tally)
        merged.append(source)
    if merged:
        profile_upserts._update_profile(conn, op.account_id, target, now)
        tally.add(op.account_id, "profiles_merged", len(merged))
    return MergeResult(profile_id=destination, merged=merged)


def _fill_identifiers(target: dict, source: dict) -> None:
    """The destination keeps its own email / phone / external id; it takes the source's where it has none.

    Either way the source's identifier rows now point at the destination, so they still find it.
    """
    for kind in SINGLE_VALUED:
        if target.get(kind) is None and source.get(kind) is not None:
            target[kind] = source[kind]


