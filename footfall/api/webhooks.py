"""/api/webhooks, /api/webhook-topics, /api/webhook-deliveries: Klaviyo's webhook management, plus
Footfall's delivery log (each delivery's attempts), retry of one delivery and replay of a time range.

Keys need webhooks:read / webhooks:write. Webhook writes go through the ingest pipeline like every
other write; retry and replay only touch delivery rows (store/webhooks.py).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from footfall.api import ingest
from footfall.api.json_documents import base_url, document, json_body, no_content
from footfall.api.modern_routes import api_route
from footfall.api.request_keys import private_key
from footfall.api.app_state import services
from footfall.domain import topics
from footfall.domain.webhooks import DeleteWebhook, SaveWebhook
from footfall.domain.segment_definitions import parse_date
from footfall.store import segment_list_rows, webhooks
from footfall.webhooks import messages, ssrf
from footfall.wire import filters, params
from footfall.wire import webhooks as wire
from footfall.wire.jsonapi import decode_cursor, encode_cursor, invalid
from footfall.refusals import ApiError
from footfall.domain.limits import (
    WEBHOOKS_BODY_BYTES as BODY_LIMIT,
    WEBHOOK_REPLAY_MESSAGES as MAX_REPLAY,
    WEBHOOKS_PAGE_DEFAULT as PAGE_DEFAULT,
    WEBHOOKS_PAGE_MAX as PAGE_MAX,
)

DELIVERY_FILTERS = {
    "webhook_id": filters.FieldRule(("equals",)),
    "status": filters.FieldRule(("equals",)),
    "created_at": filters.FieldRule(("greater-or-equal", "greater-than", "less-than", "less-or-equal"), "datetime"),
}
STATUSES = ("pending", "succeeded", "failed")


def _path_id(request: Request, kind: str) -> str:
    """The {id} of the path; one that no id of ours can be (NUL, symbols, too long) is simply not found,
    and never reaches the database (PostgreSQL refuses NUL in text)."""
    value = request.path_params["id"]
    if not (0 < len(value) <= 64 and value.isascii() and value.isalnum()):
        raise ApiError(404, "not_found", f"No {kind} with that id in this account.")
    return value


def _allow(request: Request) -> ssrf.Allow:
    return ssrf.parse_allow(services(request).settings.webhook_allow)


def _notify(request: Request, *keys: str) -> None:
    hub = getattr(request.app.state, "hub", None)
    if hub is not None:
        hub.notify(keys)


async def list_webhooks(request: Request) -> Response:
    grant = await private_key(request, "webhooks", "read")
    rows = await services(request).read(lambda conn: webhooks.webhooks_of(conn, grant.account_id))
    base = base_url(request)
    return document([wire.webhook(base, r) for r in rows], links={"self": str(request.url), "next": None, "prev": None})


async def create_webhook(request: Request) -> Response:
    grant = await private_key(request, "webhooks", "write")
    body, _ = await json_body(request, BODY_LIMIT)
    fields = wire.webhook_fields(body, _allow(request), creating=True,
                                 default_batch=services(request).settings.webhook_batch_size)
    result = await ingest.submit(request, SaveWebhook(grant.account_id, None, fields), attributes_at="/data/attributes")
    _notify(request, "webhooks")
    row = await _read(request, grant.account_id, result.webhook_id)
    return document(wire.webhook(base_url(request), row), status=201)


async def get_webhook(request: Request) -> Response:
    grant = await private_key(request, "webhooks", "read")
    row = await _read(request, grant.account_id, _path_id(request, "webhook"))
    return document(wire.webhook(base_url(request), row))


async def update_webhook(request: Request) -> Response:
    grant = await private_key(request, "webhooks", "write")
    wid = _path_id(request, "webhook")
    await _read(request, grant.account_id, wid)
    body, _ = await json_body(request, BODY_LIMIT)
    fields = wire.webhook_fields(body, _allow(request), creating=False, webhook_id=wid)
    await ingest.submit(request, SaveWebhook(grant.account_id, wid, fields), attributes_at="/data/attributes")
    _notify(request, "webhooks", f"webhook:{wid}")
    row = await _read(request, grant.account_id, wid)
    return document(wire.webhook(base_url(request), row))


async def delete_webhook(request: Request) -> Response:
    grant = await private_key(request, "webhooks", "write")
    wid = _path_id(request, "webhook")
    await _read(request, grant.account_id, wid)
    await ingest.submit(request, DeleteWebhook(grant.account_id, wid), attributes_at="/data/attributes")
    _notify(request, f"webhook:{wid}")
    return no_content()


async def replay(request: Request) -> Response:
    """POST /api/webhooks/{id}/replay: send again what the outbox holds from start to end (202)."""
    grant = await private_key(request, "webhooks", "write")
    wid = _path_id(request, "webhook")
    hook = await _read(request, grant.account_id, wid)
    body, _ = await json_body(request, BODY_LIMIT)
    start, end = wire.replay_range(body, parse_date)
    made = await services(request).read(lambda conn: webhooks.replay(
        conn, grant.account_id, hook, start, end, matches=messages.matcher(hook), max_messages=MAX_REPLAY))
    _notify(request, f"webhook:{wid}")
    return document({"type": "webhook-replay", "id": wid,
                     "attributes": {"deliveries": len(made), "delivery_ids": made}}, status=202)


async def _read(request: Request, account_id: str, webhook_id: str) -> dict[str, Any]:
    row = await services(request).read(lambda conn: webhooks.webhook(conn, account_id, webhook_id))
    if row is None:
        raise ApiError(404, "not_found", "No webhook with that id in this account.")
    return row


# -- topics -----------------------------------------------------------------------------------------

async def _topics(request: Request, account_id: str) -> dict[str, str]:
    """topic id -> name: the fixed topics, then one per metric of the account."""
    metric_names = await services(request).read(lambda conn: segment_list_rows.metric_names(
        conn, account_id, [r[0] for r in conn.all("SELECT id FROM metrics WHERE account_id = ?", (account_id,))]))
    found = {tid: name for tid, (name, _) in topics.FIXED.items()}
    for name in sorted(metric_names.values()):
        found.setdefault(topics.event_topic(name), name)
    return found


async def list_topics(request: Request) -> Response:
    grant = await private_key(request, "webhooks", "read")
    base = base_url(request)
    listed = await _topics(request, grant.account_id)
    return document([wire.topic(base, tid, name) for tid, name in listed.items()],
                    links={"self": str(request.url), "next": None, "prev": None})


async def get_topic(request: Request) -> Response:
    grant = await private_key(request, "webhooks", "read")
    tid = request.path_params["id"]
    listed = await _topics(request, grant.account_id)
    if tid not in listed:
        raise ApiError(404, "not_found", "No webhook topic with that id in this account.")
    return document(wire.topic(base_url(request), tid, listed[tid]))


# -- deliveries -------------------------------------------------------------------------------------

async def list_deliveries(request: Request) -> Response:
    grant = await private_key(request, "webhooks", "read")
    query = request.query_params
    size = params.page_size(query, PAGE_DEFAULT, PAGE_MAX)
    kwargs: dict[str, Any] = {}
    text = query.get("filter")
    for cond in filters.validate(text, DELIVERY_FILTERS) if text else []:
        if cond.field == "status" and cond.value not in STATUSES:
            raise invalid(f"status must be one of {', '.join(STATUSES)}", parameter="filter")
        if cond.field in ("webhook_id", "status"):
            kwargs[cond.field] = cond.value
        elif cond.operator.startswith("greater"):
            kwargs["since"] = cond.value.timestamp() + (1e-6 if cond.operator == "greater-than" else 0)
        else:
            kwargs["until"] = cond.value.timestamp() + (1e-6 if cond.operator == "less-or-equal" else 0)
    cursor = query.get("page[cursor]")
    if cursor:
        position = decode_cursor(cursor)
        if len(position) != 1 or not isinstance(position[0], str):
            raise invalid(f"{cursor!r} is not a cursor this server issued", parameter="page[cursor]")
        kwargs["after_id"] = position[0]
    rows = await services(request).read(lambda conn: webhooks.deliveries(conn, grant.account_id, limit=size + 1,
                                                                         **kwargs))
    base = base_url(request)
    links: dict[str, Any] = {"self": str(request.url), "next": None, "prev": None}
    if len(rows) > size:
        rows = rows[:size]
        items = [(k, v) for k, v in query.multi_items() if k != "page[cursor]"]
        links["next"] = params.links(base, request.url.path, [*items, ("page[cursor]", encode_cursor(rows[-1]["id"]))],
                                     None, None)["self"]
    return document([wire.delivery(base, r) for r in rows], links=links)


async def get_delivery(request: Request) -> Response:
    grant = await private_key(request, "webhooks", "read")
    row = await _delivery(request, grant.account_id)
    return document(wire.delivery(base_url(request), row))


async def delivery_attempts(request: Request) -> Response:
    grant = await private_key(request, "webhooks", "read")
    row = await _delivery(request, grant.account_id)
    rows = await services(request).read(lambda conn: webhooks.attempts(conn, grant.account_id, row["id"]))
    return document([wire.attempt(base_url(request), r) for r in rows], links={"self": str(request.url), "next": None, "prev": None})


async def retry_delivery(request: Request) -> Response:
    grant = await private_key(request, "webhooks", "write")
    row = await _delivery(request, grant.account_id)
    await services(request).read(lambda conn: webhooks.retry(conn, grant.account_id, row["id"]))
    _notify(request, f"webhook:{row['webhook_id']}")
    row = await _delivery(request, grant.account_id)
    return document(wire.delivery(base_url(request), row), status=202)


async def _delivery(request: Request, account_id: str) -> dict[str, Any]:
    did = _path_id(request, "webhook delivery")
    row = await services(request).read(lambda conn: webhooks.delivery(conn, account_id, did))
    if row is None:
        raise ApiError(404, "not_found", "No webhook delivery with that id in this account.")
    return row


routes = [
    *api_route("/api/webhooks", list_webhooks, ["GET"]),
    *api_route("/api/webhooks", create_webhook, ["POST"]),
    *api_route("/api/webhooks/{id}", get_webhook, ["GET"]),
    *api_route("/api/webhooks/{id}", update_webhook, ["PATCH"]),
    *api_route("/api/webhooks/{id}", delete_webhook, ["DELETE"]),
    *api_route("/api/webhooks/{id}/replay", replay, ["POST"]),
    *api_route("/api/webhook-topics", list_topics, ["GET"]),
    *api_route("/api/webhook-topics/{id}", get_topic, ["GET"]),
    *api_route("/api/webhook-deliveries", list_deliveries, ["GET"]),
    *api_route("/api/webhook-deliveries/{id}", get_delivery, ["GET"]),
    *api_route("/api/webhook-deliveries/{id}/attempts", delivery_attempts, ["GET"]),
    *api_route("/api/webhook-deliveries/{id}/retry", retry_delivery, ["POST"]),
]
