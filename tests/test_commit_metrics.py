"""Group-commit metrics are counted on the writer thread and reach Prometheus at the next flush
(observability/prometheus_metrics.py), none lost to a flush running on another thread meanwhile."""

import threading

from footfall.observability import prometheus_metrics


def _value(name: str, labels: dict | None = None) -> float:
    from prometheus_client import REGISTRY

    return REGISTRY.get_sample_value(name, labels or {}) or 0.0


def test_group_commits_reach_the_metrics_at_the_next_flush():
    prometheus_metrics.configure(True)
    m = prometheus_metrics.get()
    assert m is not None
    m.flush()
    size_sum, count = _value("footfall_group_commit_size_sum"), _value("footfall_group_commit_size_count")
    small = _value("footfall_group_commit_size_bucket", {"le": "5.0"})
    ingested, dups = _value("footfall_events_ingested_total"), _value("footfall_events_deduplicated_total")

    m.group_committed(3, 0.002, 7, 2, 1)
    m.group_committed(40, 0.004, 4, 40, 0)
    assert _value("footfall_group_commit_size_sum") == size_sum  # counted, not yet flushed
    m.flush()
    assert _value("footfall_group_commit_size_sum") == size_sum + 43
    assert _value("footfall_group_commit_size_count") == count + 2
    assert _value("footfall_group_commit_size_bucket", {"le": "5.0"}) == small + 1
    assert _value("footfall_group_commit_duration_seconds_sum") > 0
    assert _value("footfall_events_ingested_total") == ingested + 42
    assert _value("footfall_events_deduplicated_total") == dups + 1
    assert _value("footfall_ingest_queue_depth") == 4  # as the latest commit left it


def test_no_commit_is_lost_to_a_flush_on_another_thread():
    prometheus_metrics.configure(True)
    m = prometheus_metrics.get()
    assert m is not None
    m.flush()
    before = _value("footfall_group_commit_size_count")
    done = threading.Event()

    def flushing() -> None:
        while not done.is_set():
            m.flush()

    flusher = threading.Thread(target=flushing)
    flusher.start()
    try:
        for _ in range(20_000):
            m.group_committed(1, 0.001, 0, 1, 0)
    finally:
        done.set()
        flusher.join()
    m.flush()
    assert _value("footfall_group_commit_size_count") == before + 20_000
