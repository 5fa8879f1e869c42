"""/healthz: is the writer running and the store reachable? 503 when not, with the reason."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from footfall.api.services import services


async def healthz(request: Request) -> JSONResponse:
    pipeline = services(request).pipeline
    detail = pipeline.health()
    healthy = pipeline.alive and pipeline.store_ok and not pipeline.stalled
    # Reachable but every write failing (disk full, read-only): not ok, whatever the connection says.
    status = "ok" if healthy and not pipeline.writes_failing else "degraded" if healthy else "unhealthy"
    return JSONResponse({"status": status, **detail}, status_code=200 if status == "ok" else 503)


routes = [Route("/healthz", healthz)]
