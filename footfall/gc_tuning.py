"""The cyclic garbage collector, tuned for a server process once it has started.

Ingest allocates a few dicts per event (patches, events, results): short-lived and acyclic, freed by
reference counting. At CPython's default threshold (a young collection every 700 allocations) the
collector ran every few requests, and each older collection walked every object made at start-up
(modules, routes, compiled queries). Measured on the Segment batch route: ~30% more events/s.

The writer process collects between commits only (tune_for_commits, collect_if_due): a group commit
holds what it writes until its results are in (on PostgreSQL each statement's cursor, until the
pipeline's end), and a collection within it walks all of that and finds it alive: ~50,000 objects
for a group of 1,600 Segment messages, 10-15 µs per event. Once the commit is answered that is
freed, and the same collection walks little.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000  # allocations between young collections (CPython's default: 700)


def tune() -> None:
    """Call once start-up is done: what exists now is frozen out of the collector's way."""
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, 20, 20)


def tune_for_commits() -> None:
    """tune(), for a process that collects between its units of work (collect_if_due), not within one."""
    tune()
    gc.disable()


def collect_if_due() -> None:
    """The collection the automatic collector would have made by now, if any: the oldest generation
    over its threshold (allocations are counted while it is disabled)."""
    counts, thresholds = gc.get_count(), gc.get_threshold()
    for generation in (2, 1, 0):
        if counts[generation] > thresholds[generation]:
            gc.collect(generation)
            return
