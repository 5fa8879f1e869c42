"""GET /api/events and /api/events/{id} (+ its metric and profile): the read half of Klaviyo's Events API.

Scope `events:read`. Default order is -datetime (newest first), so events arriving while a client
pages do not shift the pages it has yet to read.
"""

from __future__ import annotations

from typing import Any, Callable

from starlette.requests import Request
from starlette.responses import Response

from footfall.api import paged_reads
from footfall.api.json_documents import base_url, document
from footfall.api.modern_routes import api_route
from footfall.api.profiles_read import PROFILE_FIELDS
from footfall.api.metrics import METRIC_FIELDS
from footfall.store.conn import Conn
from footfall.store.queries import events as event_queries
from footfall.store.queries import metrics as metric_queries
from footfall.store.queries import profiles as profile_queries
from footfall.wire import params, resources
from footfall.wire.filters import FieldRule
from footfall.domain.limits import EVENTS_PAGE_DEFAULT as PAGE_DEFAULT, EVENTS_PAGE_MAX as PAGE_MAX

_COMPARISONS = ("greater-or-equal", "greater-than", "less-or-equal", "less-than")
WHITELIST = {
    "metric_id": FieldRule(("equals",)),
    "profile_id": FieldRule(("equals",)),
    "profile": FieldRule(("has",), "none"),
    "metric": FieldRule(("has",), "none"),
    "datetime": FieldRule(_COMPARISONS, "datetime"),
    "timestamp": FieldRule(_COMPARISONS, "number"),
}
SORTS = ("datetime", "-datetime", "timestamp", "-timestamp")
DEFAULT_SORT = "-datetime"
EVENT_FIELDS = ("datetime", "event_properties", "id", "timestamp", "uuid")
# Footfall records no attributions (no campaigns or flows): including them adds nothing.
INCLUDES = ("metric", "profile", "attributions")


class _Shape:
    """How this request wants events and their related resources rendered."""

    def __init__(self, request: Request) -> None:
        query = request.query_params
        self.base = base_url(request)
        self.include = params.include(query, INCLUDES)
        self.fields = {
            "event": params.fieldset(query, "event", EVENT_FIELDS),
            "metric": params.fieldset(query, "metric", METRIC_FIELDS),
            "profile": params.fieldset(query, "profile", PROFILE_FIELDS),
        }

    def event(self, row: dict[str, Any]) -> dict[str, Any]:
        return params.sparse(resources.event(self.base, row), self.fields["event"])

    def metric(self, row: dict[str, Any]) -> dict[str, Any]:
        return params.sparse(resources.metric(self.base, row), self.fields["metric"])

    def profile(self, row: dict[str, Any]) -> dict[str, Any]:
        return params.sparse(resources.profile(self.base, row), self.fields["profile"])

    def related(self, conn: Conn, account_id: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]] | None:
        """The included[] resources for these events (None when nothing is included)."""
        if not self.include & {"metric", "profile"}:
            return [] if self.include else None
        out: list[dict[str, Any]] = []
        if "metric" in self.include:
            out += [self.metric(m) for m in metric_queries.by_ids(conn, account_id, (r["metric_id"] for r in rows))]
        if "profile" in self.include:
            out += [self.profile(p) for p in profile_queries.by_ids(conn, account_id, (r["profile_id"] for r in rows))]
        return out


async def list_events(request: Request) -> Response:
    account_id = await paged_reads.account_for(request, "events")
    conditions = paged_reads.checked_filters(request, WHITELIST)
    sort = params.sort(request.query_params, SORTS, DEFAULT_SORT)
    window = paged_reads.window(request, PAGE_DEFAULT, PAGE_MAX)
    shape = _Shape(request)

    def load(conn: Conn):
        page = event_queries.page(conn, account_id, conditions, sort, window)
        return page, shape.related(conn, account_id, page.rows)

    page, included = await paged_reads.read(request, load)
    return paged_reads.collection(request, [shape.event(r) for r in page.rows], page, included)


async def get_event(request: Request) -> Response:
    account_id = await paged_reads.account_for(request, "events")
    event_id = paged_reads.path_id(request, "event")
    shape = _Shape(request)

    def load(conn: Conn):
        row = event_queries.one(conn, account_id, event_id)
        return row, (shape.related(conn, account_id, [row]) if row else None)

    row, included = await paged_reads.read(request, load)
    if row is None:
        raise paged_reads.not_found("event", event_id)
    return paged_reads.single(request, shape.event(row), included)


async def _event_or_404(request: Request, account_id: str) -> dict[str, Any]:
    event_id = paged_reads.path_id(request, "event")
    row = await paged_reads.read(request, lambda conn: event_queries.one(conn, account_id, event_id))
    if row is None:
        raise paged_reads.not_found("event", event_id)
    return row


async def event_metric(request: Request) -> Response:
    return await _related(request, "metric", metric_queries.one)


async def event_profile(request: Request) -> Response:
    return await _related(request, "profile", profile_queries.one)


RelatedRead = Callable[[Conn, str, str], "dict[str, Any] | None"]


async def _related(request: Request, name: str, one: RelatedRead) -> Response:
    """The event's metric or profile as its own document (`name` is the relationship and _Shape's renderer)."""
    account_id = await paged_reads.account_for(request, "events")
    shape = _Shape(request)
    row = await _event_or_404(request, account_id)
    related_id = row[f"{name}_id"]
    found = await paged_reads.read(request, lambda conn: one(conn, account_id, related_id))
    if found is None:
        raise paged_reads.not_found(name, related_id)
    return paged_reads.single(request, getattr(shape, name)(found))


def _relationship(name: str):
    async def relationship(request: Request) -> Response:
        account_id = await paged_reads.account_for(request, "events")
        row = await _event_or_404(request, account_id)
        base, eid = base_url(request), row["id"]
        return document({"type": name, "id": row[f"{name}_id"]},
                        links={"self": f"{base}/api/events/{eid}/relationships/{name}",
                               "related": f"{base}/api/events/{eid}/{name}"})

    relationship.__name__ = f"event_{name}_relationship"
    return relationship


routes = [
    *api_route("/api/events", list_events, ["GET"], name="get_events"),
    *api_route("/api/events/{id}", get_event, ["GET"], name="get_event"),
    *api_route("/api/events/{id}/metric", event_metric, ["GET"], name="get_metric_for_event"),
    *api_route("/api/events/{id}/profile", event_profile, ["GET"], name="get_profile_for_event"),
    *api_route("/api/events/{id}/relationships/metric", _relationship("metric"), ["GET"],
               name="get_metric_id_for_event"),
    *api_route("/api/events/{id}/relationships/profile", _relationship("profile"), ["GET"],
               name="get_profile_id_for_event"),
]
