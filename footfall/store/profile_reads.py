"""Reading one profile back by id, for the answers of the profile write routes.

Returns the row shape wire/resources.profile() renders. (The read API's query layer lists profiles;
this is deliberately the one-row case only.)
"""

from __future__ import annotations

from typing import Any

from footfall.domain.models import PROFILE_ATTRIBUTES
from footfall.store.db import Conn

_COLUMNS = ("id", "email", "phone_number", "external_id", "anonymous_id", *PROFILE_ATTRIBUTES,
            "location", "properties", "consent", "created", "updated")


def get_profile(conn: Conn, account_id: str, profile_id: str) -> dict[str, Any] | None:
    """The profile with this id in this account (following merges), with its last event time; None if absent."""
    merged = conn.one("SELECT new_id FROM profile_merges WHERE account_id = ? AND old_id = ?", (account_id, profile_id))
    if merged:
        profile_id = merged[0]
    row = conn.one(f"SELECT {', '.join(_COLUMNS)} FROM profiles WHERE account_id = ? AND id = ?",
                   (account_id, profile_id))
    if row is None:
        return None
    out = dict(zip(_COLUMNS, row))
    for part in ("location", "properties", "consent"):
        out[part] = conn.from_json(out[part]) or {}
    last = conn.one("SELECT MAX(time) FROM events WHERE account_id = ? AND profile_id = ?", (account_id, profile_id))
    out["last_event_time"] = last[0] if last else None
    return out
