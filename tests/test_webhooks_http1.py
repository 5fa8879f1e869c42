"""The deliverer's HTTP/1.1 client (footfall/webhooks/http1.py) against raw local servers: kept-alive
connections, answers by length, by chunks and to the connection's end, a kept connection the
receiver closed, a reset on a reused one, a hang (the caller's timeout), garbage, and TLS checked
against the endpoint's name."""

from __future__ import annotations

import asyncio
import datetime
import ssl
from pathlib import Path
from typing import Awaitable, Callable

import pytest

from footfall.webhooks import http1

Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]


class RawServer:
    """A loopback server whose every connection runs script(reader, writer, connection number)."""

    def __init__(self, script: Script, tls: ssl.SSLContext | None = None) -> None:
        self.script = script
        self.tls = tls
        self.connections = 0
        self.requests: list[bytes] = []

    async def __aenter__(self) -> "RawServer":
        self.server = await asyncio.start_server(self._handle, "127.0.0.1", 0, ssl=self.tls)
        self.port = self.server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc) -> None:
        self.server.close()

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            await self.script(reader, writer, self.connections)
        except (ConnectionError, asyncio.IncompleteReadError, ssl.SSLError):
            pass
        finally:
            writer.close()

    async def read_request(self, reader: asyncio.StreamReader) -> bytes:
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
        body = await reader.readexactly(length)
        self.requests.append(head + body)
        return body


def endpoint(server: RawServer, tls_name: str | None = None) -> http1.Endpoint:
    return http1.Endpoint("127.0.0.1", server.port, tls_name)


def run(coro):
    return asyncio.run(asyncio.wait_for(coro, 20))


def test_answers_by_length_and_by_chunks_keep_the_connection():
    async def script(reader, writer, n):
        body = await srv.read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        await srv.read_request(reader)
        writer.write(b"HTTP/1.1 429 Too Many\r\nRetry-After: 7\r\ntransfer-encoding: chunked\r\n\r\n"
                     b"3\r\nslo\r\n4;x=y\r\nw do\r\n0\r\n\r\n")
        await srv.read_request(reader)
        writer.write(b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n")
        await writer.drain()
        await reader.read()

    async def main():
        global srv
        async with RawServer(script) as srv:
            client = http1.Client()
            first = await client.post(endpoint(srv), "/hook?a=1", {"host": "h", "x-one": "1"}, b'{"a": 1}', 256)
            second = await client.post(endpoint(srv), "/hook", {"host": "h"}, b"{}", 3)
            third = await client.post(endpoint(srv), "/hook", {"host": "h"}, b"{}", 256)
            await client.aclose()
            return first, second, third, srv.connections, srv.requests[0]

    first, second, third, connections, request = run(main())
    assert (first.status, first.head) == (200, b"ok")
    assert (second.status, second.headers["retry-after"], second.head) == (429, "7", b"slo")
    assert (third.status, third.head) == (204, b"")  # a 100 Continue before it is skipped
    assert connections == 1
    assert request.startswith(b"POST /hook?a=1 HTTP/1.1\r\nhost: h\r\nx-one: 1\r\ncontent-length: 8\r\n\r\n")
    assert request.endswith(b'\r\n\r\n{"a": 1}')


def test_an_answer_to_the_connections_end_or_a_close_is_not_kept():
    async def script(reader, writer, n):
        await srv.read_request(reader)
        if n == 1:
            writer.write(b"HTTP/1.1 500 Oops\r\n\r\n" + b"x" * 1000)  # no length: ends with the connection
        elif n == 2:
            writer.write(b"HTTP/1.1 200 OK\r\nconnection: close\r\ncontent-length: 0\r\n\r\n")
        else:
            writer.write(b"HTTP/1.0 200 OK\r\ncontent-length: 1\r\n\r\n1")
        await writer.drain()
        await asyncio.sleep(0.3)

    async def main():
        global srv
        async with RawServer(script) as srv:
            client = http1.Client()
            answers = [await client.post(endpoint(srv), "/", {}, b"", 256) for _ in range(4)]
            return answers, srv.connections

    answers, connections = run(main())
    assert answers[0].status == 500 and answers[0].head == b"x" * 256
    assert [a.status for a in answers[1:]] == [200, 200, 200]
    assert connections == 4


def test_a_kept_connection_the_receiver_closed_or_reset_is_replaced():
    async def script(reader, writer, n):
        await srv.read_request(reader)
        if n == 3:
            writer.write(b"HTTP/1.1 202 Accepted\r\ncontent-length: 0\r\n\r\n")
            await writer.drain()
            await reader.read()
            return
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
        await writer.drain()
        if n == 1:
            return  # closes while the client keeps it idle
        await srv.read_request(reader)
        writer.transport.abort()  # reads the next request, then resets without an answer

    async def main():
        global srv
        async with RawServer(script) as srv:
            client = http1.Client()
            a = await client.post(endpoint(srv), "/", {}, b"1", 256)
            await asyncio.sleep(0.2)
            b = await client.post(endpoint(srv), "/", {}, b"2", 256)  # the idle one had been closed
            c = await client.post(endpoint(srv), "/", {}, b"3", 256)  # reset unanswered: sent again
            return [a.status, b.status, c.status], srv.connections, [r.rsplit(b"\r\n", 1)[1] for r in srv.requests]

    statuses, connections, bodies = run(main())
    assert statuses == [200, 200, 202]
    assert connections == 3
    assert bodies == [b"1", b"2", b"3", b"3"]  # the reset request went twice, as at-least-once allows


def test_a_hang_is_the_callers_timeout_and_the_connection_is_dropped():
    async def script(reader, writer, n):
        await srv.read_request(reader)
        if n == 1:
            await asyncio.sleep(5)
        writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n")
        await writer.drain()
        await reader.read()

    async def main():
        global srv
        async with RawServer(script) as srv:
            client = http1.Client()
            with pytest.raises(TimeoutError):
                async with asyncio.timeout(0.3):
                    await client.post(endpoint(srv), "/", {}, b"", 256)
            answer = await client.post(endpoint(srv), "/", {}, b"", 256)
            return answer.status, srv.connections

    assert run(main()) == (200, 2)


def test_garbage_and_line_breaks_are_refused():
    async def script(reader, writer, n):
        await srv.read_request(reader)
        writer.write(b"SSH-2.0-OpenSSH\r\n\r\n")
        await writer.drain()

    async def main():
        global srv
        async with RawServer(script) as srv:
            client = http1.Client()
            with pytest.raises(http1.ProtocolError):
                await client.post(endpoint(srv), "/", {}, b"", 256)
            with pytest.raises(ValueError):
                await client.post(endpoint(srv), "/", {"x": "a\r\nevil: 1"}, b"", 256)

    run(main())


def _certificate(tmp_path: Path, name: str) -> tuple[Path, Path]:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_path, key_path


def test_tls_is_verified_against_the_endpoints_name(tmp_path):
    cert, key = _certificate(tmp_path, "hooks.example")
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_tls.load_cert_chain(cert, key)
    sni: list[str | None] = []
    server_tls.sni_callback = lambda sock, name, ctx: sni.append(name)
    trusting = ssl.create_default_context(cafile=str(cert))

    async def script(reader, writer, n):
        while True:
            await srv.read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
            await writer.drain()

    async def main():
        global srv
        async with RawServer(script, tls=server_tls) as srv:
            client = http1.Client(trusting)
            answer = await client.post(endpoint(srv, "hooks.example"), "/", {"host": "hooks.example"}, b"", 256)
            with pytest.raises(ssl.SSLCertVerificationError):  # the address is right, the name is not
                await http1.Client(trusting).post(endpoint(srv, "other.example"), "/", {}, b"", 256)
            with pytest.raises(ssl.SSLCertVerificationError):  # certifi's roots do not know this certificate
                await http1.Client().post(endpoint(srv, "hooks.example"), "/", {}, b"", 256)
            return answer

    answer = run(main())
    assert (answer.status, answer.head) == (200, b"ok")
    assert sni[0] == "hooks.example"


def test_headers_past_the_limit_and_answers_past_the_drain_are_not_kept():
    async def script(reader, writer, n):
        await srv.read_request(reader)
        if n == 1:  # 40 KB of headers are taken (h11's own default limit is 16 KB), twice the limit are not
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\nx-big: " + b"a" * 30_000)
            await writer.drain()
            await asyncio.sleep(0.05)  # h11 looks at the limit when a read leaves the headers incomplete
            writer.write(b"a" * 10_000 + b"\r\n\r\n")
            await srv.read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\nx-big: " + b"a" * (2 * http1.HEAD_LIMIT) + b"\r\n\r\n")  # h11 checks per read
        else:  # a body longer than DRAIN: its first bytes kept, the rest not waited for
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n" % (http1.DRAIN * 4) + b"z" * (http1.DRAIN + 10))
        await writer.drain()
        await reader.read()

    async def main():
        global srv
        async with RawServer(script) as srv:
            client = http1.Client()
            big = await client.post(endpoint(srv), "/", {}, b"", 256)
            with pytest.raises(http1.ProtocolError, match="longer than"):
                await client.post(endpoint(srv), "/", {}, b"", 256)
            long = await client.post(endpoint(srv), "/", {}, b"", 5)
            short = await client.post(endpoint(srv), "/", {}, b"", 5)
            return big, long, short, srv.connections

    big, long, short, connections = run(main())
    assert len(big.headers["x-big"]) == 40_000
    assert (long.status, long.head, short.head) == (200, b"zzzzz", b"zzzzz")
    assert connections == 3  # the refused and the long answer's connections were not used again
