"""Applying subscription jobs (domain/operations.SubscriptionJobOp): consent changes on each profile
through the ordinary profile upsert, and the list the job names joined or left, in one transaction."""

from __future__ import annotations

from footfall import clock
from footfall.refusals import NotFound
from footfall.domain.segment_list_ops import ListMembers
from footfall.domain.limits import Limits
from footfall.domain.models import ProfilePatch
from footfall.domain.operations import SubscriptionJobOp, SubscriptionJobResult
from footfall.store import profile_upserts, segment_list_rows
from footfall.store.conn import Conn
from footfall.store.tally import Tally


def apply_subscription_job(conn: Conn, op: SubscriptionJobOp, limits: Limits, tally: Tally) -> SubscriptionJobResult:
    if op.list_id is not None and segment_list_rows.list_row(conn, op.account_id, op.list_id) is None:
        raise NotFound("no list with that id in this account", "data.relationships.list.data.id")
    now = clock.now()
    result = SubscriptionJobResult()
    for entry in op.entries:
        patch = entry.profile
        if not op.subscribe:
            existing = _existing(conn, op.account_id, patch)
            if existing is None:  # nobody to unsubscribe; Klaviyo creates no profile for it either
                result.skipped += 1
                continue
            patch = ProfilePatch(profile_id=existing, consent_changes=patch.consent_changes)
        written = profile_upserts.upsert_profile(conn, op.account_id, patch, now, tally, strict=True)
        result.profile_ids.append(written.profile_id)
    result.profile_ids = list(dict.fromkeys(result.profile_ids))
    if op.list_id is not None and result.profile_ids:
        segment_list_rows.apply_list_members(conn, ListMembers(op.account_id, op.list_id, result.profile_ids, op.subscribe),
                                  limits, tally)
    tally.add(op.account_id, "subscriptions_changed" if op.subscribe else "unsubscriptions_changed",
              len(result.profile_ids))
    return result


def _existing(conn: Conn, account_id: str, patch: ProfilePatch) -> str | None:
    """The profile holding the first of the patch's identifiers that somebody holds, or None."""
    for kind in ("email", "phone_number"):
        value = patch.identifiers.get(kind)
        if value is None:
            continue
        row = conn.one("SELECT profile_id FROM profile_identifiers WHERE account_id = ? AND kind = ? AND value = ?",
                       (account_id, kind, value))
        if row is not None:
            return row[0]
    return None
