"""Short forms of `python -m bench moving` (the 1,000,000-event drills run there): an import killed
with SIGKILL and resumed stores every event once; a SQLite → PostgreSQL copy exports the same bytes."""

from __future__ import annotations

from bench import moving


def test_import_killed_with_sigkill_and_resumed_stores_every_event_once():
    drill = moving.import_drill("sqlite", 20_000, kills=1, seed=7)
    assert drill.ok, drill.report()


def test_copy_to_postgresql_exports_the_same_bytes():
    drill = moving.copy_drill(3_000)
    assert drill.ok, drill.report()
