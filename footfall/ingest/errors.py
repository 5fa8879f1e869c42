"""Why the pipeline could not take or store an operation; both map to 503 + Retry-After."""

from __future__ import annotations


class NotAccepted(Exception):
    code = "unavailable"  # the refusal's reason in access lines and metrics

    def __init__(self, reason: str, retry_after: int = 1) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class Overloaded(NotAccepted):
    """The queue is full: the store is slower than the offered load."""

    code = "overloaded"


class Unavailable(NotAccepted):
    """The store cannot be reached, or the writer is not running."""
