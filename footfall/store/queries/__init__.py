"""The read side's query layer: whitelisted filters, sorts and keyset pages turned into SQL.

Queries are built with SQLAlchemy Core against store/schema.py and compiled for the connection's
dialect, so one definition serves SQLite and PostgreSQL. Every query is scoped to one account.
"""

from typing import Any, Protocol


class Criterion(Protocol):
    """One whitelisted filter condition (footfall.wire.filters.Checked has this shape)."""

    field: str
    operator: str
    value: Any
