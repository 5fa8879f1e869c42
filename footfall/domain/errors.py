"""Errors raised by the rules: each says what is wrong and where."""

from __future__ import annotations


class InvalidInput(ValueError):
    """A payload breaks a rule. `path` points at the offending part (e.g. 'properties.$value')."""

    def __init__(self, detail: str, path: str = "") -> None:
        super().__init__(f"{path}: {detail}" if path else detail)
        self.detail = detail
        self.path = path

    def __reduce__(self):  # pickled with its own arguments, to cross to and from the writer process
        return type(self), (self.detail, self.path)


class LimitExceeded(InvalidInput):
    """A payload is over one of the configured limits."""


class Conflict(Exception):
    """An identifier belongs to another profile (the server API answers 409 duplicate_profile)."""

    def __init__(self, detail: str, profile_id: str) -> None:
        super().__init__(detail)
        self.detail = detail
        self.profile_id = profile_id

    def __reduce__(self):
        return type(self), (self.detail, self.profile_id)


class NotFound(Exception):
    """A referenced resource does not exist in the caller's account.

    The detail never echoes the id: an unknown id and another account's id read the same.
    `path` names where the reference stood in the request, when the raiser knows it.
    """

    def __init__(self, detail: str, path: str | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.path = path

    def __reduce__(self):
        return type(self), (self.detail, self.path)
