"""GET /metrics: the Prometheus text exposition (footfall/observability/prometheus_metrics.py).

On the main port it answers only a caller with `Authorization: Bearer $FOOTFALL_METRICS_TOKEN`
(the main port faces browsers and SDKs; traffic figures are not theirs to read); without a token
set it is 404, as it is when FOOTFALL_METRICS_PORT serves it on a port of its own (no key there:
bind it to an address only the scraper reaches, FOOTFALL_METRICS_HOST, default 127.0.0.1).
"""

from __future__ import annotations

import hmac

from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.routing import Route

from footfall.api.app_state import services
from footfall.observability import prometheus_metrics
from footfall.observability.requests import note_refusal


async def metrics(request: Request) -> Response:
    settings = services(request).settings
    if not settings.metrics or settings.metrics_port or not settings.metrics_token:
        note_refusal(request.scope, "not_found")
        where = (f"it is served on port {settings.metrics_port}" if settings.metrics_port and settings.metrics
                 else "set FOOTFALL_METRICS_TOKEN (or FOOTFALL_METRICS_PORT) to serve it" if settings.metrics
                 else "metrics are off (FOOTFALL_METRICS=0)")
        return PlainTextResponse(f"/metrics is not served here: {where}\n", status_code=404)
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), settings.metrics_token.encode()):
        note_refusal(request.scope, "not_authenticated")
        return PlainTextResponse("Authorization: Bearer <FOOTFALL_METRICS_TOKEN> is required\n", status_code=401,
                                 headers={"WWW-Authenticate": "Bearer"})
    body, content_type = prometheus_metrics.exposition()
    return Response(body, media_type=content_type)


routes = [Route("/metrics", metrics, methods=["GET"])]
