"""Operations on segments and lists, handed to the ingest pipeline like any other write."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class SaveSegment:
    """Create (segment_id None) or change a segment. None fields are left unchanged."""

    account_id: str
    segment_id: str | None
    name: str | None = None
    definition: dict[str, Any] | None = None


@dataclass
class DeleteGroup:
    """Delete a segment or a list (kind 'segment' / 'list') and its memberships."""

    account_id: str
    kind: str
    group_id: str


@dataclass
class SaveList:
    account_id: str
    list_id: str | None
    name: str


@dataclass
class ListMembers:
    """Add (add=True) or remove profiles from a list."""

    account_id: str
    list_id: str
    profile_ids: list[str]
    add: bool


@dataclass
class GroupResult:
    """What a group operation did: the group's id, whether its definition changed, who was touched."""

    group_id: str
    definition_changed: bool = False
    changed_profiles: list[str] = field(default_factory=list)
