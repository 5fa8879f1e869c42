"""timefmt.iso writes what datetime's isoformat writes, for every kind of time it is given."""

import random
from datetime import datetime, timezone

import pytest

from footfall.timefmt import iso


def reference(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, tz=timezone.utc).isoformat()


@pytest.mark.parametrize("seconds", [0, 0.0, 1.5, -1.5, 1667870625, 1667870625.000001, 1667870625.9999995,
                                     1667870625.0000005, 1667870625.0000015, -0.0000005, 1e-7, 253402300799.0,
                                     -62135596800.0, -62135596799.5])
def test_edges(seconds: float) -> None:
    assert iso(seconds) == reference(seconds)


def test_random_times_microseconds_and_rounding() -> None:
    rng = random.Random(17)
    for _ in range(50_000):
        seconds = rng.choice([rng.uniform(-3e10, 2.5e11), round(rng.uniform(0, 2e9), rng.randint(0, 7)),
                              rng.randint(0, 2_000_000_000) + rng.choice([5e-7, 1.5e-6, 0.9999995, 0.25])])
        assert iso(seconds) == reference(seconds), seconds


def test_none() -> None:
    assert iso(None) is None
