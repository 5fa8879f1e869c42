"""GET /api/stream: the account's outbox as Server-Sent Events, live (private key, webhooks:read).

Each message is one SSE event: `id:` its outbox position, `event:` its topic, `data:` the JSON
{"id", "topic", "position", "created", "payload"} (the same payload a webhook gets). `?topic=a,b`
(repeatable) keeps only those topics, `?group_id=` only those segments / lists for membership topics.
A client reconnecting with `Last-Event-ID` (or `?last_event_id=`) gets everything after it that the
outbox still holds (FOOTFALL_OUTBOX_RETENTION_SECONDS), with no gap; if part of that has been pruned,
a `gap` event says from where it resumes. Without it the stream starts at the present.

Commits of this server process wake the stream at once (webhooks/hub.py); other workers' and hosts'
are seen within FOOTFALL_WEBHOOK_POLL_SECONDS. A comment line every 15 s keeps proxies from closing it.
"""

from __future__ import annotations

import time
from typing import Any, AsyncIterator, Callable

import msgspec
from starlette.requests import Request
from starlette.responses import StreamingResponse

from footfall.api.json_documents import base_url
from footfall.api.modern_routes import api_route
from footfall.api.request_keys import private_key
from footfall.api.app_state import services
from footfall.domain import topics
from footfall.store import outbox
from footfall.webhooks import messages
from footfall.wire.jsonapi import invalid

READ_AHEAD = 500  # outbox rows read per query
KEEPALIVE = 15.0
_encode = msgspec.json.Encoder().encode


def _wanted(request: Request) -> tuple[frozenset[str] | None, frozenset[str]]:
    listed = [t.strip() for value in request.query_params.getlist("topic") for t in value.split(",") if t.strip()]
    for t in listed:
        if not topics.is_wellformed(t):
            raise invalid(f"{t[:100]!r} is not a topic (event:<metric slug>, or one of {', '.join(topics.FIXED)})",
                          parameter="topic")
    groups = [g.strip() for value in request.query_params.getlist("group_id") for g in value.split(",") if g.strip()]
    return (frozenset(listed) if listed else None), frozenset(groups)


def _last_event_id(request: Request) -> int | None:
    raw = request.headers.get("last-event-id") or request.query_params.get("last_event_id")
    if raw is None or raw.strip() == "":
        return None
    raw = raw.strip()
    if not raw.isdigit() or len(raw) > 18:
        raise invalid(f"Last-Event-ID must be the id of an event this stream sent (a whole number), not {raw[:40]!r}",
                      parameter="Last-Event-ID")
    return int(raw)


async def stream(request: Request) -> StreamingResponse:
    grant = await private_key(request, "webhooks", "read")
    wanted, groups = _wanted(request)

    def keep(row: dict[str, Any]) -> bool:
        return wanted is None or topics.matches(row["topic"], row["subject_id"], wanted, groups)

    return await outbox_stream(request, grant.account_id, keep, _last_event_id(request))


async def outbox_stream(request: Request, account_id: str, keep: Callable[[dict[str, Any]], bool],
                        last: int | None, *, named: bool = True) -> StreamingResponse:
    """The account's outbox from after `last` (None: from now) as SSE, the rows `keep` accepts.
    /api/stream and the console's live feed (/console/stream) both answer through it; `named=False`
    leaves out the `event:` line (a browser's EventSource then hands every message to onmessage)."""
    svc = services(request)
    start = last if last is not None else await svc.read(lambda conn: outbox.head(conn, account_id))
    hub = request.app.state.hub
    base = base_url(request)
    poll = svc.settings.webhook_poll_seconds

    def read(position: int) -> Callable[[Any], tuple[list[dict[str, Any]], int, int | None]]:
        def run(conn: Any) -> tuple[list[dict[str, Any]], int, int | None]:
            rows = outbox.after(conn, account_id, position, READ_AHEAD)
            oldest = outbox.oldest(conn, account_id) if position == start and last is not None else None
            reached = rows[-1]["position"] if rows else position
            items = messages.render(conn, account_id, [r for r in rows if keep(r)], base)
            conn.rollback()
            return items, reached, oldest
        return run

    async def events() -> AsyncIterator[bytes]:
        listener = hub.listen(account_id)
        position = start
        quiet_since = time.monotonic()
        try:
            yield b"retry: 1000\n: connected\n\n"
            while True:
                listener.clear()
                items, reached, oldest = await svc.read(read(position))
                if oldest is not None and oldest > position + 1:
                    yield f"event: gap\ndata: {_encode({'resumed_at': oldest}).decode()}\n\n".encode()
                chunks = [(b"id: %d\nevent: %s\ndata: %s\n\n" % (i["position"], i["topic"].encode(), _encode(i))
                           if named else b"id: %d\ndata: %s\n\n" % (i["position"], _encode(i))) for i in items]
                if chunks:
                    yield b"".join(chunks)
                    quiet_since = time.monotonic()
                moved = reached > position
                position = reached
                if moved:
                    continue  # there may be more
                if time.monotonic() - quiet_since >= KEEPALIVE:
                    yield b": keepalive\n\n"
                    quiet_since = time.monotonic()
                await listener.wait(poll)
        finally:
            listener.close()

    return StreamingResponse(events(), media_type="text/event-stream",
                             headers={"cache-control": "no-cache", "x-accel-buffering": "no"})


routes = [*api_route("/api/stream", stream, ["GET"])]
