"""A minimal HTTP/1.1 keep-alive client on asyncio streams, for the open-loop load generator.

httpx costs a few hundred microseconds of client CPU per request; on a 2-core machine shared with
the server that caps the offered rate below 3x what the server sustains. Pre-encoded requests over
raw streams cost a fraction of that. Only what Footfall answers is understood: a status line,
headers, and a Content-Length body (no chunked encoding, no pipelining). Loopback only.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from bench.routes import Request

LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class Answer:
    status: int
    headers: dict[str, str]  # lower-case names
    body: bytes


def loopback_port(base_url: str) -> int:
    """The port of an http://127.0.0.1:PORT URL; anything else is refused (never load a real host)."""
    parts = urlsplit(base_url)
    if parts.scheme != "http" or parts.hostname != LOOPBACK or not parts.port:
        raise ValueError(f"load is only generated against http://{LOOPBACK}:PORT, not {base_url!r}")
    return parts.port


def encode(req: Request, port: int) -> bytes:
    target = req.path + ("?" + urlencode(req.params) if req.params else "")
    lines = [f"{req.method} {target} HTTP/1.1", f"host: {LOOPBACK}:{port}"]
    lines += [f"{k}: {v}" for k, v in req.headers.items()]
    body = req.content or b""
    if req.method != "GET":
        lines.append(f"content-length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


class Connection:
    """One keep-alive connection; one request at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.reusable = True

    @classmethod
    async def open(cls, port: int) -> "Connection":
        reader, writer = await asyncio.open_connection(LOOPBACK, port)
        return cls(reader, writer)

    async def exchange(self, raw: bytes) -> Answer:
        self.writer.write(raw)
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        body = await self.reader.readexactly(int(headers.get("content-length", "0")))
        if headers.get("connection", "").lower() == "close":
            self.reusable = False
        return Answer(status, headers, body)

    def close(self) -> None:
        self.reusable = False
        self.writer.close()
