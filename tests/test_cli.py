"""The `footfall` command on SQLite and PostgreSQL: accounts, export, and `serve` as a real subprocess."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import httpx
import pytest
from typer.testing import CliRunner

from footfall import cli
from footfall.store import accounts, db, exports
from tests.legacy_calls import b64, order, track
from tests.servers import free_port

FOOTFALL = str(Path(sys.executable).with_name("footfall"))
EVENT_KEYS = ["id", "metric", "profile_id", "time", "timestamp", "value", "value_currency", "unique_id", "properties"]
PROFILE_KEYS = ["id", "email", "phone_number", "external_id", "anonymous_id", "first_name", "last_name",
                "organization", "title", "locale", "image", "location", "properties", "consent", "created", "updated"]
LOCATION_KEYS = ["address1", "address2", "city", "region", "country", "zip", "timezone", "latitude", "longitude", "ip"]


def footfall(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """`footfall ARGS` run in this process (Typer's runner: same code, no interpreter start-up);
    `footfall serve` below runs as a real subprocess."""
    result = CliRunner().invoke(cli.app, list(args), env={"FOOTFALL_DATABASE_URL": None, "COLUMNS": "200", **(env or {})})
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess(["footfall", *args], result.exit_code, result.stdout, result.stderr)


def test_accounts_create_and_list(database_url):
    name = f"shop-{uuid.uuid4().hex[:6]}"
    made = footfall("accounts", "create", name, "--json", "--database", database_url)
    assert made.returncode == 0, made.stderr
    info = json.loads(made.stdout)
    assert list(info) == ["id", "name", "public_key", "private_key"]
    assert info["name"] == name and re.fullmatch(r"[A-Z0-9]{6}", info["public_key"])
    assert info["private_key"].startswith("pk_")
    # Every command also reads FOOTFALL_DATABASE_URL.
    listed = footfall("accounts", "list", env={"FOOTFALL_DATABASE_URL": database_url})
    assert listed.returncode == 0, listed.stderr
    [line] = [ln for ln in listed.stdout.splitlines() if name in ln]
    assert info["id"] in line and info["public_key"] in line
    assert info["private_key"] not in listed.stdout
    unknown = footfall("export", "events", "--account", "NOSUCH", "--database", database_url)
    assert unknown.returncode == 1 and "no account with public key or name 'NOSUCH'" in unknown.stderr


def test_export_events_and_profiles_as_json_lines(client, database_url, account, tmp_path):
    customer = {"$email": "ann@example.com", "$first_name": "Ann", "$city": "Oslo", "$phone_number": "+4722334455",
                "$id": "c-1", "vip": True}
    assert track(client, order(account, customer_properties=customer,
                               properties={"$value": "12.5", "$event_id": "o-1", "sku": "B"})).text == "1"
    assert track(client, order(account, event="Viewed Page", time=1_600_000_000, properties={})).text == "1"

    events = footfall("export", "events", "--account", account.public_key, "--database", database_url)
    assert events.returncode == 0, events.stderr
    lines = [json.loads(line) for line in events.stdout.splitlines()]
    assert [list(line) for line in lines] == [EVENT_KEYS, EVENT_KEYS]
    viewed, ordered = lines  # oldest first
    assert viewed["metric"] == "Viewed Page" and viewed["time"] == "2020-09-13T12:26:40+00:00"
    assert ordered == {
        "id": ordered["id"], "metric": "Ordered Product", "profile_id": ordered["profile_id"],
        "time": "2023-11-14T22:13:20+00:00", "timestamp": 1_700_000_000, "value": 12.5, "value_currency": None,
        "unique_id": "o-1", "properties": {"$value": "12.5", "$event_id": "o-1", "sku": "B"},
    }

    out = tmp_path / "profiles.jsonl"
    profiles = footfall("export", "profiles", "--account", account.public_key, "--output", str(out),
                        env={"FOOTFALL_DATABASE_URL": database_url})
    assert profiles.returncode == 0 and profiles.stdout == "", profiles.stderr
    [profile] = [json.loads(line) for line in out.read_text().splitlines()]
    assert list(profile) == PROFILE_KEYS and list(profile["location"]) == LOCATION_KEYS
    assert profile["id"] == ordered["profile_id"] == viewed["profile_id"]
    assert (profile["email"], profile["phone_number"], profile["external_id"]) == ("ann@example.com", "+4722334455", "c-1")
    assert profile["first_name"] == "Ann" and profile["location"]["city"] == "Oslo"
    assert profile["properties"] == {"vip": True}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00", profile["created"])


def wait_healthy(proc: subprocess.Popen, url: str, output: Callable[[], Any]) -> None:
    """Until `footfall serve` answers /healthz 200; what it printed (output()) if it exits first."""
    deadline = time.monotonic() + 90  # a loaded machine starts workers slowly
    while True:
        assert proc.poll() is None, output()
        try:
            if httpx.get(url + "/healthz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, "footfall serve did not come up"
        time.sleep(0.1)


class Serve:
    """`footfall serve` in a subprocess, on a free port."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([FOOTFALL, "serve", "--port", str(self.port), *args],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env={**os.environ, **(env or {})})
        wait_healthy(self.proc, self.url, self.proc.communicate)

    def stop(self) -> str:
        """Stop it as Ctrl-C does; what it printed on stderr."""
        self.proc.send_signal(signal.SIGINT)
        try:
            _, err = self.proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
        return err

    def worker_pids(self) -> set[int]:
        children = set()
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                fields = stat.read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == self.proc.pid:
                children.add(int(stat.parent.name))
        return children


def printed_keys(stderr: str) -> tuple[str, str] | None:
    public = re.search(r"^\s*public key:\s+(\S+)", stderr, re.MULTILINE)
    private = re.search(r"^\s*private key:\s+(\S+)", stderr, re.MULTILINE)
    return (public.group(1), private.group(1)) if public and private else None


@pytest.mark.serial
def test_first_serve_on_an_empty_database_creates_the_default_account_once(tmp_path):
    url = f"sqlite:///{tmp_path}/footfall.db"
    env = {"FOOTFALL_DATABASE_URL": url, "FOOTFALL_MAX_PROPERTIES": "2"}  # settings come from the environment
    first = Serve(env=env)
    try:
        public, private = printed_keys_from_running(first)
        with httpx.Client(base_url=first.url) as c:
            payload = {"token": public, "event": "Signed Up", "customer_properties": {"$email": "a@example.com"}}
            assert c.get("/api/track", params={"data": b64(payload)}).text == "1"
    finally:
        stderr = first.stop()
    assert re.fullmatch(r"[A-Z0-9]{6}", public) and private.startswith("pk_")

    second = Serve(env=env)
    try:
        with httpx.Client(base_url=second.url) as c:
            payload = {"token": public, "event": "Signed Up", "customer_properties": {"$email": "a@example.com"},
                       "properties": {"a": 1, "b": 2, "c": 3}}
            assert c.get("/api/track", params={"data": b64(payload), "verbose": "1"}).json()["error"] == (
                "properties: 3 properties, more than the limit of 2")
    finally:
        stderr = second.stop()
    assert printed_keys(stderr) is None and private not in stderr


@pytest.mark.serial
def test_several_workers_store_every_acknowledged_event_exactly_once(empty_database):
    srv = Serve("--workers", "2", "--database", empty_database)
    try:
        assert len(srv.worker_pids()) >= 2
        public, _ = printed_keys_from_running(srv)
        account = type("Account", (), {"public_key": public})
        # Many clients at once: new people, and one new person seen by many requests at the same moment.
        payloads = [order(account, f"p{i}@example.com", properties={"$event_id": f"p-{i}"}) for i in range(60)]
        payloads += [order(account, "same@example.com", properties={"$event_id": f"s-{i}"}) for i in range(30)]
        payloads += [order(account, "dup@example.com", properties={"$event_id": "once"}) for _ in range(10)]
        with httpx.Client(base_url=srv.url, timeout=30,
                          limits=httpx.Limits(max_keepalive_connections=0)) as c, ThreadPoolExecutor(12) as pool:
            answers = list(pool.map(lambda p: track(c, p).text, payloads))
    finally:
        srv.stop()
    assert answers == ["1"] * len(payloads)
    events, profiles = read_back(empty_database, public)
    assert sorted(e["unique_id"] for e in events) == sorted({p["properties"]["$event_id"] for p in payloads})
    assert sorted(p["email"] for p in profiles) == sorted({p["customer_properties"]["$email"] for p in payloads})


def read_back(database_url: str, public_key: str) -> tuple[list[dict], list[dict]]:
    conn = db.connect(database_url)
    try:
        [account] = [a for a in accounts.list_accounts(conn) if a.public_key == public_key]
        return list(exports.events(conn, account.id)), list(exports.profiles(conn, account.id))
    finally:
        conn.close()


def printed_keys_from_running(srv: Serve) -> tuple[str, str]:
    """The keys the first run printed, read from the server's stderr while it runs."""
    lines = []
    deadline = time.monotonic() + 10
    while (keys := printed_keys("".join(lines))) is None:
        assert time.monotonic() < deadline, lines
        lines.append(srv.proc.stderr.readline())
    return keys
