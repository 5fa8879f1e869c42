"""Evaluating segments against the store and recording who joined and who left.

A Catalog holds one account's segments, parsed, in dependency order. `refresh` re-checks given
profiles in given segments (and, through membership conditions, the segments that depend on them);
`evaluate_full` re-checks a whole segment in chunks, so a long evaluation never holds the write lock
for long; `crossings` and `next_change` find what time passing changes.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Sequence

import sqlalchemy as sa

from footfall.segments.compiler import Compiler, TimeBound
from footfall.domain.segment_definitions import Definition, Dependencies, MetricCondition, dependencies, parse
from footfall.store import segment_list_rows, sqlalchemy_statements
from footfall.store.conn import Conn

log = logging.getLogger("footfall.segments")
SCOPE_CHUNK = 500
WRITE_CHUNK = 5000


@dataclass
class Segment:
    account_id: str
    id: str
    version: int
    definition: Definition
    deps: Dependencies
    swept_at: float | None
    is_processing: bool
    window_offsets: tuple[float, ...] = ()  # "in the last N" windows: an event counts from t to t + N


@dataclass
class Changes:
    joined: list[str] = field(default_factory=list)
    left: list[str] = field(default_factory=list)

    @property
    def profiles(self) -> list[str]:
        return self.joined + self.left


@dataclass
class Catalog:
    """An account's segments in dependency order; dependents[g] are the segments naming group g."""

    account_id: str
    signature: tuple
    order: list[Segment]
    dependents: dict[str, list[str]]
    metric_names: dict[str, set[str]]  # metric name -> segments counting it

    def by_id(self) -> dict[str, Segment]:
        return {s.id: s for s in self.order}


def load_catalog(conn: Conn, account_id: str) -> Catalog:
    rows = segment_list_rows.segments(conn, account_id)
    signature = segment_list_rows.catalog_signature(conn, account_id)
    loaded: dict[str, Segment] = {}
    for row in rows:
        try:
            definition = parse(row["definition"])
        except Exception:  # stored definitions were validated; never let one stop the others
            log.exception("segment %s has an unreadable definition", row["id"])
            continue
        loaded[row["id"]] = segment_from_row(account_id, row, definition)
    dependents: dict[str, list[str]] = {}
    for seg in loaded.values():
        for gid in seg.deps.group_ids:
            dependents.setdefault(gid, []).append(seg.id)
    names = segment_list_rows.metric_names(conn, account_id, {m for s in loaded.values() for m in s.deps.metric_ids})
    by_name: dict[str, set[str]] = {}
    for seg in loaded.values():
        for mid in seg.deps.metric_ids:
            if mid in names:
                by_name.setdefault(names[mid], set()).add(seg.id)
    return Catalog(account_id, signature, _topological(loaded), dependents, by_name)


def _topological(segments: dict[str, Segment]) -> list[Segment]:
    order: list[Segment] = []
    state: dict[str, int] = {}

    def visit(sid: str) -> None:
        if state.get(sid) or sid not in segments:
            return
        state[sid] = 1
        for dep in sorted(segments[sid].deps.group_ids):
            visit(dep)
        state[sid] = 2
        order.append(segments[sid])

    for sid in sorted(segments):
        visit(sid)
    return order


# -- evaluation -------------------------------------------------------------------------------------

def qualifying(conn: Conn, seg: Segment, now: float, scope: Sequence[str] | None = None) -> set[str]:
    """The profiles (of scope, if given) that satisfy the segment's definition at `now`."""
    if scope is None:
        stmt = Compiler(conn.dialect, seg.account_id, now).profiles(seg.definition)
        return {r[0] for r in sqlalchemy_statements.execute(conn, stmt).fetchall()}
    found: set[str] = set()
    for i in range(0, len(scope), SCOPE_CHUNK):
        stmt = Compiler(conn.dialect, seg.account_id, now).profiles(seg.definition, scope[i:i + SCOPE_CHUNK])
        found.update(r[0] for r in sqlalchemy_statements.execute(conn, stmt).fetchall())
    return found


def evaluate_scope(conn: Conn, seg: Segment, scope: Sequence[str], now: float) -> Changes:
    """Re-check `scope` in one segment and record joins and leaves in one short transaction."""
    scope = sorted(set(scope))
    members = segment_list_rows.current_members(conn, seg.account_id, seg.id, scope)
    now_in = qualifying(conn, seg, now, scope)
    changes = Changes(sorted(now_in - members), sorted(members - now_in))
    if changes.joined or changes.left:
        conn.begin()
        try:
            segment_list_rows.record_joins(conn, seg.account_id, seg.id, changes.joined, now, kind="segment")
            segment_list_rows.record_leaves(conn, seg.account_id, seg.id, changes.left, now, kind="segment")
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
    else:
        conn.rollback()  # end the read transaction (PostgreSQL) so the next read sees new commits
    return changes


def evaluate_full(conn: Conn, seg: Segment, now: float,
                  progress: Callable[[int, int], None] | None = None) -> Changes:
    """Re-check every profile of the account; writes go in chunks of WRITE_CHUNK rows."""
    now_in = qualifying(conn, seg, now)
    members = segment_list_rows.current_members(conn, seg.account_id, seg.id)
    conn.rollback()
    changes = Changes(sorted(now_in - members), sorted(members - now_in))
    work = [(True, changes.joined[i:i + WRITE_CHUNK]) for i in range(0, len(changes.joined), WRITE_CHUNK)]
    work += [(False, changes.left[i:i + WRITE_CHUNK]) for i in range(0, len(changes.left), WRITE_CHUNK)]
    done = 0
    for joining, part in work:
        conn.begin()
        try:
            if joining:
                segment_list_rows.record_joins(conn, seg.account_id, seg.id, part, now, kind="segment")
            else:
                segment_list_rows.record_leaves(conn, seg.account_id, seg.id, part, now, kind="segment")
            conn.commit()
        except BaseException:
            conn.rollback()
            raise
        done += len(part)
        if progress:
            progress(done, len(changes.joined) + len(changes.left))
    return changes


def refresh(conn: Conn, catalog: Catalog, seeds: dict[str, Iterable[str]], now: float) -> dict[str, Changes]:
    """Re-check seeds[segment] profiles, dependencies first; a change re-checks dependent segments too."""
    pending = {sid: set(pids) for sid, pids in seeds.items()}
    results: dict[str, Changes] = {}
    for seg in catalog.order:
        scope = pending.pop(seg.id, None)
        if not scope:
            continue
        changes = evaluate_scope(conn, seg, sorted(scope), now)
        results[seg.id] = changes
        cascade(catalog, seg.id, changes.profiles, pending)
    return results


def cascade(catalog: Catalog, group_id: str, profiles: Sequence[str], pending: dict[str, set[str]]) -> None:
    """Add `profiles` to the pending re-checks of every segment that names group_id."""
    if not profiles:
        return
    for dependent in catalog.dependents.get(group_id, ()):
        pending.setdefault(dependent, set()).update(profiles)


# -- time -----------------------------------------------------------------------------------------------

def bounds(conn: Conn, seg: Segment, now: float) -> list[TimeBound]:
    compiler = Compiler(conn.dialect, seg.account_id, now)
    compiler.profiles(seg.definition)
    return compiler.bounds


def crossings(conn: Conn, seg: Segment, since: float, now: float) -> set[str]:
    """Profiles for which a comparison with "now" may have flipped between `since` and `now`."""
    lo, hi = min(since, now), max(since, now)
    found: set[str] = set()
    if lo == hi:
        return found
    for bound in bounds(conn, seg, now):
        low, high = lo + bound.offset, hi + bound.offset
        if bound.integer:  # whole seconds: integer bounds keep the index usable
            low, high = math.floor(low), math.ceil(high)
        stmt = sa.select(bound.profile).where(*bound.where, bound.expr >= low, bound.expr <= high).distinct()
        found.update(r[0] for r in sqlalchemy_statements.execute(conn, stmt).fetchall())
    conn.rollback()
    return found


def next_change(conn: Conn, seg: Segment, now: float) -> float | None:
    """The next moment a comparison with "now" flips for some stored row, if any."""
    soonest: float | None = None
    for bound in bounds(conn, seg, now):
        after = math.floor(now + bound.offset) if bound.integer else now + bound.offset
        stmt = sa.select(sa.func.min(bound.expr)).where(*bound.where, bound.expr > after)
        (value,) = sqlalchemy_statements.execute(conn, stmt).fetchone()
        if value is not None:
            moment = float(value) - bound.offset
            soonest = moment if soonest is None else min(soonest, moment)
    conn.rollback()
    return soonest


def count(conn: Conn, seg: Segment, now: float) -> int:
    stmt = Compiler(conn.dialect, seg.account_id, now).profiles(seg.definition)
    (n,) = sqlalchemy_statements.execute(conn, sa.select(sa.func.count()).select_from(stmt.subquery())).fetchone()
    conn.rollback()
    return n


def segment_from_row(account_id: str, row: dict[str, Any], definition: Definition | None = None) -> Segment:
    definition = definition or parse(row["definition"])
    offsets = {off for group in definition.groups for cond in group
               if isinstance(cond, MetricCondition) and cond.timeframe.operator == "in-the-last"
               for off in (-(cond.timeframe.seconds or 0.0), 0.0)}
    return Segment(account_id, row["id"], row["version"], definition, dependencies(definition),
                   row["swept_at"], row["is_processing"], tuple(sorted(offsets)))
