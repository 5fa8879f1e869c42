"""The membership worker: keeps segment membership current, off the ingest writer's thread.

The pipeline calls `on_commit` on its writer thread after each commit; that only queues notes. This
worker's own thread (with its own connection) drains the queue, works out which segments the
committed events and profile changes can affect, and re-checks just the touched profiles. A changed
definition is evaluated in full (is_processing stays true until then). Time-relative conditions are
re-checked when their next comparison with "now" flips (scheduled) and at every sweep (the fallback,
which also notices a jump of footfall.clock).

Several hosts (or workers) on one database: each re-checks only what its own pipeline committed, so
a change is re-checked once. Sweeps are shared: a segment is swept when its stored swept_at is a
sweep interval old, by whichever worker looks first (each looks every quarter interval), and one
worker at a time sweeps (a PostgreSQL advisory lock), so time passing is re-checked once, not once
per host. A full evaluation is done by one worker at a time too (an advisory lock per segment); one a
dead worker left unfinished is taken over at the next sweep look.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, Callable

from footfall import clock
from footfall.domain.segment_list_ops import DeleteGroup, GroupResult, ListMembers, SaveList, SaveSegment
from footfall.domain.models import TrackOp, WriteResult
from footfall.observability import prometheus_metrics
from footfall.store import segment_list_rows
from footfall.refusals import StoreUnavailable
from footfall.segments import evaluator
from footfall.segments.evaluator import Catalog, Changes
from footfall.store.conn import Conn

log = logging.getLogger("footfall.segments")
RETRY_DELAY = 0.5
# A scheduled re-check runs just after the flip, when the comparison has changed.
AFTER_FLIP = 0.01
MAX_DRAIN = 5000


@dataclass
class Touch:
    """A committed write to one profile: what about it can have changed."""

    account_id: str
    profile_id: str
    metric: str | None = None
    event_time: float | None = None
    profile_changed: bool = True
    everything: bool = False  # created or possibly merged: every segment may change


@dataclass
class GroupChange:
    """Profiles whose membership of a list changed (segments naming the list must re-check them)."""

    account_id: str
    group_id: str
    profiles: list[str]


@dataclass
class Reevaluate:
    account_id: str
    segment_id: str


Observer = Callable[[str, str, "Changes"], None]


@dataclass
class Stats:
    touches: int = 0
    full_evaluations: int = 0
    sweeps: int = 0
    joined: int = 0
    left: int = 0
    errors: int = 0
    last_error: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def touches_for(op: TrackOp, result: WriteResult) -> Touch:
    patch = op.profile
    changed = bool(patch.attributes or patch.location or patch.properties or patch.unset_properties
                   or patch.once_properties or patch.consent_changes
                   or patch.append_properties or patch.unappend_properties or patch.consent)
    # With two or more identifiers the write may have added one or merged an anonymous profile.
    several = len([v for v in patch.identifiers.values() if v]) + (1 if patch.profile_id else 0) >= 2
    event = op.event if op.event is not None and not result.duplicate else None
    return Touch(op.account_id, result.profile_id, event.metric if event else None,
                 float(event.time) if event else None, changed or several or result.profile_created,
                 result.profile_created or several)


def _other_write(account_id: str, result: Any) -> list[Touch]:
    """Any other kind of write (modern profile writes, merges, bulk events) names the profiles it
    touched in `profile_ids` (or `profile_id`), and merged-away ones in `merged`: re-check them everywhere."""
    touched = list(getattr(result, "profile_ids", None) or [])
    if not touched and isinstance(getattr(result, "profile_id", None), str):
        touched = [result.profile_id]
    touched += list(getattr(result, "merged", None) or [])
    return [Touch(account_id, pid, everything=True) for pid in dict.fromkeys(touched) if pid]


class MembershipWorker:
    def __init__(self, connect: Callable[[], Conn], *, sweep_interval: float = 60.0) -> None:
        self._connect = connect
        self.sweep_interval = sweep_interval
        self._check_every = sweep_interval / 4  # how often the stored swept_at times are looked at
        self._queue: queue.SimpleQueue[list[Any] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._stopping = False
        self._conn: Conn | None = None
        self._catalogs: dict[str, Catalog] = {}
        self._due: float | None = None  # clock time of the next scheduled re-check
        self._last_sweep = 0.0  # monotonic
        self._merge_mark = clock.now() - 60
        self.stats = Stats()
        self.observers: list[Observer] = []

    # -- lifecycle --------------------------------------------------------------------------------
    def start(self) -> None:
        self._thread = threading.Thread(target=self._supervised, name="footfall-membership", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping = True
        self._queue.put(None)
        if self._thread is not None:
            self._thread.join(timeout)
        if self._conn is not None:
            self._conn.close()
            self._conn = None

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def health(self) -> dict[str, Any]:
        return {"worker": "running" if self.alive else "stopped", "queued": self._queue.qsize(),
                "full_evaluations": self.stats.full_evaluations, "sweeps": self.stats.sweeps,
                "joined": self.stats.joined, "left": self.stats.left, "last_error": self.stats.last_error}

    # -- the pipeline's writer thread: note what was committed, nothing more ------------------------
    def on_commit(self, committed: list[tuple[Any, Any]]) -> None:
        notes: list[Any] = []
        for op, result in committed:
            if isinstance(op, TrackOp):
                if not result.dropped:  # a dropped event touched nobody
                    notes.append(touches_for(op, result))
            elif isinstance(op, SaveSegment) and isinstance(result, GroupResult):
                notes.append(Reevaluate(op.account_id, result.group_id) if result.definition_changed
                             else GroupChange(op.account_id, result.group_id, []))
            elif isinstance(op, ListMembers) and isinstance(result, GroupResult):
                notes.append(GroupChange(op.account_id, op.list_id, result.changed_profiles))
            elif isinstance(op, (DeleteGroup, SaveList)) and isinstance(result, GroupResult):
                notes.append(GroupChange(op.account_id, result.group_id, result.changed_profiles))
            elif hasattr(op, "account_id"):
                notes.extend(_other_write(op.account_id, result))
        if notes:
            self._queue.put(notes)

    def submit(self, notes: list[Any]) -> None:
        self._queue.put(notes)

    # -- worker thread ------------------------------------------------------------------------------
    def _supervised(self) -> None:
        started = False
        while not self._stopping:
            try:
                if not started:
                    self._recover()
                    started = True
                self._run()
            except Exception as exc:  # keep going: memberships catch up at the next change or sweep
                self._record_error(exc)
                if self._conn is not None and self._conn.is_unavailable(exc):
                    self._conn.close()
                    self._conn = None
                time.sleep(RETRY_DELAY)

    def _run(self) -> None:
        while not self._stopping:
            notes = self._take()
            if notes is None:
                return
            conn = self._connection()
            if notes:
                began = time.perf_counter()
                try:
                    self._process(conn, notes)
                    m = prometheus_metrics.get()
                    if m is not None:
                        m.segment_recheck.observe(time.perf_counter() - began)
                except Exception as exc:
                    if conn.is_unavailable(exc):
                        self._queue.put(notes)  # try again once the store is back
                    raise
            if self._sweep_due():
                self._sweep(conn)

    def _take(self) -> list[Any] | None:
        """Wait for notes until the next scheduled re-check or sweep; drain what is there."""
        wait = self._check_every - (time.monotonic() - self._last_sweep)
        if self._due is not None:
            wait = min(wait, self._due - clock.now())
        notes: list[Any] = []
        try:
            first = self._queue.get(timeout=max(0.0, min(wait, self._check_every)))
        except queue.Empty:
            return notes
        if first is None:
            return None
        notes.extend(first)
        while len(notes) < MAX_DRAIN:
            try:
                more = self._queue.get_nowait()
            except queue.Empty:
                break
            if more is None:
                self._stopping = True
                break
            notes.extend(more)
        return notes

    def _connection(self) -> Conn:
        if self._conn is None:
            self._conn = self._connect()
        return self._conn

    def _recover(self) -> None:
        """Finish full evaluations a previous process left unfinished."""
        conn = self._connection()
        pending = segment_list_rows.processing_segments(conn)
        conn.rollback()
        if pending:
            self._queue.put([Reevaluate(acc, sid) for acc, sid in pending])

    # -- processing ---------------------------------------------------------------------------------
    def _process(self, conn: Conn, notes: list[Any]) -> None:
        by_account: dict[str, list[Any]] = defaultdict(list)
        for note in notes:
            by_account[note.account_id].append(note)
        for account_id, items in by_account.items():
            full = list(dict.fromkeys(n.segment_id for n in items if isinstance(n, Reevaluate)))
            if full or any(isinstance(n, GroupChange) for n in items):
                self._catalogs.pop(account_id, None)
            catalog = self._catalog(conn, account_id)
            self._refresh_touched(conn, catalog, [n for n in items if not isinstance(n, Reevaluate)])
            for segment_id in full:
                self._evaluate_full(conn, account_id, segment_id)

    def _refresh_touched(self, conn: Conn, catalog: Catalog, items: list[Any]) -> None:
        if not catalog.order or not items:
            return
        seeds: dict[str, set[str]] = defaultdict(set)
        profile_segments = [s.id for s in catalog.order if s.deps.profile]
        all_segments = [s.id for s in catalog.order]
        by_id = catalog.by_id()
        m = prometheus_metrics.get()
        for note in items:
            if isinstance(note, GroupChange):
                evaluator.cascade(catalog, note.group_id, note.profiles, seeds)
                continue
            self.stats.touches += 1
            if m is not None:
                m.segment_touches.inc()
            chosen = all_segments if note.everything else (profile_segments if note.profile_changed else [])
            for sid in chosen:
                seeds[sid].add(note.profile_id)
            for sid in catalog.metric_names.get(note.metric, ()) if note.metric else ():
                seeds[sid].add(note.profile_id)
                if note.event_time is not None and by_id[sid].deps.time_relative:
                    self._schedule_event(by_id[sid], note.event_time)
        if seeds:
            self._apply(catalog, evaluator.refresh(conn, catalog, seeds, clock.now()))

    def _schedule_event(self, seg: evaluator.Segment, event_time: float) -> None:
        """A new event starts or stops counting in a time window at a moment known without a query."""
        now = clock.now()
        for offset in seg.window_offsets:
            if event_time - offset > now:
                self._set_due(event_time - offset)

    def _evaluate_full(self, conn: Conn, account_id: str, segment_id: str) -> None:
        """One worker of all hosts evaluates a segment at a time; whoever gets it next finds it done."""
        if not segment_list_rows.try_evaluation_lock(conn, account_id, segment_id):
            retry = threading.Timer(RETRY_DELAY, self._queue.put, args=([Reevaluate(account_id, segment_id)],))
            retry.daemon = True
            retry.start()
            return
        try:
            self._evaluate_locked(conn, account_id, segment_id)
        finally:
            segment_list_rows.release_evaluation_lock(conn, account_id, segment_id)

    def _evaluate_locked(self, conn: Conn, account_id: str, segment_id: str) -> None:
        row = segment_list_rows.segment(conn, account_id, segment_id)
        conn.rollback()
        if row is None or not row["is_processing"]:  # deleted, or another worker finished it
            return
        seg = evaluator.segment_from_row(account_id, row)
        now = clock.now()
        changes = evaluator.evaluate_full(conn, seg, now)
        self.stats.full_evaluations += 1
        m = prometheus_metrics.get()
        if m is not None:
            m.segment_full_evaluations.inc()
        catalog = self._catalog(conn, account_id)
        pending: dict[str, set[str]] = {}
        evaluator.cascade(catalog, segment_id, changes.profiles, pending)
        results = {segment_id: changes}
        if pending:
            results.update(evaluator.refresh(conn, catalog, pending, now))
        conn.begin()
        segment_list_rows.finish_processing(conn, account_id, segment_id, seg.version, now)
        conn.commit()
        cached = catalog.by_id().get(segment_id)
        if cached is not None and cached.version == seg.version:
            cached.swept_at, cached.is_processing = now, False
        self._apply(catalog, results)
        if seg.deps.time_relative:
            self._set_due_from(conn, seg, now)

    def _apply(self, catalog: Catalog, results: dict[str, Changes]) -> None:
        for segment_id, changes in results.items():
            self.stats.joined += len(changes.joined)
            self.stats.left += len(changes.left)
            if changes.joined or changes.left:
                for observer in self.observers:
                    observer(catalog.account_id, segment_id, changes)

    def _catalog(self, conn: Conn, account_id: str) -> Catalog:
        cached = self._catalogs.get(account_id)
        signature = segment_list_rows.catalog_signature(conn, account_id)
        conn.rollback()
        if cached is None or cached.signature != signature:
            cached = self._catalogs[account_id] = evaluator.load_catalog(conn, account_id)
            conn.rollback()
        return cached

    # -- time -----------------------------------------------------------------------------------------
    def _sweep_due(self) -> bool:
        if time.monotonic() - self._last_sweep >= self._check_every:
            return True
        return self._due is not None and clock.now() >= self._due

    def _sweep(self, conn: Conn) -> None:
        """Re-check what time passing changed since each time-relative segment's last sweep: every
        segment when a scheduled flip is due, else those no worker swept for a sweep interval."""
        self._last_sweep = time.monotonic()
        forced = self._due is not None and clock.now() >= self._due
        if not segment_list_rows.try_sweep_lock(conn):  # another worker is sweeping: look again soon
            if forced:
                self._due = clock.now() + RETRY_DELAY
            return
        try:
            self._due = None
            self.stats.sweeps += 1
            self._take_over(conn)
            self._end_merged(conn)
            accounts = segment_list_rows.segment_accounts(conn)
            conn.rollback()
            for account_id in accounts:
                catalog = self._catalog(conn, account_id)
                swept = segment_list_rows.swept_times(conn, account_id)
                conn.rollback()
                for seg in catalog.order:
                    if not seg.deps.time_relative:
                        continue
                    seg.swept_at = swept.get(seg.id, seg.swept_at)  # maybe another host's sweep
                    # (a clock that went back leaves swept_at in the future: that is not recent)
                    if not forced and seg.swept_at is not None and 0 <= clock.now() - seg.swept_at < self.sweep_interval:
                        continue
                    self._sweep_segment(conn, catalog, seg)
        finally:
            segment_list_rows.release_sweep_lock(conn)

    def _take_over(self, conn: Conn) -> None:
        """Evaluations left unfinished by a worker that died (on any host): nobody holds their lock."""
        pending = segment_list_rows.processing_segments(conn)
        conn.rollback()
        orphans = []
        for account_id, segment_id in pending:
            if segment_list_rows.try_evaluation_lock(conn, account_id, segment_id):
                segment_list_rows.release_evaluation_lock(conn, account_id, segment_id)
                orphans.append(Reevaluate(account_id, segment_id))
        if orphans:
            self._queue.put(orphans)

    def _sweep_segment(self, conn: Conn, catalog: Catalog, seg: evaluator.Segment) -> None:
        now = clock.now()
        since = seg.swept_at if seg.swept_at is not None else now
        crossed = evaluator.crossings(conn, seg, since, now)
        if crossed:
            self._apply(catalog, evaluator.refresh(conn, catalog, {seg.id: crossed}, now))
        conn.begin()
        segment_list_rows.set_swept(conn, seg.account_id, seg.id, now)
        conn.commit()
        seg.swept_at = now
        m = prometheus_metrics.get()
        if m is not None:
            m.segment_sweeps.inc()
        self._set_due_from(conn, seg, now)

    def _set_due_from(self, conn: Conn, seg: evaluator.Segment, now: float) -> None:
        moment = evaluator.next_change(conn, seg, now)
        if moment is not None:
            self._set_due(moment)

    def _set_due(self, moment: float) -> None:
        moment += AFTER_FLIP
        if self._due is None or moment < self._due:
            self._due = moment

    def _end_merged(self, conn: Conn) -> None:
        """Profiles merged into another leave their groups; the survivor takes their list places."""
        mark = clock.now()
        merged = segment_list_rows.merged_since(conn, self._merge_mark - 5)
        conn.rollback()
        self._merge_mark = mark
        for account_id, old_id, new_id in merged:
            conn.begin()
            left = segment_list_rows.leave_everything(conn, account_id, old_id, mark)
            catalog_ids = segment_list_rows.segment_ids(conn, account_id)
            lists = [g for g in left if g not in catalog_ids]
            joined = [g for g in lists if not segment_list_rows.current_members(conn, account_id, g, [new_id])]
            for list_id in joined:
                segment_list_rows.record_joins(conn, account_id, list_id, [new_id], mark, kind="list")
            conn.commit()
            if left:
                notes: list[Any] = [Touch(account_id, new_id, everything=True)]
                notes += [GroupChange(account_id, g, [new_id]) for g in joined]
                self._queue.put(notes)

    def _record_error(self, exc: BaseException) -> None:
        self.stats.errors += 1
        self.stats.last_error = f"{type(exc).__name__}: {exc}"
        if not isinstance(exc, StoreUnavailable):
            log.exception("membership worker error")

