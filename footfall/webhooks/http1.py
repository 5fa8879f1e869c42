"""The deliverer's HTTP client: one POST at a time per lane, HTTP/1.1 over a kept-alive connection to
an address webhooks/ssrf.py has already checked, TLS verified against the endpoint's name (SNI too).

Why not httpx: a request cost the deliverer 2.1-2.4 ms of CPU with httpx and 0.5 ms this way (same
receiver, same machine), and requests are most of what a webhook costs. A delivery needs little of
HTTP: send one request, read the status, the headers (Retry-After) and the first bytes of the answer;
never follow a redirect (a 3xx is an answer like any other, webhooks/policy.py judges it).

A connection is used again only when the answer was read to its end (a length, or chunks, of at most
DRAIN bytes) and neither side said `close`; anything else (an error, a timeout, a cancellation, a
longer answer) closes it. A kept connection the receiver closed while idle is noticed before the
request is sent, or, if the request found it closed without an answer byte, the request is sent once
more on a new connection (a repeat is allowed: receivers deduplicate on the message ids).
"""

from __future__ import annotations

import asyncio
import re
import ssl
from dataclasses import dataclass
from typing import Mapping
from urllib.parse import quote

DRAIN = 64 * 1024  # an answer body up to this long is read to its end, so the connection can be kept
HEAD_LIMIT = 64 * 1024  # status line and headers longer than this: not an answer we take
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

    async def post(self, endpoint: Endpoint, path: str, headers: Mapping[str, str], body: bytes,
                   keep: int) -> Answer:
        """POST body; the answer with the first `keep` bytes of its body. Raises OSError (refused,
        reset, TLS), ProtocolError, asyncio.IncompleteReadError; the caller bounds the time."""
        request = _request(path, headers, body)
        reused = self._usable(endpoint)
        try:
            if not reused:
                await self._connect(endpoint)
            try:
                return await self._exchange(request, keep)
            except (asyncio.IncompleteReadError, ConnectionError) as exc:
                if not reused or (isinstance(exc, asyncio.IncompleteReadError) and exc.partial):
                    raise
                self._close()  # the receiver had closed the kept connection: once more on a new one
                await self._connect(endpoint)
                return await self._exchange(request, keep)
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
        if self._writer.is_closing() or self._reader is None or self._reader.at_eof():
            self._close()
            return False
        return True

    async def _connect(self, endpoint: Endpoint) -> None:
        tls = None
        if endpoint.tls_name is not None:
            tls = self._tls = self._tls or default_tls()
        self._reader, self._writer = await asyncio.open_connection(
            endpoint.address, endpoint.port, ssl=tls, server_hostname=endpoint.tls_name, limit=HEAD_LIMIT)
        self._endpoint = endpoint

    async def _exchange(self, request: bytes, keep: int) -> Answer:
        reader, writer = self._reader, self._writer
        assert reader is not None and writer is not None
        writer.write(request)
        await writer.drain()
        while True:
            try:
                raw = await reader.readuntil(b"\r\n\r\n")
            except asyncio.LimitOverrunError:
                raise ProtocolError(f"answer headers longer than {HEAD_LIMIT} bytes") from None
            version, status, headers = _parse_head(raw)
            if 100 <= status < 200 and status != 101:
                continue  # 100 Continue, 103 Early Hints: the answer follows
            break
        head, complete = await _body(reader, status, headers, keep)
        connection = headers.get("connection", "").lower()
        if not complete or "close" in connection or (version == "HTTP/1.0" and "keep-alive" not in connection):
            self._close()
        return Answer(status, headers, head)

    def _close(self) -> None:
        writer, self._writer, self._reader, self._endpoint = self._writer, None, None, None
        if writer is not None:
            writer.close()


def _request(path: str, headers: Mapping[str, str], body: bytes) -> bytes:
    path = _UNSAFE_PATH.sub(lambda m: quote(m.group()), path)  # spaces and the like cannot break the line
    lines = [f"POST {path} HTTP/1.1"]
    for name, value in headers.items():
        if "\r" in value or "\n" in value or "\r" in name or "\n" in name:
            raise ValueError(f"header {name!r} holds a line break")
        lines.append(f"{name}: {value}")
    lines.append(f"content-length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def _parse_head(raw: bytes) -> tuple[str, int, dict[str, str]]:
    text = raw.decode("latin-1")
    status_line, _, rest = text.partition("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not (len(parts[1]) == 3 and parts[1].isdigit()):
        raise ProtocolError(f"not an HTTP/1.x status line: {status_line[:80]!r}")
    headers: dict[str, str] = {}
    for line in rest.split("\r\n"):
        if not line:
            continue
        name, sep, value = line.partition(":")
        if not sep:
            raise ProtocolError(f"not a header line: {line[:80]!r}")
        name, value = name.strip().lower(), value.strip()
        headers[name] = f"{headers[name]}, {value}" if name in headers else value
    return parts[0], int(parts[1]), headers


async def _body(reader: asyncio.StreamReader, status: int, headers: dict[str, str], keep: int) -> tuple[bytes, bool]:
    """The first `keep` bytes of the body, and whether it was read to its end (so the connection can be kept)."""
    if status in (204, 304):
        return b"", True
    if "chunked" in headers.get("transfer-encoding", "").lower():
        return await _chunked(reader, keep)
    length = headers.get("content-length")
    if length is not None:
        if not length.isdigit():
            raise ProtocolError(f"content-length {length[:40]!r}")
        n = int(length)
        if n <= DRAIN:
            return (await reader.readexactly(n))[:keep], True
        return await reader.readexactly(keep), False
    return await _up_to(reader, keep), False  # ends when the connection does: read what is kept, close


async def _chunked(reader: asyncio.StreamReader, keep: int) -> tuple[bytes, bool]:
    head = bytearray()
    total = 0
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size_text = size_line.split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise ProtocolError(f"chunk size {size_text[:20]!r}") from None
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":  # trailers
                pass
            return bytes(head[:keep]), True
        total += size
        if total > DRAIN:
            head += await reader.readexactly(min(size, max(0, keep - len(head))))
            return bytes(head[:keep]), False
        chunk = await reader.readexactly(size + 2)  # the data and its CRLF
        head += chunk[:size][:max(0, keep - len(head))]


async def _up_to(reader: asyncio.StreamReader, n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        chunk = await reader.read(n - len(out))
        if not chunk:
            break
        out += chunk
    return bytes(out)
