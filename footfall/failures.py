"""Failures that are never a client's answer: the writer's own troubles and an operator's mistakes.

What a client is told lives in footfall/refusals.py; these are handled inside the server (a store
that went away mid-commit, an op that cannot cross to the writer process) or end a CLI command
with one line (a bad FOOTFALL_* variable, a database URL that cannot be used, a refused copy).
"""

from __future__ import annotations


# -- inside the server -------------------------------------------------------------------------------

class StoreDown(Exception):
    """The store could not be reached during the commit; nothing of the batch is committed."""


class CommitFailed(Exception):
    """The store refused the batch for a reason that is not the caller's (logged as a bug)."""


class Unsendable(Exception):
    """An op of the batch cannot be pickled for the writer process."""


class Disconnected(Exception):
    """The client went away before its body arrived; there is nobody to answer."""


# -- an operator's mistakes (the CLI's one-line errors, start-up checks) -----------------------------

class ConfigError(ValueError):
    """A FOOTFALL_* variable holds something unusable; the message names the variable."""


class DatabaseProblem(Exception):
    """The URL cannot be used; the message says which part is wrong and what to do."""


class ReadOnlyStore(Exception):
    """The database can be read but not written: Footfall cannot start on it."""


class KeyNotFound(LookupError):
    """No such key in that account (or it is already revoked, for revoke/rotate)."""


class CopyRefused(Exception):
    """`db copy` cannot be done as asked (a non-empty target, the same database twice)."""


class CopyMismatch(Exception):
    """`db copy` does not verify: its transaction is rolled back."""


class ImportRefused(Exception):
    """The import cannot start (a state file for another import, an unreadable file)."""
