"""Segments: the list (count, size sparkline), a segment's page (members, size over time, joins and
leaves per day) and the builder (live count from the real evaluator; saved through the API's pipeline)."""

from __future__ import annotations

import json
import math
from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from footfall import clock
from footfall.api import ingest
from footfall.api.app_state import services
from footfall.console import web
from footfall.refusals import ApiError, InvalidInput
from footfall.domain.segment_list_ops import SaveSegment
from footfall.domain.models import CONSENT_CHANNELS
from footfall.segments import evaluator
from footfall.domain import segment_definitions
from footfall.store import console_reads, segment_list_rows
from footfall.store.conn import Conn
from footfall.store.queries import metrics as metric_queries
from footfall.store.queries.paging import Window
from footfall.domain.limits import CONSOLE_DEFINITION_BYTES as DEFINITION_LIMIT, GROUP_NAME_CHARS

HISTORY_DAYS = 30
MEMBER_PAGE = 20
EMPTY = {"condition_groups": [{"conditions": [
    {"type": "profile-property", "property": "email", "filter": {"type": "existence", "operator": "is-set"}}]}]}


def _history(conn: Conn, account_id: str, group_id: str, now: float) -> dict[str, Any]:
    today = math.floor(now / 86400)
    first = today - HISTORY_DAYS + 1
    days = console_reads.membership_days(conn, account_id, group_id, first, HISTORY_DAYS)
    return {"x": [(first + i) * 86400 for i in range(HISTORY_DAYS)], **days}


def _chart(history: dict[str, Any], *names: str) -> dict[str, Any]:
    labels = {"size": "Members", "joins": "Joined", "leaves": "Left"}
    return {"x": history["x"], "utc": True, "series": [{"label": labels[n], "values": history[n]} for n in names]}


async def segment_list(request: Request) -> Response:
    viewer = await web.require_viewer(request, "segments")
    now = clock.now()

    def read(conn: Conn) -> list[dict[str, Any]]:
        rows = segment_list_rows.segments(conn, viewer.account_id)
        return [{**r, "members": segment_list_rows.member_count(conn, viewer.account_id, r["id"]),
                 "chart": _chart(_history(conn, viewer.account_id, r["id"], now), "size")} for r in rows]

    return web.page(request, "segments.html", viewer, segments=await services(request).read(read))


async def segment_page(request: Request) -> Response:
    viewer = await web.require_viewer(request, "segments")
    sid = request.path_params["id"]
    after = request.query_params.get("after")
    position = None
    if after:
        joined, _, pid = after.partition("~")
        try:
            position = (float(joined), pid)
        except ValueError:
            raise web.Refused(400, "That members page link is not one this console made.") from None
    now = clock.now()

    def read(conn: Conn) -> dict[str, Any] | None:
        row = segment_list_rows.segment(conn, viewer.account_id, sid)
        if row is None:
            return None
        members = segment_list_rows.members_page(conn, viewer.account_id, sid, after=position, limit=MEMBER_PAGE + 1)
        history = _history(conn, viewer.account_id, sid, now)
        return {"segment": row, "count": segment_list_rows.member_count(conn, viewer.account_id, sid),
                "members": members[:MEMBER_PAGE], "more": len(members) > MEMBER_PAGE,
                "size_chart": _chart(history, "size"), "flow_chart": _chart(history, "joins", "leaves"),
                "history": history}

    data = await services(request).read(read)
    if data is None:
        raise web.Refused(404, "There is no such segment in this account.")
    next_link = None
    if data["more"]:
        last = data["members"][-1]
        next_link = f"/console/segments/{sid}?after={last['joined_at']!r}~{last['id']}"
    days = [{"day": _day(x), "joins": j, "leaves": lv, "size": s} for x, j, lv, s in
            zip(data["history"]["x"], data["history"]["joins"], data["history"]["leaves"], data["history"]["size"])]
    return web.page(request, "segment.html", viewer, next_link=next_link, days=list(reversed(days)),
                    definition_json=json.dumps(data["segment"]["definition"], indent=2), **data)


def _day(seconds: float) -> str:
    from datetime import datetime, timezone
    return datetime.fromtimestamp(seconds, timezone.utc).date().isoformat()


# -- the builder --------------------------------------------------------------------------------------

def _choices(conn: Conn, account_id: str) -> dict[str, Any]:
    metrics = metric_queries.page(conn, account_id, [], Window(200)).rows
    return {"metrics": sorted(({"id": m["id"], "name": m["name"]} for m in metrics), key=lambda m: m["name"]),
            "groups": [{"id": r["id"], "name": r["name"], "kind": "segment"} for r in segment_list_rows.segments(conn, account_id)]
            + [{"id": r["id"], "name": r["name"], "kind": "list"} for r in segment_list_rows.lists(conn, account_id)]}


def _builder_context(choices: dict[str, Any]) -> dict[str, Any]:
    vocabulary = {
        "metrics": choices["metrics"], "groups": choices["groups"], "channels": list(CONSENT_CHANNELS),
        "attributes": list(segment_definitions.TEXT_COLUMNS) + list(segment_definitions.TIME_COLUMNS),
        "location_fields": ["address1", "address2", "city", "region", "country", "zip", "timezone", "latitude",
                            "longitude", "ip"],
        "operators": {t: _operators(t) for t in segment_definitions.POSITIVE_OPS},
        "timeframes": list(segment_definitions.TIMEFRAME_OPS), "units": list(segment_definitions.UNIT_SECONDS),
    }
    return {"vocabulary": vocabulary}


def _operators(ftype: str) -> list[str]:
    return segment_definitions._operator_names(ftype)  # the parser's own list, so the form offers exactly what it accepts


async def builder_new(request: Request) -> Response:
    viewer = await web.require_viewer(request, "segments")
    if not viewer.can("segments", "write"):
        raise web.Refused(403, "This console was opened with a key that lacks the segments:write scope.")
    choices = await services(request).read(lambda conn: _choices(conn, viewer.account_id))
    return web.page(request, "builder.html", viewer, segment=None, name="", errors=[],
                    definition_json=json.dumps(EMPTY, indent=2), **_builder_context(choices))


async def builder_edit(request: Request) -> Response:
    viewer = await web.require_viewer(request, "segments")
    if not viewer.can("segments", "write"):
        raise web.Refused(403, "This console was opened with a key that lacks the segments:write scope.")
    sid = request.path_params["id"]

    def read(conn: Conn) -> tuple[dict[str, Any] | None, dict[str, Any]]:
        return segment_list_rows.segment(conn, viewer.account_id, sid), _choices(conn, viewer.account_id)

    row, choices = await services(request).read(read)
    if row is None:
        raise web.Refused(404, "There is no such segment in this account.")
    return web.page(request, "builder.html", viewer, segment=row, name=row["name"], errors=[],
                    definition_json=json.dumps(row["definition"], indent=2), **_builder_context(choices))


def _parse_json(text: str) -> Any:
    if len(text) > DEFINITION_LIMIT:
        raise InvalidInput(f"the definition is larger than {DEFINITION_LIMIT} bytes", "")
    try:
        return json.loads(text)
    except (ValueError, RecursionError) as exc:
        raise InvalidInput(f"the definition is not JSON ({exc})", "") from None


def count_of(conn: Conn, account_id: str, segment_id: str | None, raw: Any, now: float) -> int:
    """The members a definition has now, by the segment evaluator on the stored data; refusals as the API's."""
    segment_definitions.parse(raw)
    segment_list_rows.check_references(conn, account_id, segment_id, raw)
    seg = evaluator.segment_from_row(account_id, {"id": segment_id or "", "version": 0, "swept_at": None,
                                                  "is_processing": False, "definition": raw})
    return evaluator.count(conn, seg, now)


async def live_count(request: Request) -> Response:
    """POST {"definition": …, "segment_id": …} (JSON, X-CSRF-Token header) → {"count": n} or {"errors": […]}."""
    viewer = await web.require_viewer(request, "segments")
    web.check_csrf(viewer, request.headers.get("x-csrf-token"))
    try:
        raw = await web.read_json(request, DEFINITION_LIMIT)
    except InvalidInput as exc:
        return web.json_reply({"errors": [{"path": exc.path, "detail": exc.detail}]}, 400)
    if not isinstance(raw, dict):
        return web.json_reply({"errors": [{"path": "", "detail": "send {\"definition\": {…}}"}]}, 400)
    sid = raw.get("segment_id") if isinstance(raw.get("segment_id"), str) else None
    started = clock.now()
    try:
        n = await services(request).read(lambda conn: count_of(conn, viewer.account_id, sid, raw.get("definition"),
                                                              clock.now()))
    except InvalidInput as exc:
        return web.json_reply({"errors": [{"path": exc.path, "detail": exc.detail}]}, 400)
    return web.json_reply({"count": n, "seconds": round(clock.now() - started, 4)})


async def create(request: Request) -> Response:
    return await _save(request, None)


async def update(request: Request) -> Response:
    return await _save(request, request.path_params["id"])


async def _save(request: Request, sid: str | None) -> Response:
    """The form's definition (a JSON text the builder keeps) saved with the API's SaveSegment operation."""
    viewer, form = await web.writer(request, "segments")
    name = web.field(form, "name").strip()
    text = web.field(form, "definition")
    errors: list[dict[str, str]] = []
    raw: Any = None
    if not name or len(name) > GROUP_NAME_CHARS:
        errors.append({"path": "name", "detail": f"name must be a non-empty string of at most {GROUP_NAME_CHARS} characters"})
    try:
        raw = _parse_json(text)
        segment_definitions.parse(raw)
    except InvalidInput as exc:
        errors.append({"path": exc.path, "detail": exc.detail})
    if not errors:
        try:
            result = await ingest.submit(request, SaveSegment(viewer.account_id, sid, name, raw), attributes_at="")
            return web.redirect(f"/console/segments/{result.group_id if sid is None else sid}")
        except ApiError as exc:
            if exc.status not in (400, 404, 409):
                raise web.Refused(exc.status, exc.detail) from None
            errors.append({"path": (exc.pointer or "").lstrip("/"), "detail": exc.detail})
    choices = await services(request).read(lambda conn: _choices(conn, viewer.account_id))
    row = None
    if sid is not None:
        row = await services(request).read(lambda conn: segment_list_rows.segment(conn, viewer.account_id, sid))
        if row is None:
            raise web.Refused(404, "There is no such segment in this account.")
    return web.page(request, "builder.html", viewer, status=400, segment=row, name=name, errors=errors,
                    definition_json=text, **_builder_context(choices))
