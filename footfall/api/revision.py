"""The `revision` header every modern request (/api, /client) must carry: a date, YYYY-MM-DD[.suffix]."""

from __future__ import annotations

import re
from datetime import date

from footfall.api.fastpath import Incoming
from footfall.refusals import ApiError

_REVISION = re.compile(r"^\d{4}-\d{2}-\d{2}(\.[A-Za-z0-9_-]+)?$")


def check_revision(request: Incoming) -> str:
    """Every modern request names an API revision (YYYY-MM-DD[.suffix]); any well-formed date is accepted."""
    value = request.headers.get("revision")
    if value is None:
        raise ApiError(400, "invalid", "The `revision` header is required (e.g. revision: 2026-07-15).",
                       parameter="revision")
    match = _REVISION.match(value.strip())
    if not match or not _valid_date(value.strip()[:10]):
        raise ApiError(400, "invalid", f"The `revision` header {value!r} is not a date of the form YYYY-MM-DD[.suffix].",
                       parameter="revision")
    return value.strip()


def _valid_date(text: str) -> bool:
    try:
        date.fromisoformat(text)
    except ValueError:
        return False
    return True
