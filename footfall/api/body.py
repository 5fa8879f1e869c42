"""Reading a request body with a size limit, so an oversized upload is refused early."""

from __future__ import annotations

from typing import TYPE_CHECKING

from starlette.requests import ClientDisconnect

from footfall.api.fastpath import Disconnected

if TYPE_CHECKING:
    from footfall.api.fastpath import Incoming


class TooLarge(Exception):
    def __init__(self, limit: int) -> None:
        super().__init__(f"the request body is larger than {limit} bytes")
        self.limit = limit


async def read_limited(request: Incoming, limit: int) -> bytes:
    """The whole body (of a Starlette Request or a RawRequest), refusing (TooLarge) as soon as it is
    declared or seen to exceed `limit`."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge(limit)
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise TooLarge(limit)
            chunks.append(chunk)
    except ClientDisconnect:  # Starlette's word for it; one exception for both paths
        raise Disconnected from None
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)
