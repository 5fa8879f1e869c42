"""Do-nothing servers to measure Footfall against, run with the same uvicorn options as `footfall serve`.

`python -m bench.reference_apps starlette|bare PORT`: answers "1" to any request (after reading
the body), either through a Starlette route (Footfall's own stack) or as a bare ASGI callable.
"""

from __future__ import annotations

import sys

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route


async def _one(request: Request) -> Response:
    await request.body()
    return Response("1", media_type="text/html")


starlette_app = Starlette(routes=[Route("/{path:path}", _one, methods=["GET", "POST"])])


async def bare_app(scope, receive, send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    more = True
    while more:
        message = await receive()
        more = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/html"), (b"content-length", b"1")]})
    await send({"type": "http.response.body", "body": b"1"})


APPS = {"starlette": starlette_app, "bare": bare_app}


def main(argv: list[str]) -> None:
    import uvicorn

    which, port = argv[0], int(argv[1])
    # The same options footfall/cli.py `serve` passes to uvicorn.
    uvicorn.run(APPS[which], host="127.0.0.1", port=port, log_level="warning", access_log=False,
                timeout_graceful_shutdown=10)


if __name__ == "__main__":
    main(sys.argv[1:])
