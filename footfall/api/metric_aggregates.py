"""POST /api/metric-aggregates: count, sum of value and unique profiles of a metric per time bucket.

Answer: {"data":{"type":"metric-aggregate","id":…,"attributes":{"dates":[bucket starts in the zone],
"data":[{"dimensions":[…],"measurements":{"count":[…],…}}]}}}, each measurement aligned with `dates`.
Dimension groups (one per distinct `by` value tuple) are paged by `page_size` / `page_cursor`.
"""

from __future__ import annotations

import uuid
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from footfall.analytics import buckets
from footfall.api.json_documents import base_url, document, json_body
from footfall.api.modern_routes import api_route
from footfall.api.request_keys import private_key
from footfall.api.app_state import services
from footfall.store import aggregates
from footfall.wire import aggregate_query
from footfall.wire.aggregate_query import AggregateQuery
from footfall.wire.jsonapi import encode_cursor, invalid
from footfall.refusals import ApiError, TooManyGroups
from footfall.domain.limits import AGGREGATES_BODY_BYTES as BODY_LIMIT, AGGREGATE_ROWS as MAX_ROWS



async def query_metric_aggregates(request: Request) -> Response:
    grant = await private_key(request, "metrics", "read")
    body, _ = await json_body(request, BODY_LIMIT)
    query = aggregate_query.decode(body)

    try:
        # In a worker thread: a year of hour buckets takes ~0.1 s to lay out, too long for the event loop.
        answer = await services(request).read(lambda conn: compute(conn, grant.account_id, query))
    except TooManyGroups:
        raise invalid(f"The query groups into more than {MAX_ROWS} (date, dimension) rows; narrow the datetime "
                      "range, use a longer interval or fewer `by` dimensions.", pointer="/data/attributes/by") from None
    if answer is None:
        raise ApiError(404, "not_found", f"There is no metric {query.metric_id!r} in this account.",
                       pointer="/data/attributes/metric_id")
    dates, groups = answer
    page = groups[query.offset:query.offset + query.page_size]
    self_url = f"{base_url(request)}/api/metric-aggregates"
    links: dict[str, Any] = {"self": self_url}
    if query.offset + query.page_size < len(groups):
        links["next"] = f"{self_url}?page[cursor]={encode_cursor(query.offset + query.page_size)}"
    attributes: dict[str, Any] = {}
    if "dates" in query.return_fields:
        attributes["dates"] = dates
    if "data" in query.return_fields:
        attributes["data"] = page
    resource = {"type": "metric-aggregate", "id": uuid.uuid4().hex, "attributes": attributes,
                "links": {"self": self_url}}
    return document(resource, links=links)


def compute(conn, account_id: str, query: AggregateQuery) -> tuple[list[str], list[dict[str, Any]]] | None:
    """The dates and every dimension group of a query (None: no such metric); the console charts call this too."""
    if not aggregates.metric_exists(conn, account_id, query.metric_id):
        return None
    plan = buckets.plan(query.interval, query.zone, query.start, query.end)
    rows = aggregates.aggregate(conn, account_id, query.metric_id, plan, query.by, query.dimension_filters, MAX_ROWS,
                                query.measurements)
    return [d.isoformat() for d in plan.dates()], _groups(rows, plan, query)


def _groups(rows: list[aggregates.Row], plan: buckets.Plan, query: AggregateQuery) -> list[dict[str, Any]]:
    """One entry per distinct dimension tuple, measurements as arrays aligned with the plan's dates."""
    index = plan.index()
    width = len(plan.keys)
    series: dict[tuple[str, ...], dict[str, list]] = {}
    if not query.by:  # without `by` there is always exactly one group, zeros included
        series[()] = _empty(width)
    for row in rows:
        dims = tuple("" if v is None else v for v in row.dims)
        target = series.setdefault(dims, _empty(width))
        i = index[row.key]
        target["count"][i] += row.count
        target["sum_value"][i] += row.sum_value
        target["unique"][i] += row.unique
    ordered = sorted(series.items(), key=lambda item: item[0])
    if query.sort is not None:
        name, descending = query.sort
        if name in query.by:
            position = query.by.index(name)
            ordered.sort(key=lambda item: item[0][position], reverse=descending)
        else:
            ordered.sort(key=lambda item: sum(item[1][name]), reverse=descending)
    return [{"dimensions": list(dims), "measurements": {m: values[m] for m in query.measurements}}
            for dims, values in ordered]


def _empty(width: int) -> dict[str, list]:
    return {"count": [0] * width, "sum_value": [0.0] * width, "unique": [0] * width}


routes = api_route("/api/metric-aggregates", query_metric_aggregates, ["POST"])
