"""Each worker publishes its health to a small file every second; /healthz reads them all.

With `--workers N` a request reaches one worker, which alone cannot say how the others are; the
heartbeat files (one per worker pid, in the run directory's health/) can. A file whose pid is gone
is removed by the reader; one not refreshed for STALE_AFTER seconds means a worker that is stuck.
"""

from __future__ import annotations

import asyncio
import json
import os
import time
from pathlib import Path
from typing import Any, Callable

from footfall.observability.rundir import pid_alive

INTERVAL = 1.0
STALE_AFTER = 5.0


class Heartbeat:
    def __init__(self, directory: Path, report: Callable[[], dict[str, Any]]) -> None:
        self.directory = directory
        self.report = report
        self.pid = os.getpid()
        self.path = directory / f"{self.pid}.json"

    def write(self) -> None:
        """Replace the file at once (a reader never sees half of it)."""
        tmp = self.directory / f".{self.pid}.tmp"
        tmp.write_text(json.dumps({"pid": self.pid, "at": time.time(), **self.report()}))
        os.replace(tmp, self.path)

    async def run(self) -> None:
        while True:
            try:
                self.write()
            except OSError:  # the run directory went away (serve is ending): nothing to report to
                pass
            await asyncio.sleep(INTERVAL)

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def read_all(directory: Path, now: float | None = None) -> list[dict[str, Any]]:
    """Every live worker's last heartbeat, with its age in seconds (files of dead pids removed)."""
    now = time.time() if now is None else now
    found = []
    for path in sorted(directory.glob("*.json")):
        try:
            beat = json.loads(path.read_text())
            pid = int(beat["pid"])
        except (OSError, ValueError, KeyError, TypeError):
            continue  # replaced or removed as we read it
        if not pid_alive(pid):
            path.unlink(missing_ok=True)
            continue
        beat["age_seconds"] = round(max(0.0, now - float(beat.get("at", 0))), 2)
        beat.pop("at", None)
        if beat["age_seconds"] > STALE_AFTER:
            beat["status"] = "unhealthy"
            beat["reason"] = f"no heartbeat for {beat['age_seconds']:.0f}s"
        found.append(beat)
    return found
