"""The writer process's collector policy (footfall/gc_tuning.py): no collection within a commit, the
one that is due between two."""

from __future__ import annotations

import gc
import weakref

from footfall import gc_tuning


class _Node:
    def __init__(self) -> None:
        self.me = self  # a reference cycle: only the collector frees it


def test_collect_if_due_makes_the_collection_the_disabled_collector_skipped():
    was_enabled, thresholds = gc.isenabled(), gc.get_threshold()
    gc.collect()
    try:
        gc.disable()
        gc.set_threshold(1000, 20, 20)
        gc_tuning.collect_if_due()  # nothing due yet: nothing collected
        cycle = _Node()
        alive = weakref.ref(cycle)
        del cycle
        gc_tuning.collect_if_due()
        assert alive() is not None
        junk = [_Node() for _ in range(1500)]  # past the young threshold, with the collector off
        del junk
        assert gc.get_count()[0] > 1000 and alive() is not None
        gc_tuning.collect_if_due()
        assert alive() is None and gc.get_count()[0] < 1000
    finally:
        gc.set_threshold(*thresholds)
        if was_enabled:
            gc.enable()
