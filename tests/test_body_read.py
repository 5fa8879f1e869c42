"""api/body.py on the fast path: a body already received is read without arming a timer; one the
server has to wait for is still bounded by the body timeout, and read as it arrives."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from footfall.api.body import read_limited
from footfall.api.fastpath import RawRequest
from footfall.failures import Disconnected
from footfall.refusals import TooLarge, TooSlow


def _request(receive, timeout: float = 5.0, length: int | None = None) -> RawRequest:
    settings = SimpleNamespace(body_timeout_seconds=timeout)
    app = SimpleNamespace(state=SimpleNamespace(services=SimpleNamespace(settings=settings)))
    headers = [] if length is None else [(b"content-length", str(length).encode())]
    return RawRequest({"method": "POST", "headers": headers, "app": app}, receive)


def _messages(*parts: bytes, wait_before: int | None = None, gone: asyncio.Event | None = None):
    """An ASGI receive giving `parts` (more_body on all but the last); before part `wait_before` it
    waits as a server does for bytes not yet arrived (forever, unless the part is released)."""
    queue = list(parts)
    released = asyncio.Event()

    async def receive() -> dict:
        index = len(parts) - len(queue)
        if index == wait_before:
            try:
                await released.wait()
            finally:
                if gone is not None:
                    gone.set()  # the cancellation reached the server's receive()
        if not queue:
            return {"type": "http.disconnect"}
        return {"type": "http.request", "body": queue.pop(0), "more_body": bool(queue)}

    receive.release = released.set
    return receive


def test_a_body_already_there_arms_no_timer():
    async def scenario() -> tuple[bytes, int]:
        loop = asyncio.get_running_loop()
        body = await read_limited(_request(_messages(b'{"a":', b' 1}')), 1000)
        return body, len(loop._scheduled)

    body, timers = asyncio.run(scenario())
    assert body == b'{"a": 1}'
    assert timers == 0  # asyncio.timeout would have left its (cancelled) timer in the loop's heap


def test_a_body_the_server_waits_for_is_read_when_it_arrives():
    async def scenario() -> bytes:
        receive = _messages(b"one ", b"two ", b"three", wait_before=1)
        reading = asyncio.ensure_future(read_limited(_request(receive), 1000))
        await asyncio.sleep(0.05)
        assert not reading.done()
        receive.release()
        return await reading

    assert asyncio.run(scenario()) == b"one two three"


def test_a_body_that_stops_arriving_is_too_slow_and_its_receive_is_cancelled():
    async def scenario() -> None:
        gone = asyncio.Event()
        with pytest.raises(TooSlow):
            await read_limited(_request(_messages(b"one ", b"two", wait_before=1, gone=gone), timeout=0.1), 1000)
        assert gone.is_set()

    asyncio.run(scenario())


def test_a_body_waited_for_from_its_first_part_is_bounded_too():
    async def scenario() -> None:
        with pytest.raises(TooSlow):
            await read_limited(_request(_messages(b"x", wait_before=0), timeout=0.1), 1000)

    asyncio.run(scenario())


def test_too_large_and_disconnected_as_before():
    async def read(receive, **kw) -> bytes:
        return await read_limited(_request(receive, **kw), 8)

    with pytest.raises(TooLarge):
        asyncio.run(read(_messages(b"12345", b"6789")))
    with pytest.raises(TooLarge):
        asyncio.run(read(_messages(b"1"), length=9))

    async def gone() -> dict:
        return {"type": "http.disconnect"}

    with pytest.raises(Disconnected):
        asyncio.run(read(gone))


def test_a_receive_that_is_not_a_coroutine_is_awaited():
    async def scenario() -> bytes:
        loop = asyncio.get_running_loop()

        def receive():
            future = loop.create_future()
            loop.call_soon(future.set_result, {"type": "http.request", "body": b"abc", "more_body": False})
            return future

        return await read_limited(_request(receive), 100)

    assert asyncio.run(scenario()) == b"abc"
