"""The webhook lanes' HTTP client, measured: CPU per request of httpx (as the deliverer used it before
webhooks/http1.py: AsyncClient, stream, the first bytes of the answer) and of webhooks/http1.py (h11),
plus any other module with http1's API given with --module (e.g. an earlier http1.py taken out of git),
against the same local receiver in one run.

`python -m bench.http_clients [--requests N] [--rounds R] [--module NAME=path.py ...]`

The receiver is a process of its own (an asyncio server answering 200 with a length, kept alive), so
what is measured is this process's CPU (time.process_time) per request: the client's own cost, what a
lane spends on a delivery besides the database. Rounds alternate the clients; the figure is the median
round. Each request is a signed Klaviyo-envelope-sized POST (~2 KB, the deliverer's headers).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import os
import statistics
import subprocess
import sys
import time
from typing import Awaitable, Callable

BODY = b'{"data": [' + b",".join(b'{"external_id": "%d", "topic": "event:placed_order", "payload": {"x": "%s"}}'
                                 % (i, b"y" * 150) for i in range(10)) + b'], "meta": {}}'
ANSWER = b"HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 2\r\n\r\nok"


async def _serve(port_out) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length"))
                await reader.readexactly(length)
                writer.write(ANSWER)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    print(server.sockets[0].getsockname()[1], file=port_out, flush=True)
    await server.serve_forever()


def _headers() -> dict[str, str]:
    from footfall.webhooks import signing
    return {"host": "127.0.0.1", "user-agent": "Footfall-Webhooks/1",
            **signing.headers("bench-secret-0123456789", "01HWEBHOOK", "01HMESSAGE", int(time.time()), BODY)}


Post = Callable[[], Awaitable[int]]


async def _httpx_client(port: int) -> tuple[Post, Callable[[], Awaitable[None]]]:
    import httpx
    client = httpx.AsyncClient(follow_redirects=False, trust_env=False, timeout=httpx.Timeout(10))
    url, headers = f"http://127.0.0.1:{port}/hook", _headers()

    async def post() -> int:
        head = b""
        async with client.stream("POST", url, content=BODY, headers=headers) as response:
            async for chunk in response.aiter_raw():
                head += chunk
                if len(head) >= 256:
                    break
            return response.status_code

    return post, client.aclose


def _http1_client(module):
    async def make(port: int) -> tuple[Post, Callable[[], Awaitable[None]]]:
        client = module.Client()
        endpoint, headers = module.Endpoint("127.0.0.1", port, None), _headers()

        async def post() -> int:
            return (await client.post(endpoint, "/hook", headers, BODY, 256)).status

        return post, client.aclose
    return make


def _load(name: str, path: str):
    spec = importlib.util.spec_from_file_location(f"bench_client_{name}", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


async def _measure(make, port: int, n: int) -> tuple[float, float]:
    """CPU and wall microseconds per request over n requests on one kept connection (after a warm-up)."""
    post, close = await make(port)
    for _ in range(20):
        assert await post() == 200
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for _ in range(n):
        await post()
    cpu, wall = time.process_time() - cpu0, time.perf_counter() - wall0
    await close()
    return cpu * 1e6 / n, wall * 1e6 / n


async def _run(clients: dict, port: int, n: int, rounds: int) -> dict[str, list[tuple[float, float]]]:
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in clients}
    for r in range(rounds):
        order = list(clients) if r % 2 == 0 else list(reversed(clients))
        for name in order:
            results[name].append(await _measure(clients[name], port, n))
    return results


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.http_clients")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--module", action="append", default=[], help="NAME=path.py with http1's API")
    args = parser.parse_args(argv)
    from footfall.webhooks import http1
    clients = {"httpx": _httpx_client, "http1 (h11)": _http1_client(http1)}
    for spec in args.module:
        name, _, path = spec.partition("=")
        clients[name] = _http1_client(_load(name, path))
    receiver = subprocess.Popen([sys.executable, "-c", "import sys, asyncio; from bench.http_clients import _serve; "
                                 "asyncio.run(_serve(sys.stdout))"], stdout=subprocess.PIPE, text=True,
                                cwd=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    try:
        port = int(receiver.stdout.readline())
        results = asyncio.run(_run(clients, port, args.requests, args.rounds))
    finally:
        receiver.terminate()
        receiver.wait()
    print(f"[http_clients] {args.requests} POSTs of {len(BODY)} bytes per round, {args.rounds} rounds, "
          f"one kept connection, receiver in its own process; median round (min-max of CPU)")
    base = statistics.median(c for c, _ in results["httpx"])
    for name, rows in results.items():
        cpu = [c for c, _ in rows]
        wall = statistics.median(w for _, w in rows)
        print(f"  {name:<22} CPU {statistics.median(cpu):7.0f} us/request ({min(cpu):.0f}-{max(cpu):.0f})"
              f"  wall {wall:7.0f} us  x{statistics.median(cpu) / base:.2f} of httpx")


if __name__ == "__main__":
    main(sys.argv[1:])
