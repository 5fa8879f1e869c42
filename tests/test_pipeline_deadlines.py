"""The pipeline's ack timeout: one timer per event loop for every submit waiting (not one each), and
every submit still answered 503 (Unavailable) once its own ack_timeout has passed."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from footfall.ingest.pipeline import Pipeline
from footfall.refusals import Unavailable


class HeldCommitter:
    """Commits nothing until released; then every op's result is its own value."""

    def __init__(self) -> None:
        self.release = threading.Event()
        self.connected = False
        self.pid = None

    def connect(self) -> None:
        self.connected = True

    def commit(self, ops: list) -> list:
        self.release.wait(10)
        return list(ops)

    def close(self) -> None:
        self.connected = False


@pytest.fixture
def held():
    committer = HeldCommitter()
    pipeline = Pipeline(committer, ack_timeout=0.3, lag_limit=0.0)
    pipeline.start()
    yield pipeline, committer
    committer.release.set()
    pipeline.stop()


def test_waiting_submits_share_one_timer_and_all_time_out(held):
    pipeline, _ = held

    async def scenario() -> tuple[int, list, float]:
        loop = asyncio.get_running_loop()
        began = time.monotonic()
        waiting = [asyncio.ensure_future(pipeline.submit(i)) for i in range(50)]
        await asyncio.sleep(0.05)
        timers = len([h for h in loop._scheduled if not h.cancelled()])
        outcomes = await asyncio.gather(*waiting, return_exceptions=True)
        return timers, outcomes, time.monotonic() - began

    timers, outcomes, took = asyncio.run(scenario())
    assert timers == 1  # one per submit before
    assert all(isinstance(o, Unavailable) and "did not confirm the write within 0.3s" in str(o) for o in outcomes)
    assert 0.3 <= took < 1.5
    assert pipeline.stats.timed_out == 50


def test_answered_submits_are_not_timed_out_and_the_timer_moves_on(held):
    pipeline, committer = held

    async def scenario() -> list:
        committer.release.set()
        first = await asyncio.gather(*(pipeline.submit(i) for i in range(5)))
        await asyncio.sleep(0.4)  # the timer for the first submits fires: they are answered already
        committer.release.clear()
        late = await asyncio.gather(pipeline.submit("late"), return_exceptions=True)
        return first + late

    outcomes = asyncio.run(scenario())
    assert outcomes[:5] == [0, 1, 2, 3, 4]
    assert isinstance(outcomes[5], Unavailable)
    assert pipeline.stats.timed_out == 1


def test_a_shortened_ack_timeout_holds_for_submits_made_after_it(held):
    pipeline, _ = held

    async def scenario() -> tuple[float, bool]:
        first = asyncio.ensure_future(pipeline.submit("first"))  # due in 0.3 s
        await asyncio.sleep(0.05)
        pipeline.ack_timeout = 0.1
        began = time.monotonic()
        with pytest.raises(Unavailable):
            await pipeline.submit("second")  # due before the first: not kept waiting behind it
        took = time.monotonic() - began
        with pytest.raises(Unavailable):
            await first
        return took, first.done()

    took, _ = asyncio.run(scenario())
    assert took < 0.25


def test_alive_follows_the_writer_thread():
    committer = HeldCommitter()
    pipeline = Pipeline(committer, lag_limit=0.0)
    assert not pipeline.alive
    pipeline.start()
    assert pipeline.alive
    committer.release.set()
    pipeline.stop()
    assert not pipeline.alive


def test_submits_made_while_the_writer_commits_do_not_notify_it(held):
    """The writer takes what queued during a commit when that commit ends; only a writer waiting for
    work is woken (Condition.notify once per request cost ~1 µs on the event loop)."""
    pipeline, committer = held
    notified = []
    notify = pipeline._cond.notify
    pipeline._cond.notify = lambda *a: notified.append(1) or notify(*a)

    async def scenario() -> list:
        first = asyncio.ensure_future(pipeline.submit("first"))  # wakes the waiting writer
        await asyncio.sleep(0.05)  # the writer is in its (held) commit now
        rest = [asyncio.ensure_future(pipeline.submit(i)) for i in range(20)]
        await asyncio.sleep(0.01)
        committer.release.set()
        return await asyncio.gather(first, *rest)

    assert asyncio.run(scenario()) == ["first", *range(20)]
    assert len(notified) == 1
