"""Timing a call: its median and 95th percentile over repeated runs, in milliseconds."""

from __future__ import annotations

import statistics
import time
from typing import Any, Callable


def p50_p95_ms(fn: Callable[[], Any], repeat: int) -> tuple[float, float]:
    """fn() once to warm caches and connections, then `repeat` timed calls."""
    return first_p50_p95_ms(fn, repeat)[1:]


def first_p50_p95_ms(fn: Callable[[], Any], repeat: int) -> tuple[float, float, float]:
    """The first call's milliseconds (cold: before any cache holds its answer), then the median and
    95th percentile of `repeat` calls after it."""
    t0 = time.perf_counter()
    fn()
    first = (time.perf_counter() - t0) * 1000
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    samples.sort()
    return first, statistics.median(samples), samples[min(len(samples) - 1, round(0.95 * (len(samples) - 1)))]
