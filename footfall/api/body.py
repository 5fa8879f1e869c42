"""Reading a request body with a size limit, so an oversized upload is refused early."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from starlette.requests import ClientDisconnect

from footfall.failures import Disconnected
from footfall.refusals import TooLarge, TooSlow

if TYPE_CHECKING:
    from footfall.api.fastpath import Incoming


async def read_limited(request: Incoming, limit: int) -> bytes:
    """The whole body (of a Starlette Request or a RawRequest), refusing (TooLarge) as soon as it is
    declared or seen to exceed `limit`."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    seconds = _body_timeout(request)
    try:
        async with asyncio.timeout(seconds if seconds > 0 else None):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise TooLarge(limit)
                chunks.append(chunk)
    except TimeoutError:
        raise TooSlow(seconds) from None
    except ClientDisconnect:  # Starlette's word for it; one exception for both paths
        raise Disconnected from None
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _body_timeout(request: Incoming) -> float:
    services = getattr(request.scope["app"].state, "services", None)
    return services.settings.body_timeout_seconds if services is not None else 0.0
