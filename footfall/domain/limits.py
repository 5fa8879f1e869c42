"""Every limit, stated once: the configurable ingestion Limits, the fixed bounds of one request, and the
check that enforces Limits on a decoded payload."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from footfall.refusals import InvalidInput, LimitExceeded

# PostgreSQL cannot store U+0000 in text or jsonb; refuse it on every backend alike.
NUL_REFUSED = "contains a NUL character (\\u0000), which cannot be stored"


# -- fixed limits: what one request may hold, stated here once -----------------------------------
# Klaviyo's published bounds (or Footfall's where Klaviyo states none), each used by the module named.
# The configurable ones are the fields of Limits below (FOOTFALL_* variables, config.py).

# Request bodies, in bytes.
LISTS_BODY_BYTES = 1024 * 1024  # api/lists.py
SEGMENTS_BODY_BYTES = 1024 * 1024  # api/segments.py
WEBHOOKS_BODY_BYTES = 64 * 1024  # api/webhooks.py
AGGREGATES_BODY_BYTES = 64 * 1024  # api/metric_aggregates.py
IMPORT_PROFILE_BYTES = 100 * 1024  # api/profile_import.py
POSTHOG_BODY_BYTES = 20 * 1024 * 1024  # api/posthog_capture.py: PostHog's limit for a batch request
SEGMENT_MESSAGE_BYTES = 32 * 1024  # wire/segment_spec.py: Segment's limit per message
SEGMENT_BATCH_BYTES = 500 * 1024  # wire/segment_spec.py: and per batch request (the JSON, after any gzip)
CONSOLE_FORM_BYTES = 256 * 1024  # console/web.py
CONSOLE_DEFINITION_BYTES = 200 * 1024  # console/segments.py

# Counts and lengths in one request.
LIST_MEMBERS_PER_REQUEST = 1000  # api/lists.py
IMPORT_PROFILES_PER_JOB = 10_000  # api/profile_import.py
MERGE_SOURCES_PER_REQUEST = 100  # api/profiles_write.py
WEBHOOK_REPLAY_MESSAGES = 100_000  # api/webhooks.py: messages one replay request may queue
BULK_EVENTS_PER_JOB = 1000  # wire/modern_events.py
SUPPRESSION_EMAILS_PER_JOB = 100  # wire/privacy.py
WEBHOOK_TOPICS = 100  # wire/webhooks.py
WEBHOOK_GROUPS = 100  # wire/webhooks.py
WEBHOOK_BATCH = 1000  # wire/webhooks.py
WEBHOOK_URL_CHARS = 2048  # wire/webhooks.py
WEBHOOK_TEXT_CHARS = 1000  # wire/webhooks.py
METRIC_NAME_CHARS = 128  # domain/events.py
SEGMENT_CONDITIONS = 100  # domain/segment_definitions.py: conditions in one definition
SEGMENT_CONDITION_VALUES = 1000  # domain/segment_definitions.py: values in one condition
AGGREGATE_DIMENSIONS = 5  # wire/aggregate_query.py
AGGREGATE_ROWS = 200_000  # api/metric_aggregates.py: (bucket, dimension values) rows one query may group into
FILTER_CHARS = 10_000  # wire/filters.py: characters in one filter parameter
FILTER_CONDITIONS = 50  # wire/filters.py: conditions in one filter
FILTER_LIST_ITEMS = 100  # wire/filters.py: items in one list value (Klaviyo's limit for `any`)
FILTER_DEPTH = 10  # wire/filters.py: nested and(...)
FILTER_NUMBER = 2 ** 53  # wire/filters.py: numbers compared in SQL stay exact and in range on both backends

# Names, ids and ranges in one request.
GROUP_NAME_CHARS = 255  # api/segment_list_routes.py, console/lists.py, console/segments.py: a list's or segment's name
KEY_NAME_CHARS = 255  # console/keys.py: an API key's name
PROPERTY_NAME_CHARS = 255  # domain/segment_definitions.py, wire/aggregate_query.py, console/metrics.py: a property named
UNIQUE_ID_CHARS = 512  # domain/events.py: an event's unique id ($event_id)
RESOURCE_ID_CHARS = 64  # api/paged_reads.py, wire/privacy.py, wire/subscription_jobs.py, console/profiles.py: an id named
TIMEZONE_CHARS = 64  # store/accounts.py, wire/aggregate_query.py: an IANA time zone name
KEY_SECRET_CHARS = 128  # store/keys.py: longer is no key Footfall issues
CONSOLE_SEARCH_CHARS = 512  # console/profiles.py: the profile search
AGGREGATE_RANGE_SECONDS = 366 * 86400 + 3600  # wire/aggregate_query.py: one year (a leap year, plus a DST hour)

# Pages: default and most rows per page.
AGGREGATE_PAGE_MAX = 10_000  # wire/aggregate_query.py
AGGREGATE_PAGE_DEFAULT = 500  # wire/aggregate_query.py
MEMBER_PAGE_DEFAULT = 20  # api/segment_list_routes.py
MEMBER_PAGE_MAX = 100  # api/segment_list_routes.py
GROUP_PAGE_SIZE = 10  # api/segment_list_routes.py: Klaviyo pages lists and segments ten at a time
EVENTS_PAGE_DEFAULT, EVENTS_PAGE_MAX = 200, 1000  # api/events_read.py
METRICS_PAGE_DEFAULT, METRICS_PAGE_MAX = 200, 200  # api/metrics.py
PROFILES_PAGE_DEFAULT, PROFILES_PAGE_MAX = 20, 100  # api/profiles_read.py
WEBHOOKS_PAGE_DEFAULT, WEBHOOKS_PAGE_MAX = 20, 100  # api/webhooks.py


@dataclass(frozen=True)
class Limits:
    max_metrics_per_account: int = 200
    legacy_payload_bytes: int = 1024 * 1024
    modern_payload_bytes: int = 5 * 1024 * 1024
    max_properties: int = 400
    max_string_bytes: int = 100 * 1024
    max_array_items: int = 4000
    max_depth: int = 10
    # Not a size: the rule for the dedup key of an event without a unique id, which travels with the
    # limits to every parser and applier (domain/event_dedup.DEDUP_MODES; FOOTFALL_DEDUP_WITHOUT_ID).
    dedup_without_id: str = "second"
    # Nor this: drop later events naming a person deleted while it is on (FOOTFALL_SUPPRESS_AFTER_DELETE;
    # store/deleted.py). It travels here because deletion and ingest both run in the writer, which gets the limits.
    suppress_after_delete: bool = False


def check_properties(props: dict[str, Any], limits: Limits, path: str = "properties", *,
                     strings_checked: bool = False, checked: Any = None) -> None:
    """Refuse a property object over the count, string, array or nesting limits.

    strings_checked: the caller knows every key and string in props to be within the string limit
    and free of NUL, as values JSON decoding made of a text no longer than max_string_bytes that was
    refused whole if it held a NUL (wire/source_body.json_value): only the rest is checked.
    checked: with strings_checked, a container that is one of props' values and was found within the
    limits at that same place before (a batch's shared context, wire/sources.SharedContexts): not
    walked again."""
    if len(props) > limits.max_properties:
        raise LimitExceeded(
            f"{len(props)} properties, more than the limit of {limits.max_properties}", path
        )
    if strings_checked:
        _raise(_containers(props, limits, 1) if checked is None else _containers_but(props, limits, checked), path)
    else:
        check_value(props, limits, path, 1)


def properties_refused(props: dict[str, Any], limits: Limits) -> bool:
    """Whether check_properties(props, limits) (no options) would refuse props, without building
    the path it would name: a caller decoding many events asks this first, and checks only the
    refused for their error."""
    return len(props) > limits.max_properties or _walk(props, limits, 1) is not None


def check_value(value: Any, limits: Limits, path: str, depth: int) -> None:
    """Walk a JSON value; depth counts the containers entered (the top object is level 1).

    Every event's properties pass through here, so the walk builds no path while it goes: a refusal's
    place is put together from the inside out only once something is refused."""
    _raise(_walk(value, limits, depth), path)


def _raise(problem: _Problem | None, path: str) -> None:
    if problem is not None:
        refusal, message, inside = problem
        raise refusal(message, path + "".join(reversed(inside)))


_Problem = tuple[type[Exception], str, list[str]]  # (refusal, message, path parts innermost first)
_SCALARS = (int, float, bool, type(None))
_JSON_SCALARS = frozenset(_SCALARS)


def _walk(value: Any, limits: Limits, depth: int) -> _Problem | None:
    if isinstance(value, str):
        return _string_problem(value, limits)
    if isinstance(value, dict):
        if depth > limits.max_depth:
            return LimitExceeded, f"nested more than {limits.max_depth} levels deep", []
        quarter = limits.max_string_bytes // 4  # a string this short is within the limit in any encoding
        for key, item in value.items():
            if len(key) > quarter and len(key.encode()) > limits.max_string_bytes:
                return LimitExceeded, "property name too long", []
            if "\x00" in key:
                return InvalidInput, f"a property name {NUL_REFUSED}", []
            kind = type(item)  # JSON's own types first, by identity (a subclass takes the isinstance tests)
            if kind is str or (kind not in _JSON_SCALARS and isinstance(item, str)):
                if "\x00" not in item and len(item) <= quarter:  # most values: checked here, not by a call
                    continue
                problem = _string_problem(item, limits)
            elif kind in _JSON_SCALARS or isinstance(item, _SCALARS):
                continue
            else:
                problem = _walk(item, limits, depth + 1)
            if problem is not None:
                problem[2].append(f".{key}")
                return problem
    elif isinstance(value, list):
        if depth > limits.max_depth:
            return LimitExceeded, f"nested more than {limits.max_depth} levels deep", []
        if len(value) > limits.max_array_items:
            return LimitExceeded, f"array of {len(value)} items, more than the limit of {limits.max_array_items}", []
        for i, item in enumerate(value):
            if not isinstance(item, _SCALARS):
                problem = _walk(item, limits, depth + 1)
                if problem is not None:
                    problem[2].append(f"[{i}]")
                    return problem
    return None


def _containers(value: dict[str, Any] | list[Any], limits: Limits, depth: int) -> _Problem | None:
    """_walk's nesting and array checks alone, for JSON-decoded values whose strings need none."""
    if depth > limits.max_depth:
        return LimitExceeded, f"nested more than {limits.max_depth} levels deep", []
    if type(value) is dict:
        entries: Any = value.items()
    else:
        if len(value) > limits.max_array_items:
            return LimitExceeded, f"array of {len(value)} items, more than the limit of {limits.max_array_items}", []
        entries = enumerate(value)
    for place, item in entries:
        kind = type(item)
        if kind is dict or kind is list:
            problem = _containers(item, limits, depth + 1)
            if problem is not None:
                problem[2].append(f".{place}" if type(place) is str else f"[{place}]")
                return problem
    return None


def _containers_but(props: dict[str, Any], limits: Limits, checked: Any) -> _Problem | None:
    """_containers(props, limits, 1), but for the value that is `checked`."""
    for key, item in props.items():
        kind = type(item)
        if (kind is dict or kind is list) and item is not checked:
            problem = _containers(item, limits, 2)
            if problem is not None:
                problem[2].append(f".{key}")
                return problem
    return None


def _string_problem(value: str, limits: Limits) -> _Problem | None:
    if "\x00" in value:
        return InvalidInput, NUL_REFUSED, []
    if len(value) > limits.max_string_bytes // 4 and len(value.encode()) > limits.max_string_bytes:
        return (LimitExceeded,
                f"string of {len(value.encode())} bytes, more than the limit of {limits.max_string_bytes}", [])
    return None


def may_hold_nul(text: str) -> bool:
    """Cheap pre-check on JSON text: could a decoded string contain U+0000?"""
    return "\\u0000" in text or "\x00" in text


def reject_nul(value: Any, path: str = "") -> None:
    """Refuse U+0000 anywhere (keys or strings): PostgreSQL text and jsonb cannot store it."""
    if isinstance(value, str):
        if "\x00" in value:
            raise InvalidInput(NUL_REFUSED, path or "data")
    elif isinstance(value, dict):
        for key, item in value.items():
            reject_nul(key, path)
            reject_nul(item, f"{path}.{key}" if path else str(key))
    elif isinstance(value, list):
        for i, item in enumerate(value):
            reject_nul(item, f"{path}[{i}]")
