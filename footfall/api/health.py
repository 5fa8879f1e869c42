"""/livez, /readyz and /healthz.

/livez: the process answers. /readyz: this worker can take writes now (writer running, store
reachable, not stalled); 503 otherwise, for a load balancer to route around it. /healthz: every
worker of the server (their heartbeats, footfall/observability/heartbeat.py) with this worker's
detail at the top level; 503 with the reason unless all of them are ok.
"""

from __future__ import annotations

import os
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from footfall.api.app_state import services
from footfall.ingest.pipeline import Pipeline
from footfall.observability import heartbeat, rundir
from footfall.webhooks.deliverer_process import DelivererProcess

_RANK = {"ok": 0, "degraded": 1, "unhealthy": 2}


def worker_status(pipeline: Pipeline, deliverer: DelivererProcess | None = None) -> dict[str, Any]:
    """This worker's health: ok, degraded (reachable but every write failing: disk full, read-only;
    or its webhook deliverer process not running) or unhealthy (writer dead, store unreachable or
    stalled), with the pipeline's and the deliverer's detail."""
    healthy = pipeline.alive and pipeline.store_ok and not pipeline.stalled
    delivering = deliverer is None or deliverer.pid is not None
    status = ("ok" if healthy and delivering and not pipeline.writes_failing else "degraded" if healthy
              else "unhealthy")
    detail = {"status": status, **pipeline.health()}
    if deliverer is not None:
        detail["deliverer"] = deliverer.health()
    return detail


def not_ready_reason(pipeline: Pipeline) -> str | None:
    if not pipeline.alive:
        return f"the writer is not running ({pipeline.writer_error or 'stopped'})"
    if not pipeline.store_ok:
        return "the store is unreachable"
    if pipeline.stalled:
        return "the store is not answering"
    return None


async def livez(request: Request) -> JSONResponse:
    return JSONResponse({"status": "ok", "pid": os.getpid()})


async def readyz(request: Request) -> JSONResponse:
    reason = not_ready_reason(services(request).pipeline)
    if reason is None:
        return JSONResponse({"status": "ready"})
    return JSONResponse({"status": "not ready", "reason": reason}, status_code=503)


async def healthz(request: Request) -> JSONResponse:
    svc = services(request)
    own = {"pid": os.getpid(), **worker_status(svc.pipeline, getattr(request.app.state, "deliverer", None))}
    workers = [own]
    if svc.settings.run_dir:  # `footfall serve`: the others' heartbeats too
        workers += [w for w in heartbeat.read_all(rundir.health_dir(svc.settings.run_dir)) if w["pid"] != own["pid"]]
    status = max((w["status"] for w in workers), key=lambda s: _RANK.get(s, 2))
    body: dict[str, Any] = {**own, "status": status, "workers_expected": svc.settings.workers,
                            "workers": sorted(workers, key=lambda w: w["pid"])}
    if svc.settings.run_dir and len(workers) < svc.settings.workers:
        body["status"] = "degraded" if status == "ok" else status
        body["reason"] = f"{len(workers)} of {svc.settings.workers} workers report"
    return JSONResponse(body, status_code=200 if body["status"] == "ok" else 503)


routes = [Route("/livez", livez), Route("/readyz", readyz), Route("/healthz", healthz)]
