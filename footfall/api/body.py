"""Reading a request body with a size limit, so an oversized upload is refused early."""

from __future__ import annotations

import asyncio
import types
from typing import Any, Awaitable, Callable, Generator

from starlette.requests import ClientDisconnect

from footfall.api.app_state import services_if_any
from footfall.api.fastpath import Incoming, RawRequest
from footfall.failures import Disconnected
from footfall.refusals import TooLarge, TooSlow

Receive = Callable[[], Awaitable[dict]]


async def read_limited(request: Incoming, limit: int) -> bytes:
    """The whole body (of a Starlette Request or a RawRequest), refusing (TooLarge) as soon as it is
    declared or seen to exceed `limit`, and (TooSlow) if it is not all there within the body timeout."""
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise TooLarge(limit)
    seconds = _body_timeout(request)
    if isinstance(request, RawRequest):
        return await _read_raw(request.receive, limit, seconds)
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(seconds if seconds > 0 else None):
            async for chunk in request.stream():
                size = _take(chunk, chunks, size, limit)
    except TimeoutError:
        raise TooSlow(seconds) from None
    except ClientDisconnect:  # Starlette's word for it; one exception for both paths
        raise Disconnected from None
    return _joined(chunks)


async def _read_raw(receive: Receive, limit: int, seconds: float) -> bytes:
    """The fast path's body, read as RawRequest.stream() yields it. Why not through it: the body of
    an ingest request has almost always arrived with its head, and then the timer of asyncio.timeout
    (and an async generator) cost ~8 µs a request for nothing. So the messages already there are
    taken at once, and the timeout is armed only when the server has to wait for one."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message, waiting = _now(receive)
        if waiting is not None:
            return await _read_rest(receive, waiting, chunks, size, limit, seconds)
        size = _add(message, chunks, size, limit)
        if not message.get("more_body", False):
            return _joined(chunks)


async def _read_rest(receive: Receive, waiting: Awaitable[dict], chunks: list[bytes], size: int, limit: int,
                     seconds: float) -> bytes:
    """The rest of the body once receive() had to wait: within the body timeout, as read_limited."""
    try:
        async with asyncio.timeout(seconds if seconds > 0 else None):
            message = await waiting
            while True:
                size = _add(message, chunks, size, limit)
                if not message.get("more_body", False):
                    break
                message = await receive()
    except TimeoutError:
        raise TooSlow(seconds) from None
    return _joined(chunks)


def _add(message: dict, chunks: list[bytes], size: int, limit: int) -> int:
    """An ASGI receive() message's body into chunks (the size so far returned)."""
    if message["type"] == "http.disconnect":
        raise Disconnected
    return _take(message.get("body", b""), chunks, size, limit)


def _take(chunk: bytes, chunks: list[bytes], size: int, limit: int) -> int:
    """One piece of the body into chunks; TooLarge as soon as the body exceeds `limit`."""
    if chunk:
        size += len(chunk)
        if size > limit:
            raise TooLarge(limit)
        chunks.append(chunk)
    return size


def _joined(chunks: list[bytes]) -> bytes:
    return chunks[0] if len(chunks) == 1 else b"".join(chunks)


def _now(receive: Receive) -> tuple[Any, Awaitable[dict] | None]:
    """(the next message, None) if receive() has it without waiting; else (None, an awaitable that
    finishes that same receive()). A server's receive() that is not a coroutine is simply awaited."""
    pending = receive()
    if type(pending) is not types.CoroutineType:
        return None, pending
    try:
        yielded = pending.send(None)
    except StopIteration as done:
        return done.value, None
    return None, _Resumed(pending, yielded)


class _Resumed:
    """Awaiting this resumes a coroutine that was run by hand (_now) up to its first suspension: what
    it yielded goes to the awaiting task, and what the task sends or throws back goes to it."""

    __slots__ = ("_coro", "_yielded")

    def __init__(self, coro: types.CoroutineType, yielded: Any) -> None:
        self._coro = coro
        self._yielded = yielded

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, value = self._coro, self._yielded
        while True:
            try:
                sent = yield value
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # a cancellation (the body timeout)
                try:
                    value = coro.throw(exc)
                except StopIteration as done:
                    return done.value
            else:
                try:
                    value = coro.send(sent)
                except StopIteration as done:
                    return done.value


def _body_timeout(request: Incoming) -> float:
    found = services_if_any(request)
    return found.settings.body_timeout_seconds if found is not None else 0.0
