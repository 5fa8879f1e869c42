"""`python -m bench privacy`: how long a deletion job takes for a profile with 10,000 events (goal: gone
from every read within 10 s of the request), on a real `footfall serve`, with other people's events around.

The person's events go in through the bulk API (1,000 a request), the others through `footfall import`;
then `POST /api/data-privacy-deletion-jobs` is timed to its 202 (answered after the commit), and the
profile, its events and an aggregate are read back to check she is gone.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.crash import database, new_account
from bench.moving import _import_argv, generate
from bench.server_proc import footfall_serve

GOAL_SECONDS = 10.0
REVISION = "2026-07-15"


@dataclass
class DeletionRun:
    backend: str
    events: int
    others: int
    seconds: float
    load_seconds: float
    gone: bool

    @property
    def ok(self) -> bool:
        return self.gone and self.seconds <= GOAL_SECONDS

    def report(self) -> str:
        return (f"deletion [{self.backend}]: a profile with {self.events:,} events (among {self.others:,} others') "
                f"deleted in {self.seconds:.2f} s, {self.seconds / GOAL_SECONDS:.2f} of the {GOAL_SECONDS:.0f} s goal; "
                f"storing her events took {self.load_seconds:.2f} s (deletion / load "
                f"{self.seconds / self.load_seconds:.2f}); gone from reads: {self.gone}: "
                + ("PASS" if self.ok else "FAIL"))


def _bulk(email: str, start: int, n: int) -> dict:
    events = [{"type": "event", "attributes": {
        "properties": {"sku": f"s{i % 50}", "n": i}, "unique_id": f"d{i}", "time": "2023-11-14T22:13:20Z",
        "value": 1.0, "metric": {"data": {"type": "metric", "attributes": {"name": "Placed Order"}}}}}
        for i in range(start, start + n)]
    entry = {"type": "event-bulk-create", "attributes": {
        "profile": {"data": {"type": "profile", "attributes": {"email": email}}}, "events": {"data": events}}}
    return {"data": {"type": "event-bulk-create-job", "attributes": {"events-bulk-create": {"data": [entry]}}}}


def deletion_run(backend: str, n_events: int = 10_000, others: int = 100_000) -> DeletionRun:
    with tempfile.TemporaryDirectory(prefix="footfall-privacy-") as tmp, database(backend) as url:
        account = new_account(url)
        if others:
            profiles, events = generate(Path(tmp), others)
            for kind, path in (("profiles", profiles), ("events", events)):
                subprocess.run(_import_argv(kind, path, account.keys.public_key, url), check=True,
                               capture_output=True)
        server = footfall_serve(url, env={"FOOTFALL_RATE_LIMITS": "off"})
        server.start()
        headers = {"Authorization": f"Klaviyo-API-Key {account.keys.private_key}", "revision": REVISION,
                   "Content-Type": "application/vnd.api+json"}
        try:
            with httpx.Client(base_url=server.url, headers=headers, timeout=120) as client:
                email = "gone@example.com"
                began = time.monotonic()
                for start in range(0, n_events, 1000):
                    r = client.post("/api/event-bulk-create-jobs", json=_bulk(email, start, min(1000, n_events - start)))
                    assert r.status_code == 202, r.text
                load_seconds = time.monotonic() - began
                [profile] = client.get("/api/profiles", params={"filter": f'equals(email,"{email}")'}).json()["data"]
                body = {"data": {"type": "data-privacy-deletion-job", "attributes": {"profile": {"data": {
                    "type": "profile", "attributes": {"email": email}}}}}}
                began = time.monotonic()
                r = client.post("/api/data-privacy-deletion-jobs", json=body)
                seconds = time.monotonic() - began
                assert r.status_code == 202, r.text
                job = client.get(r.headers["location"]).json()["data"]["attributes"]
                gone = (job["counts"]["events"] == n_events
                        and client.get(f"/api/profiles/{profile['id']}").status_code == 404
                        and client.get("/api/events", params={
                            "filter": f'equals(profile_id,"{profile["id"]}")'}).json()["data"] == [])
        finally:
            server.stop()
    return DeletionRun(backend, n_events, others, seconds, load_seconds, gone)


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench privacy", description=__doc__)
    parser.add_argument("--events", type=int, default=10_000, help="events of the deleted profile (default 10,000)")
    parser.add_argument("--others", type=int, default=100_000, help="other people's events (default 100,000)")
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    args, _ = parser.parse_known_args(argv)  # `python -m bench` hands every part the same flags
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    failures = 0
    for backend in backends:
        run = deletion_run(backend, args.events, args.others)
        print(run.report(), flush=True)
        failures += not run.ok
    if failures:
        raise SystemExit(1)
