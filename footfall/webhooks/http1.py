"""The deliverer's HTTP client: one POST at a time per lane, HTTP/1.1 over a kept-alive connection to
an address webhooks/ssrf.py has already checked, TLS verified against the endpoint's name (SNI too).

The protocol is h11's (the sans-IO HTTP/1.1 library httpcore, under httpx, uses): it writes the
request and parses the answer (status line, headers, length or chunked or to-the-end bodies, 1xx
answers) and decides whether the connection may carry another request. This module keeps what is
the deliverer's own: the connection (to the checked address, TLS with SNI and certifi's roots, kept
between requests, one resend when a kept connection turns out to be closed) and the limits (the first
`keep` bytes of the body, drained up to DRAIN, headers up to HEAD_LIMIT). Why not httpx itself: its
pool, URL and header models cost the deliverer about 2.2 ms of CPU a request, and a delivery needs
none of them (bench/http_clients.py measures the three ways side by side). Redirects are never
followed: a 3xx is an answer like any other (webhooks/policy.py judges it).

A connection is used again only when the answer was read to its end (a length, or chunks, of at most
DRAIN bytes) and h11 found it reusable (neither side said `close`, HTTP/1.1); anything else (an
error, a timeout, a cancellation, a longer answer, one that ends with the connection) closes it. A
kept connection the receiver closed while idle is noticed before the request is sent, or, if the
request found it closed without an answer byte, the request is sent once more on a new connection (a
repeat is allowed: receivers deduplicate on the message ids).
"""

from __future__ import annotations

import asyncio
import re
import ssl
from dataclasses import dataclass
from typing import Mapping
from urllib.parse import quote

import h11

DRAIN = 64 * 1024  # an answer body up to this long is read to its end, so the connection can be kept
HEAD_LIMIT = 64 * 1024  # status line and headers longer than this (h11 looks after each read): not taken
READ_SIZE = 64 * 1024  # so headers are refused by HEAD_LIMIT + READ_SIZE at the latest
_UNSAFE_PATH = re.compile(r"[^\x21-\x7e]")


class ProtocolError(Exception):
    """The other side did not answer in HTTP/1.x."""


@dataclass
class Answer:
    status: int
    headers: dict[str, str]  # lower-cased names; repeated headers joined with ", "
    head: bytes  # the first bytes of the body (as many as asked for)


@dataclass(frozen=True)
class Endpoint:
    address: str  # the checked address to connect to (an IPv6 one without brackets)
    port: int
    tls_name: str | None  # the name TLS verifies and sends as SNI; None: plain http


def default_tls() -> ssl.SSLContext:
    """Certificates checked against certifi's roots where it is installed (as httpx did), else the system's."""
    try:
        import certifi
    except ImportError:  # pragma: no cover - certifi comes with httpx
        return ssl.create_default_context()
    return ssl.create_default_context(cafile=certifi.where())


class Client:
    """One lane's connection (to one endpoint at a time)."""

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self._tls = tls
        self._endpoint: Endpoint | None = None
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._h11: h11.Connection | None = None

    async def post(self, endpoint: Endpoint, path: str, headers: Mapping[str, str], body: bytes,
                   keep: int) -> Answer:
        """POST body; the answer with the first `keep` bytes of its body. Raises OSError (refused,
        reset, TLS), ProtocolError, asyncio.IncompleteReadError (closed before an answer), ValueError
        (a header that cannot be sent); the caller bounds the time."""
        request = _request(endpoint, path, headers, len(body))
        reused = self._usable(endpoint)
        try:
            if not reused:
                await self._connect(endpoint)
            try:
                return await self._exchange(request, body, keep)
            except (_Unanswered, ConnectionError) as exc:
                if not reused:
                    raise exc.cause if isinstance(exc, _Unanswered) else exc
                self._close()  # the receiver had closed the kept connection: once more on a new one
                await self._connect(endpoint)
                try:
                    return await self._exchange(request, body, keep)
                except _Unanswered as again:
                    raise again.cause from None
        except BaseException:
            self._close()
            raise

    async def aclose(self) -> None:
        writer = self._writer
        self._close()
        if writer is not None:
            try:
                await writer.wait_closed()
            except (OSError, ssl.SSLError):
                pass

    # -- internals --------------------------------------------------------------------------------
    def _usable(self, endpoint: Endpoint) -> bool:
        if self._writer is None or self._endpoint != endpoint:
            self._close()
            return False
        if (self._writer.is_closing() or self._reader is None or self._reader.at_eof()
                or self._h11 is None or self._h11.our_state is not h11.IDLE):
            self._close()
            return False
        return True

    async def _connect(self, endpoint: Endpoint) -> None:
        tls = None
        if endpoint.tls_name is not None:
            tls = self._tls = self._tls or default_tls()
        self._reader, self._writer = await asyncio.open_connection(
            endpoint.address, endpoint.port, ssl=tls, server_hostname=endpoint.tls_name)
        self._h11 = h11.Connection(h11.CLIENT, max_incomplete_event_size=HEAD_LIMIT)
        self._endpoint = endpoint

    async def _exchange(self, request: h11.Request, body: bytes, keep: int) -> Answer:
        reader, writer, conn = self._reader, self._writer, self._h11
        assert reader is not None and writer is not None and conn is not None
        writer.write(conn.send(request) + conn.send(h11.Data(data=body)) + conn.send(h11.EndOfMessage()))
        await writer.drain()
        response = await _next(conn, reader, answered=False)
        while isinstance(response, h11.InformationalResponse):  # 100 Continue, 103 Early Hints
            response = await _next(conn, reader, answered=True)
        if not isinstance(response, h11.Response):
            raise ProtocolError(f"expected an answer, got {type(response).__name__}")
        head, complete = await _body(conn, reader, response, keep)
        if complete and conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()  # h11: both sides allow another request on this connection
        else:
            self._close()
        return Answer(response.status_code, _headers(response), head)

    def _close(self) -> None:
        writer, self._writer, self._reader, self._endpoint, self._h11 = self._writer, None, None, None, None
        if writer is not None:
            writer.close()


class _Unanswered(Exception):
    """The connection ended before a byte of the answer (on a kept one: the receiver had closed it)."""

    def __init__(self) -> None:
        self.cause = asyncio.IncompleteReadError(b"", None)


def _request(endpoint: Endpoint, path: str, headers: Mapping[str, str], length: int) -> h11.Request:
    path = _UNSAFE_PATH.sub(lambda m: quote(m.group()), path)  # spaces and the like cannot break the line
    items = [(name, value) for name, value in headers.items()]
    if not any(name.lower() == "host" for name, _ in items):  # HTTP/1.1 requires one
        items.insert(0, ("host", _authority(endpoint)))
    items.append(("content-length", str(length)))
    try:
        return h11.Request(method="POST", target=path, headers=items)
    except h11.LocalProtocolError as exc:  # a line break or other byte a header cannot hold
        raise ValueError(f"request not sendable: {exc}") from None


def _authority(endpoint: Endpoint) -> str:
    host = endpoint.tls_name or (f"[{endpoint.address}]" if ":" in endpoint.address else endpoint.address)
    return f"{host}:{endpoint.port}"


async def _next(conn: h11.Connection, reader: asyncio.StreamReader, *, answered: bool):
    """h11's next event, reading from the connection as it needs; answered: a byte of the answer came."""
    while True:
        try:
            event = conn.next_event()
        except h11.RemoteProtocolError as exc:
            if exc.error_status_hint == 431:
                raise ProtocolError(f"answer headers longer than {HEAD_LIMIT} bytes") from None
            raise ProtocolError(str(exc)) from None
        if event is not h11.NEED_DATA:
            return event
        data = await reader.read(READ_SIZE)
        if not data and not answered:
            raise _Unanswered()
        answered = answered or bool(data)
        conn.receive_data(data)


async def _body(conn: h11.Connection, reader: asyncio.StreamReader, response: h11.Response,
                keep: int) -> tuple[bytes, bool]:
    """The first `keep` bytes of the body, and whether it was read to its end (so the connection can
    be kept): read on up to DRAIN bytes when its end is announced (a length or chunks), not when it
    ends with the connection (the receiver may hold that open)."""
    announced = any(name in (b"content-length", b"transfer-encoding") for name, _ in response.headers)
    head = bytearray()
    total = 0
    while True:
        event = await _next(conn, reader, answered=True)
        if isinstance(event, h11.EndOfMessage):
            return bytes(head), True
        if not isinstance(event, h11.Data):
            raise ProtocolError(f"unexpected {type(event).__name__} in an answer's body")
        total += len(event.data)
        head += event.data[:max(0, keep - len(head))]
        if total > DRAIN or (not announced and len(head) >= keep):
            return bytes(head), False


def _headers(response: h11.Response) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, value in response.headers:  # h11 gives names lower-cased
        key, text = name.decode("latin-1"), value.decode("latin-1")
        out[key] = f"{out[key]}, {text}" if key in out else text
    return out
