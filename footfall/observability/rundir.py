"""The directory `footfall serve` owns while it runs, shared by its workers (FOOTFALL_RUN_DIR).

It holds each worker's heartbeat (health/, read by /healthz to report every worker) and Prometheus'
multiprocess files (metrics/, PROMETHEUS_MULTIPROC_DIR). serve creates it fresh, so no counts or
heartbeats of an earlier run survive, and removes it when it ends; directories left behind by a
killed serve are removed by the next one.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

ENV = "FOOTFALL_RUN_DIR"
PREFIX = "footfall-run-"


def create() -> Path:
    """A new run directory named after this process (so a later serve can tell if its owner is gone)."""
    _remove_orphans()
    path = Path(tempfile.mkdtemp(prefix=f"{PREFIX}{os.getpid()}-"))
    health_dir(path).mkdir()
    metrics_dir(path).mkdir()
    return path


def health_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "health"


def metrics_dir(run_dir: str | Path) -> Path:
    return Path(run_dir) / "metrics"


def remove(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def _remove_orphans() -> None:
    """Run directories of this user whose serve process no longer exists (it was killed)."""
    for path in Path(tempfile.gettempdir()).glob(f"{PREFIX}*"):
        try:
            owner = int(path.name[len(PREFIX):].split("-", 1)[0])
            mine = path.stat().st_uid == os.getuid()
        except (ValueError, OSError):
            continue
        if mine and not pid_alive(owner):
            remove(path)
