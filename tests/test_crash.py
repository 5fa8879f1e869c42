"""kill -9 under load, on both backends: nothing acknowledged is lost, nothing is stored twice.

Short form of `make crashtest` (bench/crash.py): a few kills at random moments while clients send
events with unique ids over every ingest route the server has, retrying what was not acknowledged.
"""

from __future__ import annotations

import pytest

from bench.crash import crash_drill
from tests.conftest import drop_pg_database, make_pg_database, make_sqlite_database

pytestmark = pytest.mark.serial  # timing-bound: make test runs it after the parallel part


@pytest.fixture(params=["sqlite", "postgres"])
def fresh_database(request, tmp_path):
    if request.param == "sqlite":
        yield request.param, make_sqlite_database(tmp_path)
        return
    url = make_pg_database()
    yield request.param, url
    drop_pg_database(url)


def test_kill_9_under_load_loses_nothing_acknowledged(fresh_database, tmp_path):
    backend, url = fresh_database
    result = crash_drill(backend, url, kills=3, up_between=(0.3, 0.9), threads=4, seed=7,
                         log_path=str(tmp_path / "server.log"))
    print(result.report())
    assert result.verdict.acked > 100, "the load never got going"
    assert result.verdict.missing == [], "acknowledged events missing after kill -9"
    assert result.verdict.duplicated == [], "events stored twice after retries across a crash"
    assert result.slowest_restart <= result.healthy_within, (
        f"restarts took {result.restart_seconds} (clean start {result.first_start:.2f}s)")
    assert result.stats.unexpected == []
