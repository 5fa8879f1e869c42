"""What one ingest transaction counts, to write once at its end: counters, outbox messages, metric rollups."""

from __future__ import annotations

import copy
from collections import Counter
from typing import Any

from footfall.store import outbox, rollups
from footfall.store.conn import Conn


class Tally:
    """What one transaction gathers to write once at its end: counter increments, outbox messages and
    metric rollups (store/rollups.py)."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()
        self.messages: list[tuple[str, outbox.Message]] = []  # (account, message), in the order made
        # Appended to (so a mark is a length), added up per bucket at the flush.
        # (bucket, events, their values' sum) of the events stored, a call's worth at a time
        self.stored: list[tuple[rollups.RollupKey, int, float]] = []
        self.recounts: list[rollups.RollupKey] = []  # buckets events were deleted from or moved in

    def stored_event(self, account_id: str, metric_id: str, time: int, value: float | None) -> None:
        """An event was inserted (not a duplicate): its metric's rollup bucket grows at the commit."""
        self.stored.append(((account_id, metric_id, rollups.bucket_of(time)), 1, value or 0.0))

    def stored_events(self, account_id: str, events: list[tuple[str, int, float | None]]) -> None:
        """stored_event for many events, as (metric id, time, value): added up per bucket here, once."""
        sums: dict[tuple[str, int], list] = {}
        for metric_id, time, value in events:
            key = (metric_id, rollups.bucket_of(time))
            entry = sums.get(key)
            if entry is None:
                sums[key] = [1, value or 0.0]
            else:
                entry[0] += 1
                entry[1] += value or 0.0
        self.stored.extend([((account_id, metric_id, bucket), n, s) for (metric_id, bucket), (n, s) in sums.items()])

    def deleting_events(self, keys: list[rollups.RollupKey]) -> None:
        """Events are being deleted from these buckets, or moved to another profile: they are recounted
        at the commit (which raises their counters, store/rollups.py)."""
        self.recounts.extend(keys)

    def add(self, account_id: str, name: str, n: int = 1) -> None:
        self.counts[(account_id, name)] += n

    def message(self, account_id: str, message: outbox.Message) -> None:
        """A message for webhooks and the stream, written with the counters (store/outbox.py)."""
        self.messages.append((account_id, message))

    def messages_of(self, account_id: str, messages: list[outbox.Message]) -> None:
        self.messages.extend([(account_id, message) for message in messages])

    def mark(self) -> tuple[Any, ...]:
        """Where the tally stands, for restore() when a savepoint is rolled back."""
        return copy.copy(self.counts), len(self.messages), len(self.stored), len(self.recounts)

    def restore(self, mark: tuple[Any, ...]) -> None:
        self.counts = copy.copy(mark[0])
        del self.messages[mark[1]:]
        del self.stored[mark[2]:]
        del self.recounts[mark[3]:]

    def flush(self, conn: Conn) -> None:
        if self.counts:
            conn.executemany(
                "INSERT INTO counters (account_id, name, value) VALUES (?, ?, ?) "
                "ON CONFLICT (account_id, name) DO UPDATE SET value = counters.value + excluded.value",
                [(acc, name, n) for (acc, name), n in sorted(self.counts.items())],
            )
            self.counts.clear()
        if self.messages:
            by_account: dict[str, list[outbox.Message]] = {}
            for account_id, message in self.messages:
                by_account.setdefault(account_id, []).append(message)
            for account_id in sorted(by_account):  # one order, so two writers cannot deadlock on positions
                outbox.enqueue(conn, account_id, by_account[account_id])
            self.messages.clear()
        if self.stored or self.recounts:
            # A recounted bucket is counted from the events as they are now, this group's inserts included.
            recount = set(self.recounts)
            sums: dict[rollups.RollupKey, list] = {}
            for key, n, value in self.stored:
                if key not in recount:
                    entry = sums.setdefault(key, [0, 0.0])
                    entry[0] += n
                    entry[1] += value
            rollups.add(conn, sums)
            rollups.recount(conn, recount)
            self.stored.clear()
            self.recounts.clear()
