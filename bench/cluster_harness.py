"""A Footfall cluster on one machine: N `footfall serve` hosts, each in its own network namespace,
behind HAProxy (health checks on /readyz), on one private PostgreSQL, with Redis for the shared
rate-limit counters.

    with Cluster(hosts=3) as c:      # c.url is the balancer; c.account holds a private key
        ...

Layout: a bridge on the host holds the subnet's .1 (the "gateway"); PostgreSQL and Redis are
private instances listening on 127.0.0.1 and the gateway, so the hosts reach them as remote
services and the shared 5432 / 6379 are never disturbed. Each host listens on its namespace's own
address; HAProxy runs on the host, listens on 127.0.0.1 and forwards to the hosts. Everything made
is removed by `stop()`, whatever failed. `python -m bench.cluster_harness` (make cluster) runs one
for a person until Ctrl-C.
"""

from __future__ import annotations

import argparse
import csv
import io
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.cluster_net import Namespace, Network
from bench.server_proc import FOOTFALL, Proc, free_port
from footfall.store import accounts, db, migrate
from tests.pg_instance import PgInstance

HOST_PORT = 8000  # every host listens on its own address, so they can share the port number
CHECK_INTERVAL = 0.25  # seconds between HAProxy's /readyz checks of each host
CHECK_FALL = 2  # failed checks before a host is taken out (and passed ones before it is back)
# What a client gets when no host could answer its request (a host killed mid-request, none up):
# the same refusal Footfall gives when it cannot take work, so a client's retry logic covers both.
BALANCER_REFUSAL = ("HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\n"
                    "cache-control: no-store\r\nconnection: close\r\n\r\n"
                    '{"errors":[{"status":503,"code":"unavailable","title":"No host could answer",'
                    '"detail":"No Footfall host could answer this request; retry after 1 s."}]}\n')


@dataclass
class ClusterAccount:
    id: str
    public_key: str
    private_key: str


@dataclass
class Host:
    name: str
    ns: Namespace
    proc: Proc

    @property
    def url(self) -> str:
        return self.proc.url


def haproxy_config(listen_port: int, stats_port: int, hosts: list[Host], refusal_file: Path) -> str:
    ms = int(CHECK_INTERVAL * 1000)
    servers = "\n".join(f"    server {h.name} {h.ns.address}:{HOST_PORT} check" for h in hosts)
    return f"""global
    maxconn 4096

defaults
    mode http
    timeout connect 1s
    timeout client 60s
    timeout server 30s
    timeout http-keep-alive 5s
    timeout queue 5s
    # A connection that cannot be made is tried again on another host (the request was never sent).
    retries 2
    option redispatch 1
    retry-on conn-failure
    errorfile 502 {refusal_file}
    errorfile 503 {refusal_file}
    errorfile 504 {refusal_file}

frontend footfall
    bind 127.0.0.1:{listen_port}
    option forwardfor
    # Which host answered: lets tests see the balancer spread requests.
    http-response set-header x-footfall-host %[srv_name]
    default_backend hosts

backend hosts
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
    default-server inter {ms}ms fastinter {ms}ms downinter {ms}ms fall {CHECK_FALL} rise {CHECK_FALL}
{servers}

frontend stats
    bind 127.0.0.1:{stats_port}
    stats enable
    stats uri /stats
"""


class Cluster:
    def __init__(self, hosts: int = 3, *, env: dict[str, str] | None = None, workdir: str | None = None,
                 fsync: bool = False) -> None:
        """fsync: PostgreSQL flushes its WAL to disk (off by default: the tests need no durable disk)."""
        self.size = hosts
        self.fsync = fsync
        self.env = dict(env or {})
        self.root = Path(workdir or tempfile.mkdtemp(prefix="footfall-cluster-"))
        self.net = Network(hosts=hosts)
        self.pg: PgInstance | None = None
        self.redis: subprocess.Popen | None = None
        self.haproxy: subprocess.Popen | None = None
        self.hosts: list[Host] = []
        self.port = free_port()
        self.stats_port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.database_url = ""  # reachable from this machine (127.0.0.1)
        self.host_database_url = ""  # reachable from the namespaces (the gateway)
        self.redis_url = ""
        self.account: ClusterAccount | None = None

    # -- lifecycle --------------------------------------------------------------------------------
    def __enter__(self) -> "Cluster":
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> "Cluster":
        try:
            self.net.create()
            gw = self.net.gateway
            self.pg = PgInstance(listen=f"127.0.0.1,{gw}", trust=str(self.net.subnet), max_connections=300,
                                 fsync=self.fsync)
            self.pg.init().start()
            self.database_url = self.pg.create_database("footfall")
            self.host_database_url = self.database_url.replace("@127.0.0.1:", f"@{gw}:")
            migrate.upgrade(self.database_url)
            self.account = self._new_account("cluster")
            self._start_redis(gw)
            self.hosts = [self._host(i, ns) for i, ns in enumerate(self.net.namespaces, 1)]
            self._parallel([h.proc.start for h in self.hosts], 30)
            self._start_haproxy()
            self.wait_states({h.name: "UP" for h in self.hosts}, timeout=10)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for step in (self._stop_haproxy, *(h.proc.stop for h in self.hosts), self._stop_redis,
                     self._stop_pg, self.net.remove):
            try:
                step()
            except Exception as exc:  # keep tearing down: what is left would outlive the run
                print(f"[cluster] teardown step failed: {exc}", flush=True)
        shutil.rmtree(self.root, ignore_errors=True)

    def _new_account(self, name: str) -> ClusterAccount:
        conn = db.connect(self.database_url)
        try:
            made = accounts.create_account(conn, name)
        finally:
            conn.close()
        return ClusterAccount(made.account.id, made.account.public_key, made.private_key)

    def new_account(self, name: str) -> ClusterAccount:
        return self._new_account(name)

    # -- hosts ------------------------------------------------------------------------------------
    def _host(self, i: int, ns: Namespace) -> Host:
        name = f"host{i}"
        env = {
            "FOOTFALL_REDIS_URL": self.redis_url,
            # HAProxy connects from the gateway: its X-Forwarded-For names the client.
            "FOOTFALL_TRUSTED_PROXIES": self.net.gateway,
            "FOOTFALL_WEBHOOK_ALLOW": str(self.net.subnet) + ",127.0.0.1",
            "FOOTFALL_PUBLIC_URL": self.url,
            **self.env,
        }
        argv = ns.argv(FOOTFALL, "serve", "--host", ns.address, "--port", str(HOST_PORT),
                       "--database", self.host_database_url)
        proc = Proc(argv, HOST_PORT, env=env, log_path=str(self.root / f"{name}.log"))
        proc.url = f"http://{ns.address}:{HOST_PORT}"
        return Host(name, ns, proc)

    def kill9(self, host: Host) -> None:
        host.proc.kill9()

    def restart(self, host: Host, timeout: float = 20) -> float:
        return host.proc.start(timeout=timeout)

    # -- Redis and PostgreSQL ---------------------------------------------------------------------
    def _start_redis(self, gw: str) -> None:
        port = free_port()
        self.redis = subprocess.Popen(
            ["redis-server", "--bind", f"127.0.0.1 {gw}", "--port", str(port), "--save", "",
             "--appendonly", "no", "--protected-mode", "no", "--dir", str(self.root)],
            stdout=open(self.root / "redis.log", "ab"), stderr=subprocess.STDOUT, start_new_session=True)
        self.redis_url = f"redis://{gw}:{port}/0"
        deadline = time.monotonic() + 10
        while subprocess.run(["redis-cli", "-h", gw, "-p", str(port), "ping"], capture_output=True,
                             text=True).stdout.strip() != "PONG":
            if self.redis.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"redis-server did not start: {(self.root / 'redis.log').read_text()[-500:]}")
            time.sleep(0.05)

    def _stop_redis(self) -> None:
        _terminate(self.redis)

    def _stop_pg(self) -> None:
        if self.pg is not None:
            self.pg.destroy()

    # -- the balancer -----------------------------------------------------------------------------
    def _start_haproxy(self) -> None:
        refusal = self.root / "refusal.http"
        refusal.write_text(BALANCER_REFUSAL)
        cfg = self.root / "haproxy.cfg"
        cfg.write_text(haproxy_config(self.port, self.stats_port, self.hosts, refusal))
        check = subprocess.run(["haproxy", "-c", "-q", "-f", str(cfg)], capture_output=True, text=True)
        if check.returncode != 0:
            raise RuntimeError(f"haproxy refused its config: {check.stderr.strip()}")
        self.haproxy = subprocess.Popen(["haproxy", "-db", "-f", str(cfg)], stdout=open(self.root / "haproxy.log", "ab"),
                                        stderr=subprocess.STDOUT, start_new_session=True)

    def _stop_haproxy(self) -> None:
        _terminate(self.haproxy)

    def states(self) -> dict[str, str]:
        """Each host's state in the balancer (UP, DOWN, "UP 1/2", ...), from its stats page."""
        text = httpx.get(f"http://127.0.0.1:{self.stats_port}/stats;csv", timeout=2).text
        rows = csv.DictReader(io.StringIO(text.lstrip("# ")))
        return {r["svname"]: r["status"] for r in rows if r["pxname"] == "hosts" and r["svname"] not in ("BACKEND",)}

    def wait_states(self, wanted: dict[str, str], timeout: float) -> float:
        """Wait until the balancer shows each named host in the wanted state; returns the seconds taken."""
        began = time.monotonic()
        seen: dict[str, str] = {}
        while True:
            if self.haproxy is not None and self.haproxy.poll() is not None:
                raise RuntimeError(f"haproxy exited: {(self.root / 'haproxy.log').read_text()[-800:]}")
            try:
                seen = self.states()
                if all(seen.get(name) == state for name, state in wanted.items()):
                    return time.monotonic() - began
            except httpx.HTTPError:
                pass
            if time.monotonic() - began > timeout:
                raise TimeoutError(f"balancer states {seen}, wanted {wanted}")
            time.sleep(0.02)

    # -- helpers ----------------------------------------------------------------------------------
    @staticmethod
    def _parallel(calls: list, timeout: float) -> None:
        errors: list[BaseException] = []

        def run(call) -> None:
            try:
                call()
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=run, args=(c,), daemon=True) for c in calls]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout)
        if errors:
            raise errors[0]

    def logs(self, name: str) -> str:
        path = self.root / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""


def _terminate(popen: subprocess.Popen | None) -> None:
    if popen is None or popen.poll() is not None:
        return
    popen.terminate()
    try:
        popen.wait(10)
    except subprocess.TimeoutExpired:
        popen.kill()
        popen.wait()


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.cluster_harness", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--hosts", type=int, default=3)
    args = parser.parse_args(argv)

    def stop(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, stop)  # `kill` tears down as Ctrl-C does
    with Cluster(hosts=args.hosts) as c:
        assert c.account is not None
        print(f"Footfall cluster: {args.hosts} hosts behind HAProxy", flush=True)
        print(f"  balancer     {c.url}   (stats: http://127.0.0.1:{c.stats_port}/stats)")
        for h in c.hosts:
            print(f"  {h.name}        {h.url}   (namespace {h.ns.name}, log {c.root / (h.name + '.log')})")
        print(f"  PostgreSQL   {c.database_url}")
        print(f"  Redis        {c.redis_url}")
        print(f"  public key   {c.account.public_key}")
        print(f"  private key  {c.account.private_key}")
        print(f"try: curl -s {c.url}/healthz ; Ctrl-C stops the cluster and removes everything", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("\nstopping the cluster", flush=True)


if __name__ == "__main__":
    main()
