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
    return JSONResponse({"status": "ok" if healthy else "unhealthy", **detail}, status_code=200 if healthy else 503)


routes = [Route("/healthz", healthz)]
