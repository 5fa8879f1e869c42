"""GET /api/metrics and /api/metrics/{id}: the metrics of an account (scope `metrics:read`)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from footfall.api import paged_reads
from footfall.api.json_documents import base_url
from footfall.api.modern_routes import api_route
from footfall.store.conn import Conn
from footfall.store.queries import metrics as metric_queries
from footfall.wire import params, resources
from footfall.wire.filters import FieldRule
from footfall.domain.limits import METRICS_PAGE_DEFAULT as PAGE_DEFAULT, METRICS_PAGE_MAX as PAGE_MAX

WHITELIST = {
    "integration.name": FieldRule(("equals",)),
    "integration.category": FieldRule(("equals",)),
}
METRIC_FIELDS = ("name", "created", "updated", "integration")
# Klaviyo returns at most 200 metrics a page; page[size] is a Footfall extension within that.


async def list_metrics(request: Request) -> Response:
    account_id = await paged_reads.account_for(request, "metrics")
    conditions = paged_reads.checked_filters(request, WHITELIST)
    window = paged_reads.window(request, PAGE_DEFAULT, PAGE_MAX)
    fields = params.fieldset(request.query_params, "metric", METRIC_FIELDS)

    def load(conn: Conn):
        return metric_queries.page(conn, account_id, conditions, window)

    page = await paged_reads.read(request, load)
    base = base_url(request)
    data = [params.sparse(resources.metric(base, row), fields) for row in page.rows]
    return paged_reads.collection(request, data, page)


async def get_metric(request: Request) -> Response:
    account_id = await paged_reads.account_for(request, "metrics")
    metric_id = paged_reads.path_id(request, "metric")
    fields = params.fieldset(request.query_params, "metric", METRIC_FIELDS)
    row = await paged_reads.read(request, lambda conn: metric_queries.one(conn, account_id, metric_id))
    if row is None:
        raise paged_reads.not_found("metric", metric_id)
    return paged_reads.single(request, params.sparse(resources.metric(base_url(request), row), fields))


routes = [
    *api_route("/api/metrics", list_metrics, ["GET"], name="get_metrics"),
    *api_route("/api/metrics/{id}", get_metric, ["GET"], name="get_metric"),
]
