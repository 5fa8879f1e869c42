"""Every refusal a client can be answered with, and the one table of how each surface answers it.

A refusal is raised where the rule is (a decoder, the store, the pipeline, a body reader) and
answered where the request came in. The answer is never chosen there: every surface looks the
refusal up in ANSWERS — the legacy 1/0 routes (/api/track, /api/identify), JSON:API (/api, /client,
the webhooks API, the console's JSON), and the Segment / PostHog wires (/v1, /capture) — so one
refusal has one status, one code and one Retry-After rule wherever it is met. ApiError, a refusal
that already is its JSON:API answer, and the wires' own SourceRefusal are rendered as they are.
Failures that are never a client's answer (a dead writer, a bad config) live in footfall/failures.py.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any


class Refusal(Exception):
    """Something a request asked for is not done; the caller is told why (see ANSWERS)."""


# -- the request's content ---------------------------------------------------------------------------

class InvalidInput(Refusal, ValueError):
    """A payload breaks a rule. `path` points at the offending part (e.g. 'properties.$value')."""

    def __init__(self, detail: str, path: str = "") -> None:
        super().__init__(f"{path}: {detail}" if path else detail)
        self.detail = detail
        self.path = path

    def __reduce__(self):  # pickled with its own arguments, to cross to and from the writer process
        return type(self), (self.detail, self.path)


class LimitExceeded(InvalidInput):
    """A payload is over one of the configured limits."""


class RepeatedUniqueId(InvalidInput):
    """A whole bulk request is refused: one unique_id twice for one profile and metric."""


class Conflict(Refusal):
    """The write collides with what is stored."""

    def __init__(self, detail: str, profile_id: str = "") -> None:
        super().__init__(detail)
        self.detail = detail
        self.profile_id = profile_id

    def __reduce__(self):
        return type(self), (self.detail, self.profile_id)


class DuplicateProfile(Conflict):
    """An identifier belongs to another profile (`profile_id`): the server API's 409 duplicate_profile."""


class GroupInUse(Conflict):
    """A segment or list is named by another segment's definition, so it cannot be deleted."""


class NotFound(Refusal):
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


class TooManyGroups(Refusal):
    """An aggregate answer would have more (bucket, dimension) rows than the configured maximum."""


# -- the request's transport -------------------------------------------------------------------------

class TooLarge(Refusal):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is larger than {limit} bytes")
        self.limit = limit


class TooSlow(Refusal):
    """The body did not arrive within the body timeout (FOOTFALL_BODY_TIMEOUT_SECONDS): 408."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the request body did not arrive within {seconds:g} seconds")
        self.seconds = seconds


class RateLimited(Refusal):
    """A caller over its rate-limit tier (api/rate_limit_enforcement.py): 429 with Retry-After."""

    def __init__(self, retry_after: int) -> None:
        plural = "" if retry_after == 1 else "s"
        super().__init__(f"Request was throttled. Expected available in {retry_after} second{plural}.")
        self.retry_after = retry_after

    def __reduce__(self):
        return type(self), (self.retry_after,)


class KeysThrottled(Refusal):
    """Too many unknown keys from one client address (api/keyguard.py)."""

    def __init__(self, retry_after: int) -> None:
        super().__init__(f"too many unknown keys from this address; retry in {retry_after} s")
        self.retry_after = retry_after


# -- capacity: nothing is stored, retry later --------------------------------------------------------

class NotAccepted(Refusal):
    """Why the pipeline could not take or store an operation."""

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


class StoreUnavailable(Refusal):
    """The database cannot be reached or is locked; the caller should answer 503 and retry later."""


class InternalError(Refusal):
    """An operation failed for a reason that is a bug, not the caller's fault."""


# -- refusals that carry their own answer ------------------------------------------------------------

class ApiError(Refusal):
    """One JSON:API error; raise it anywhere under /api or /client and the app answers with it."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        title: str | None = None,
        pointer: str | None = None,
        parameter: str | None = None,
        meta: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.title = title or TITLES.get(status, "Error.")
        self.pointer = pointer
        self.parameter = parameter
        self.meta = meta
        self.headers = headers or {}

    def to_dict(self) -> dict[str, Any]:
        error: dict[str, Any] = {
            "id": str(uuid.uuid4()),
            "status": self.status,
            "code": self.code,
            "title": self.title,
            "detail": self.detail,
            "source": {},
        }
        if self.pointer is not None:
            error["source"]["pointer"] = self.pointer
        if self.parameter is not None:
            error["source"]["parameter"] = self.parameter
        if self.meta:
            error["meta"] = self.meta
        return error


TITLES = {
    400: "Invalid input.",
    401: "Authentication credentials were not provided.",
    403: "You do not have permission to perform this action.",
    404: "Not found.",
    405: "Method not allowed.",
    409: "Conflict.",
    413: "Payload too large.",
    415: "Unsupported media type.",
    429: "Request was throttled.",
    500: "Internal server error.",
    503: "Service unavailable.",
}


class FilterError(ApiError):
    """A filter that cannot be parsed or is not allowed on this endpoint."""

    def __init__(self, detail: str) -> None:
        super().__init__(400, "invalid", detail, parameter="filter")


@dataclass(eq=False)
class SourceRefusal(Refusal):
    """A Segment / PostHog request not acknowledged: an HTTP status, a machine code, the reason, where."""

    status: int
    code: str
    detail: str
    path: str = ""
    headers: dict[str, str] = field(default_factory=dict)


class ConsoleRefused(Refusal):
    """Answered as a small console error page (or JSON for script requests) with this status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


class NotSignedIn(Refusal):
    """Console pages redirect to the sign-in form; script requests get 401."""


class DestinationRefused(Refusal):
    """A webhook destination is not one Footfall may send to; the message says why."""


# -- the table ---------------------------------------------------------------------------------------

# Where Retry-After comes from: none, the refusal's own `retry_after`, or FOOTFALL_RETRY_AFTER_SECONDS.
NONE, OWN, SETTINGS = "none", "own", "settings"


@dataclass(frozen=True)
class Answer:
    """How each surface answers one kind of refusal."""

    status: int                  # JSON:API status
    code: str                    # JSON:API code
    legacy_status: int           # /api/track|identify status; 200 with a `0` (or the pixel) is a refusal too
    legacy_reason: str           # the reason in legacy access lines and metrics ("" = the refusal's `code`)
    source_status: int           # /v1 and PostHog status
    source_code: str             # /v1 and PostHog code
    retry_after: str = NONE      # NONE, OWN or SETTINGS
    detail: str = ""             # a fixed JSON:API detail ("" = the refusal's own words)
    legacy_detail: str = "{exc}"  # what verbose legacy answers say
    source_detail: str = "{exc}"  # what the /v1 and PostHog answers say
    pointer: str | None = None   # a fixed JSON:API source.pointer (else from the refusal's path, if any)
    title: str | None = None     # a JSON:API title other than the status's


_STORED_NOTHING = "An unexpected error occurred; nothing of this request was stored."

ANSWERS: dict[type[Refusal], Answer] = {
    InvalidInput: Answer(400, "invalid", 200, "invalid", 400, "invalid_request"),
    DuplicateProfile: Answer(409, "duplicate_profile", 409, "conflict", 409, "conflict",
                             detail="A profile already exists with one of these identifiers.",
                             pointer="/data/attributes", title="Conflict."),
    Conflict: Answer(409, "conflict", 409, "conflict", 409, "conflict"),
    NotFound: Answer(404, "not_found", 404, "not_found", 404, "not_found"),
    TooLarge: Answer(413, "payload_too_large", 413, "too_large", 413, "too_large"),
    TooSlow: Answer(408, "request_timeout", 408, "request_timeout", 408, "request_timeout"),
    KeysThrottled: Answer(429, "throttled", 429, "throttled", 429, "throttled", retry_after=OWN),
    RateLimited: Answer(429, "throttled", 429, "throttled", 429, "throttled", retry_after=OWN, pointer="/data"),
    NotAccepted: Answer(503, "service_unavailable", 503, "", 503, "unavailable", retry_after=OWN),
    StoreUnavailable: Answer(503, "service_unavailable", 503, "service_unavailable", 503, "unavailable",
                             retry_after=SETTINGS, detail="The database is unreachable; retry shortly.",
                             legacy_detail="the database is unreachable; retry shortly",
                             source_detail="the database is unreachable; retry shortly"),
    InternalError: Answer(500, "error", 500, "error", 500, "internal_error", detail=_STORED_NOTHING,
                          legacy_detail="internal error; nothing was stored ({exc})",
                          source_detail="an unexpected error occurred; nothing of this request was stored"),
}


def answer(exc: Refusal) -> Answer:
    """The row of the most specific class of `exc` in ANSWERS (KeyError if it has none)."""
    for cls in type(exc).__mro__:
        row = ANSWERS.get(cls)  # type: ignore[call-overload]
        if row is not None:
            return row
    raise KeyError(f"no answer is listed in footfall/refusals.py for {type(exc).__name__}")


def retry_after(exc: Refusal, settings_seconds: int) -> str | None:
    """The Retry-After value (whole seconds) of `exc`, or None when it has none."""
    rule = answer(exc).retry_after
    if rule == OWN:
        return str(int(getattr(exc, "retry_after")))
    if rule == SETTINGS:
        return str(int(settings_seconds))
    return None


def as_api_error(exc: Refusal, settings_seconds: int, *, detail: str | None = None, pointer: str | None = None,
                 parameter: str | None = None, meta: dict[str, Any] | None = None) -> ApiError:
    """`exc` as its JSON:API error (an ApiError is its own). `detail` / `pointer` are the surface's
    words for a refusal whose row has none fixed."""
    if isinstance(exc, ApiError):
        return exc
    row = answer(exc)
    after = retry_after(exc, settings_seconds)
    if isinstance(exc, DuplicateProfile):
        meta = {"duplicate_profile_id": exc.profile_id}
    return ApiError(row.status, row.code, row.detail or (detail if detail is not None else str(exc)),
                    title=row.title, pointer=row.pointer or pointer, parameter=parameter, meta=meta,
                    headers={"Retry-After": after} if after is not None else None)


def legacy_answer(exc: Refusal, settings_seconds: int) -> tuple[int, str, str, str | None]:
    """(status, reason, verbose error, Retry-After) of `exc` on /api/track and /api/identify."""
    row = answer(exc)
    reason = row.legacy_reason or getattr(exc, "code", "error")
    return row.legacy_status, reason, row.legacy_detail.format(exc=exc), retry_after(exc, settings_seconds)


def as_source_refusal(exc: Refusal, settings_seconds: int, *, status: int | None = None) -> SourceRefusal:
    """`exc` as the Segment / PostHog wires answer it (a SourceRefusal is its own); `status` overrides the
    row's where a wire answers one refusal otherwise (PostHog: 413 for a body too large once decompressed)."""
    if isinstance(exc, SourceRefusal):
        return exc
    row = answer(exc)
    after = retry_after(exc, settings_seconds)
    path = getattr(exc, "path", "") or ""
    return SourceRefusal(status or row.source_status, row.source_code, row.source_detail.format(exc=exc), path,
                         {"Retry-After": after} if after is not None else {})
