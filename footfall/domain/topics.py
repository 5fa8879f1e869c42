"""Webhook and stream topics: which exist, how an event's metric names its topic, what a filter matches.

Topics are `event:<slug>` for each metric of the account (the metric name lower-cased, each run of
other characters than a-z and 0-9 as one `_`: "Placed Order" -> `event:placed_order`), plus the fixed
topics below. Pure functions: the store writes messages with these names, the API lists them.
"""

from __future__ import annotations

import functools
import re
from typing import Iterable

PROFILE_CREATED = "profile:created"
PROFILE_UPDATED = "profile:updated"
PROFILE_MERGED = "profile:merged"
PROFILE_DELETED = "profile:deleted"
SEGMENT_JOINED = "segment:joined"
SEGMENT_LEFT = "segment:left"
LIST_ADDED = "list:added"
LIST_REMOVED = "list:removed"

# topic id -> (name, category) for the topics every account has
FIXED: dict[str, tuple[str, str]] = {
    PROFILE_CREATED: ("Profile created", "profile"),
    PROFILE_UPDATED: ("Profile updated", "profile"),
    PROFILE_MERGED: ("Profile merged", "profile"),
    PROFILE_DELETED: ("Profile deleted", "profile"),
    SEGMENT_JOINED: ("Joined a segment", "segment"),
    SEGMENT_LEFT: ("Left a segment", "segment"),
    LIST_ADDED: ("Added to a list", "list"),
    LIST_REMOVED: ("Removed from a list", "list"),
}
# Topics whose messages name a segment or list (subject_id), which a webhook may restrict to given ids.
GROUP_TOPICS = frozenset({SEGMENT_JOINED, SEGMENT_LEFT, LIST_ADDED, LIST_REMOVED})

_OTHER = re.compile(r"[^a-z0-9]+")
_EVENT_TOPIC = re.compile(r"^event:[a-z0-9_]{1,200}$")


@functools.lru_cache(maxsize=4096)  # asked for every stored event; an account has a few hundred metrics at most
def event_topic(metric_name: str) -> str:
    """`event:<slug>` of a metric name (an empty slug, a name of symbols only, is `_`)."""
    return "event:" + (_OTHER.sub("_", metric_name.lower()) or "_")


def membership_topic(kind: str, joined: bool) -> str:
    """kind 'segment' or 'list'."""
    if kind == "segment":
        return SEGMENT_JOINED if joined else SEGMENT_LEFT
    return LIST_ADDED if joined else LIST_REMOVED


def is_wellformed(topic: str) -> bool:
    """A fixed topic or any `event:<slug>` (a metric may be created after the webhook)."""
    return topic in FIXED or bool(_EVENT_TOPIC.match(topic))


def matches(topic: str, subject_id: str | None, wanted: Iterable[str], group_ids: Iterable[str]) -> bool:
    """Does a message (topic, subject) pass a subscription (topics, and group ids for membership topics)."""
    if topic not in wanted:
        return False
    groups = set(group_ids)
    return not groups or topic not in GROUP_TOPICS or subject_id in groups
