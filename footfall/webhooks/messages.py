"""Outbox rows -> the messages sent: id, topic, time and payload, read from the store when sent.

Event messages carry no payload in the outbox (the event row is it), profile created / updated carry
at most which fields changed (the profile is shown as it is when sent): this keeps the rows ingest
writes small. A message whose event or profile has since been deleted is sent with `"deleted": true`
and nothing else of it.
"""

from __future__ import annotations

from typing import Any, Sequence

from footfall.domain import topics
from footfall.store import outbox
from footfall.store.conn import Conn
from footfall.store.queries import profiles as profile_queries
from footfall.timefmt import iso
from footfall.wire import resources

Item = dict[str, Any]  # {"position", "id", "topic", "created", "payload"}: JSON, stored on failed deliveries


def render(conn: Conn, account_id: str, rows: Sequence[dict[str, Any]], base: str) -> list[Item]:
    event_ids = [r["subject_id"] for r in rows if r["topic"].startswith("event:") and r["payload"] is None]
    profile_ids = [r["profile_id"] for r in rows if r["topic"] in (topics.PROFILE_CREATED, topics.PROFILE_UPDATED)]
    events = outbox.events_by_ids(conn, account_id, event_ids) if event_ids else {}
    profiles = ({p["id"]: p for p in profile_queries.by_ids(conn, account_id, profile_ids)} if profile_ids else {})
    return [{"position": r["position"], "id": r["id"], "topic": r["topic"], "created": iso(r["created"]),
             "payload": _payload(r, events, profiles, base)} for r in rows]


def _payload(row: dict[str, Any], events: dict[str, Any], profiles: dict[str, Any], base: str) -> Any:
    topic = row["topic"]
    if topic.startswith("event:") and row["payload"] is None:
        event = events.get(row["subject_id"])
        return resources.event(base, event) if event else {"type": "event", "id": row["subject_id"], "deleted": True}
    if topic in (topics.PROFILE_CREATED, topics.PROFILE_UPDATED):
        profile = profiles.get(row["profile_id"])
        shown = resources.profile(base, profile) if profile else {"type": "profile", "id": row["profile_id"],
                                                                   "deleted": True}
        if row["payload"]:
            shown = {**shown, "meta": row["payload"]}
        return shown
    return row["payload"]


def matcher(hook: dict[str, Any]):
    """Does an outbox row go to this webhook (its topics, and its group ids for membership topics)."""
    wanted = frozenset(hook["topics"])
    group_ids = frozenset(hook.get("group_ids") or ())
    return lambda row: topics.matches(row["topic"], row.get("subject_id"), wanted, group_ids)
