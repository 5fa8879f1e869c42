"""Segments, lists and their membership rows: reads, and the pipeline appliers that write them.

Segment and list ids share one namespace (a membership condition names either). Membership rows
keep joined_at and left_at; left_at is NULL while the profile is a member.
"""

from __future__ import annotations

from typing import Any, Iterable, Sequence

from footfall import clock, ids
from footfall.domain import topics
from footfall.refusals import GroupInUse, InvalidInput, NotFound
from footfall.domain.segment_list_ops import DeleteGroup, GroupResult, ListMembers, SaveList, SaveSegment
from footfall.domain.limits import Limits
from footfall.domain.models import PROFILE_ATTRIBUTES
from footfall.domain import segment_definitions
from footfall.store import outbox
from footfall.store.conn import Conn
from footfall.timefmt import iso

SEGMENT_COLUMNS = ("id", "name", "definition", "created", "updated", "version", "is_processing", "swept_at")
LIST_COLUMNS = ("id", "name", "created", "updated")
CHUNK = 500


# -- reads ------------------------------------------------------------------------------------------

def segments(conn: Conn, account_id: str) -> list[dict[str, Any]]:
    rows = conn.all(f"SELECT {', '.join(SEGMENT_COLUMNS)} FROM segments WHERE account_id = ? ORDER BY created, id",
                    (account_id,))
    return [_segment_row(conn, r) for r in rows]


def segment(conn: Conn, account_id: str, segment_id: str) -> dict[str, Any] | None:
    row = conn.one(f"SELECT {', '.join(SEGMENT_COLUMNS)} FROM segments WHERE account_id = ? AND id = ?",
                   (account_id, segment_id))
    return _segment_row(conn, row) if row else None


def segment_ids(conn: Conn, account_id: str) -> set[str]:
    return {r[0] for r in conn.all("SELECT id FROM segments WHERE account_id = ?", (account_id,))}


def segment_accounts(conn: Conn) -> list[str]:
    return [r[0] for r in conn.all("SELECT DISTINCT account_id FROM segments")]


def catalog_signature(conn: Conn, account_id: str) -> tuple:
    """Changes whenever a segment of the account is created, changed or deleted."""
    return tuple(conn.one("SELECT COUNT(*), COALESCE(SUM(version), 0), MAX(updated) FROM segments WHERE account_id = ?",
                          (account_id,)) or ())


def lists(conn: Conn, account_id: str) -> list[dict[str, Any]]:
    rows = conn.all(f"SELECT {', '.join(LIST_COLUMNS)} FROM lists WHERE account_id = ? ORDER BY created, id",
                    (account_id,))
    return [dict(zip(LIST_COLUMNS, r)) for r in rows]


def list_row(conn: Conn, account_id: str, list_id: str) -> dict[str, Any] | None:
    row = conn.one(f"SELECT {', '.join(LIST_COLUMNS)} FROM lists WHERE account_id = ? AND id = ?", (account_id, list_id))
    return dict(zip(LIST_COLUMNS, row)) if row else None


def metric_names(conn: Conn, account_id: str, metric_ids: Iterable[str]) -> dict[str, str]:
    wanted = sorted(set(metric_ids))
    if not wanted:
        return {}
    marks = ", ".join("?" for _ in wanted)
    rows = conn.all(f"SELECT id, name FROM metrics WHERE account_id = ? AND id IN ({marks})", [account_id, *wanted])
    return dict(rows)


def current_members(conn: Conn, account_id: str, group_id: str, scope: Sequence[str] | None = None,
                    *, lock: bool = False) -> set[str]:
    """The group's members (of `scope` only, if given); lock: on PostgreSQL, their rows locked to the commit."""
    sql = "SELECT profile_id FROM group_members WHERE account_id = ? AND group_id = ? AND left_at IS NULL"
    if scope is None:
        return {r[0] for r in conn.all(sql, (account_id, group_id))}
    suffix = " FOR UPDATE" if lock and conn.dialect == "postgresql" else ""
    found: set[str] = set()
    for part in _chunks(scope):
        marks = ", ".join("?" for _ in part)
        found.update(r[0] for r in conn.all(f"{sql} AND profile_id IN ({marks}){suffix}", [account_id, group_id, *part]))
    return found


def member_count(conn: Conn, account_id: str, group_id: str) -> int:
    (n,) = conn.one("SELECT COUNT(*) FROM group_members WHERE account_id = ? AND group_id = ? AND left_at IS NULL",
                    (account_id, group_id))
    return n


def groups_of_profile(conn: Conn, account_id: str, profile_id: str, table: str) -> list[dict[str, Any]] | None:
    """The segments or lists (table) the profile is a member of now; None if there is no such profile."""
    cols = SEGMENT_COLUMNS if table == "segments" else LIST_COLUMNS
    current = _current_id(conn, account_id, profile_id)
    if not profile_exists(conn, account_id, current):
        return None
    rows = conn.all(
        f"SELECT {', '.join('g.' + c for c in cols)} FROM group_members m JOIN {table} g "
        "ON g.account_id = m.account_id AND g.id = m.group_id "
        "WHERE m.account_id = ? AND m.profile_id = ? AND m.left_at IS NULL ORDER BY g.created, g.id",
        (account_id, current),
    )
    return [_segment_row(conn, r) if table == "segments" else dict(zip(cols, r)) for r in rows]


def profile_exists(conn: Conn, account_id: str, profile_id: str) -> bool:
    return conn.one("SELECT 1 FROM profiles WHERE account_id = ? AND id = ?", (account_id, profile_id)) is not None


def merged_since(conn: Conn, since: float) -> list[tuple[str, str, str]]:
    """(account_id, old_id, new_id) of profiles merged away after `since`."""
    return conn.all("SELECT account_id, old_id, new_id FROM profile_merges WHERE merged > ?", (since,))


# -- membership writes (the membership worker) --------------------------------------------------------

def _stamp(now: float) -> float:
    """Membership times are kept to the microsecond the API shows, so a time read back from the API
    (joined_group_at filters) parses to exactly the stored number."""
    return round(now, 6)


def record_joins(conn: Conn, account_id: str, group_id: str, profile_ids: Sequence[str], now: float,
                 *, kind: str) -> None:
    """kind 'segment' or 'list': which topic the outbox messages of these joins go out on. Only
    profiles that exist and are not members are joined (and announced): see _still_to_change."""
    now = _stamp(now)
    profile_ids = _still_to_change(conn, account_id, group_id, profile_ids, joining=True)
    if not profile_ids:
        return
    conn.executemany(
        "INSERT INTO group_members (account_id, group_id, profile_id, joined_at, left_at) VALUES (?, ?, ?, ?, NULL) "
        "ON CONFLICT (account_id, group_id, profile_id) DO UPDATE SET joined_at = excluded.joined_at, left_at = NULL "
        "WHERE group_members.left_at IS NOT NULL",
        [(account_id, group_id, pid, now) for pid in profile_ids],
    )
    _membership_messages(conn, account_id, group_id, profile_ids, now, kind, joined=True)


def record_leaves(conn: Conn, account_id: str, group_id: str, profile_ids: Sequence[str], now: float,
                  *, kind: str) -> None:
    """Only profiles that are members now leave (and are announced): see _still_to_change."""
    now = _stamp(now)
    profile_ids = _still_to_change(conn, account_id, group_id, profile_ids, joining=False)
    if not profile_ids:
        return
    conn.executemany(
        "UPDATE group_members SET left_at = ? WHERE account_id = ? AND group_id = ? AND profile_id = ? "
        "AND left_at IS NULL",
        [(now, account_id, group_id, pid) for pid in profile_ids],
    )
    _membership_messages(conn, account_id, group_id, profile_ids, now, kind, joined=False)


def _still_to_change(conn: Conn, account_id: str, group_id: str, profile_ids: Sequence[str], *,
                     joining: bool) -> list[str]:
    """Of profile_ids, those the change still applies to, read in the writing transaction: the
    membership worker decides from reads made before it (a deletion job may have removed the person
    since, whose leave or join must then not be written or sent). On PostgreSQL the rows read are
    locked until the commit, so a concurrent deletion waits for it."""
    members = current_members(conn, account_id, group_id, profile_ids, lock=True)
    if joining:
        lock = " FOR KEY SHARE" if conn.dialect == "postgresql" else ""
        exists: set[str] = set()
        for part in _chunks(profile_ids):
            marks = ", ".join("?" for _ in part)
            exists.update(r[0] for r in conn.all(f"SELECT id FROM profiles WHERE account_id = ? AND id IN ({marks}){lock}",
                                                 [account_id, *part]))
        return [pid for pid in dict.fromkeys(profile_ids) if pid in exists and pid not in members]
    return [pid for pid in dict.fromkeys(profile_ids) if pid in members]


def _membership_messages(conn: Conn, account_id: str, group_id: str, profile_ids: Sequence[str], now: float,
                         kind: str, *, joined: bool) -> None:
    """Joins and leaves go out in the transaction that records them (store/outbox.py)."""
    topic = topics.membership_topic(kind, joined)
    at = "joined_at" if joined else "left_at"
    outbox.enqueue(conn, account_id, [
        outbox.Message(topic, ids.new_ulid(), pid, group_id,
                       {"type": kind, "id": group_id, "profile_id": pid, at: iso(now)})
        for pid in profile_ids], now)


def leave_everything(conn: Conn, account_id: str, profile_id: str, now: float) -> list[str]:
    """End every membership of a profile (merged away); returns the groups it was in."""
    now = _stamp(now)
    groups = [r[0] for r in conn.all("SELECT group_id FROM group_members WHERE account_id = ? AND profile_id = ? "
                                     "AND left_at IS NULL", (account_id, profile_id))]
    segment_set = segment_ids(conn, account_id)
    for group_id in groups:
        record_leaves(conn, account_id, group_id, [profile_id], now,
                      kind="segment" if group_id in segment_set else "list")
    return groups


def finish_processing(conn: Conn, account_id: str, segment_id: str, version: int, now: float) -> None:
    conn.execute("UPDATE segments SET is_processing = ?, swept_at = ? WHERE account_id = ? AND id = ? AND version = ?",
                 (False, now, account_id, segment_id, version))


def set_swept(conn: Conn, account_id: str, segment_id: str, now: float) -> None:
    conn.execute("UPDATE segments SET swept_at = ? WHERE account_id = ? AND id = ?", (now, account_id, segment_id))


def swept_times(conn: Conn, account_id: str) -> dict[str, float | None]:
    """segment id -> when it was last swept, by any worker of any host."""
    return dict(conn.all("SELECT id, swept_at FROM segments WHERE account_id = ?", (account_id,)))


# One membership worker of all hosts on a database sweeps at a time, and one evaluates a given segment
# in full: session-level advisory locks, which outlive the work's commits and go with the connection
# if the worker dies. SQLite needs none: its writers serialize, and one server uses the file.
SWEEP_LOCK = 0x466F6F74
EVALUATION_LOCK = 0x46657661  # with the segment's hash: the two-key lock space


def _try_lock(conn: Conn, sql: str, params: tuple) -> bool:
    if conn.dialect != "postgresql":
        return True
    (got,) = conn.one(sql, params)
    conn.rollback()
    return bool(got)


def _unlock(conn: Conn, sql: str, params: tuple) -> None:
    if conn.dialect == "postgresql":
        conn.rollback()
        conn.one(sql, params)
        conn.rollback()


def try_sweep_lock(conn: Conn) -> bool:
    return _try_lock(conn, "SELECT pg_try_advisory_lock(?)", (SWEEP_LOCK,))


def release_sweep_lock(conn: Conn) -> None:
    _unlock(conn, "SELECT pg_advisory_unlock(?)", (SWEEP_LOCK,))


def try_evaluation_lock(conn: Conn, account_id: str, segment_id: str) -> bool:
    return _try_lock(conn, "SELECT pg_try_advisory_lock(?, hashtext(?))", (EVALUATION_LOCK, f"{account_id}/{segment_id}"))


def release_evaluation_lock(conn: Conn, account_id: str, segment_id: str) -> None:
    _unlock(conn, "SELECT pg_advisory_unlock(?, hashtext(?))", (EVALUATION_LOCK, f"{account_id}/{segment_id}"))


def processing_segments(conn: Conn) -> list[tuple[str, str]]:
    return conn.all("SELECT account_id, id FROM segments WHERE is_processing = ?", (True,))


# -- pipeline appliers --------------------------------------------------------------------------------

def apply_save_segment(conn: Conn, op: SaveSegment, limits: Limits, tally: Any) -> GroupResult:
    now = clock.now()
    if op.definition is not None:
        _check_references(conn, op.account_id, op.segment_id, op.definition)
    if op.segment_id is None:
        segment_id = _new_group_id(conn, op.account_id)
        conn.execute(
            "INSERT INTO segments (account_id, id, name, definition, created, updated, version, is_processing, swept_at) "
            "VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?)",
            (op.account_id, segment_id, op.name, conn.to_json(op.definition), now, now, True, now),
        )
        return GroupResult(segment_id, definition_changed=True)
    current = segment(conn, op.account_id, op.segment_id)
    if current is None:
        raise NotFound(f"segment {op.segment_id} does not exist")
    changed = op.definition is not None and op.definition != current["definition"]
    conn.execute(
        "UPDATE segments SET name = ?, definition = ?, updated = ?, version = version + ?, "
        "is_processing = (is_processing OR ?) WHERE account_id = ? AND id = ?",
        (op.name if op.name is not None else current["name"],
         conn.to_json(op.definition if changed else current["definition"]), now, 1 if changed else 0, changed,
         op.account_id, op.segment_id),
    )
    return GroupResult(op.segment_id, definition_changed=changed)


def apply_save_list(conn: Conn, op: SaveList, limits: Limits, tally: Any) -> GroupResult:
    now = clock.now()
    if op.list_id is None:
        list_id = _new_group_id(conn, op.account_id)
        conn.execute("INSERT INTO lists (account_id, id, name, created, updated) VALUES (?, ?, ?, ?, ?)",
                     (op.account_id, list_id, op.name, now, now))
        return GroupResult(list_id)
    cur = conn.execute("UPDATE lists SET name = ?, updated = ? WHERE account_id = ? AND id = ?",
                       (op.name, now, op.account_id, op.list_id))
    if conn.rowcount(cur) != 1:  # in pipeline mode, a wait for the result
        raise NotFound(f"list {op.list_id} does not exist")
    return GroupResult(op.list_id)


def apply_delete_group(conn: Conn, op: DeleteGroup, limits: Limits, tally: Any) -> GroupResult:
    table = "segments" if op.kind == "segment" else "lists"
    if conn.one(f"SELECT 1 FROM {table} WHERE account_id = ? AND id = ?", (op.account_id, op.group_id)) is None:
        raise NotFound(f"{op.kind} {op.group_id} does not exist")
    users = [s["id"] for s in segments(conn, op.account_id)
             if op.group_id in _group_ids_of(s["definition"])]
    if users:
        raise GroupInUse(f"{op.kind} {op.group_id} is used by segment(s) {', '.join(users)}; change those first", "")
    members = [r[0] for r in conn.all("SELECT profile_id FROM group_members WHERE account_id = ? AND group_id = ? "
                                      "AND left_at IS NULL", (op.account_id, op.group_id))]
    _membership_messages(conn, op.account_id, op.group_id, members, clock.now(), op.kind, joined=False)
    conn.execute("DELETE FROM group_members WHERE account_id = ? AND group_id = ?", (op.account_id, op.group_id))
    conn.execute(f"DELETE FROM {table} WHERE account_id = ? AND id = ?", (op.account_id, op.group_id))
    return GroupResult(op.group_id, changed_profiles=members)


def apply_list_members(conn: Conn, op: ListMembers, limits: Limits, tally: Any) -> GroupResult:
    if list_row(conn, op.account_id, op.list_id) is None:
        raise NotFound(f"list {op.list_id} does not exist")
    now = clock.now()
    resolved = []
    for i, pid in enumerate(op.profile_ids):
        current = _current_id(conn, op.account_id, pid)
        if not profile_exists(conn, op.account_id, current):
            raise NotFound("no profile with that id in this account", f"data/{i}/id")  # a 404, as on event routes
        resolved.append(current)
    resolved = list(dict.fromkeys(resolved))
    before = current_members(conn, op.account_id, op.list_id, resolved)
    if op.add:
        changed = [pid for pid in resolved if pid not in before]
        record_joins(conn, op.account_id, op.list_id, changed, now, kind="list")
    else:
        changed = [pid for pid in resolved if pid in before]
        record_leaves(conn, op.account_id, op.list_id, changed, now, kind="list")
    if changed:
        conn.execute("UPDATE lists SET updated = ? WHERE account_id = ? AND id = ?", (now, op.account_id, op.list_id))
    return GroupResult(op.list_id, changed_profiles=changed)


def check_references(conn: Conn, account_id: str, segment_id: str | None, raw: dict[str, Any]) -> None:
    """What saving a definition checks against the store (the console's live count checks the same)."""
    _check_references(conn, account_id, segment_id, raw)


def _check_references(conn: Conn, account_id: str, segment_id: str | None, raw: dict[str, Any]) -> None:
    """Metrics and groups named by the definition exist, and membership conditions make no cycle."""
    parsed = segment_definitions.parse(raw)
    known_lists = {r[0] for r in conn.all("SELECT id FROM lists WHERE account_id = ?", (account_id,))}
    others = {s["id"]: s["definition"] for s in segments(conn, account_id) if s["id"] != segment_id}
    metric_ids = {r[0] for r in conn.all("SELECT id FROM metrics WHERE account_id = ?", (account_id,))}
    for gi, group in enumerate(parsed.groups):
        for ci, cond in enumerate(group):
            path = f"condition_groups/{gi}/conditions/{ci}"
            if isinstance(cond, segment_definitions.MetricCondition) and cond.metric_id not in metric_ids:
                raise InvalidInput(f"metric {cond.metric_id} does not exist", f"{path}/metric_id")
            if isinstance(cond, segment_definitions.MembershipCondition):
                for ki, gid in enumerate(cond.group_ids):
                    if gid == segment_id:
                        raise InvalidInput("a segment cannot depend on its own membership", f"{path}/group_ids/{ki}")
                    if gid not in known_lists and gid not in others:
                        raise InvalidInput(f"no list or segment {gid}", f"{path}/group_ids/{ki}")
                    if segment_id is not None and _reaches(others, gid, segment_id):
                        raise InvalidInput(f"segment {gid} depends on this segment; that would make a cycle",
                                           f"{path}/group_ids/{ki}")


def _reaches(defs: dict[str, Any], start: str, target: str) -> bool:
    seen, stack = set(), [start]
    while stack:
        gid = stack.pop()
        if gid == target:
            return True
        if gid in seen or gid not in defs:
            continue
        seen.add(gid)
        stack.extend(_group_ids_of(defs[gid]))
    return False


def _group_ids_of(raw: dict[str, Any]) -> set[str]:
    found: set[str] = set()
    for group in raw.get("condition_groups") or []:
        for cond in group.get("conditions") or []:
            if cond.get("type") == "profile-group-membership":
                found.update(cond.get("group_ids") or [])
    return found


def _new_group_id(conn: Conn, account_id: str) -> str:
    while True:
        gid = ids.short_id()
        taken = conn.one("SELECT 1 FROM segments WHERE account_id = ? AND id = ? UNION ALL "
                         "SELECT 1 FROM lists WHERE account_id = ? AND id = ?", (account_id, gid, account_id, gid))
        if taken is None:
            return gid


def _current_id(conn: Conn, account_id: str, profile_id: str) -> str:
    row = conn.one("SELECT new_id FROM profile_merges WHERE account_id = ? AND old_id = ?", (account_id, profile_id))
    return row[0] if row else profile_id


def _segment_row(conn: Conn, row: Sequence[Any]) -> dict[str, Any]:
    out = dict(zip(SEGMENT_COLUMNS, row))
    out["definition"] = conn.from_json(out["definition"])
    out["is_processing"] = bool(out["is_processing"])
    return out


def _chunks(items: Sequence[str]) -> Iterable[Sequence[str]]:
    items = list(items)
    for i in range(0, len(items), CHUNK):
        yield items[i:i + CHUNK]


# -- member listings ------------------------------------------------------------------------------------

MEMBER_COLUMNS = ("id", "email", "phone_number", "external_id", "anonymous_id", *PROFILE_ATTRIBUTES,
                  "location", "properties", "consent", "created", "updated")
_MEMBER_FIELDS = {"profile_id": "m.profile_id", "email": "p.email", "phone_number": "p.phone_number",
                  "external_id": "p.external_id", "joined_group_at": "m.joined_at"}
_MEMBER_OPS = {"equals": "=", "greater-than": ">", "greater-or-equal": ">=", "less-than": "<", "less-or-equal": "<="}


def members_page(conn: Conn, account_id: str, group_id: str, *, conditions: Sequence[tuple[str, str, Any]] = (),
                 descending: bool = False, after: tuple[float, str] | None = None, limit: int = 20
                 ) -> list[dict[str, Any]]:
    """Current members with their profile and joined_at, ordered by (joined_at, id); conditions are
    (field, operator, value) with fields and operators from _MEMBER_FIELDS / _MEMBER_OPS or 'any'."""
    where = ["m.account_id = ?", "m.group_id = ?", "m.left_at IS NULL"]
    params: list[Any] = [account_id, group_id]
    for fld, op, value in conditions:
        column = _MEMBER_FIELDS[fld]
        if op == "any":
            where.append(f"{column} IN ({', '.join('?' for _ in value)})")
            params.extend(value)
        else:
            where.append(f"{column} {_MEMBER_OPS[op]} ?")
            params.append(value)
    if after is not None:
        cmp = "<" if descending else ">"
        where.append(f"(m.joined_at {cmp} ? OR (m.joined_at = ? AND m.profile_id {cmp} ?))")
        params += [after[0], after[0], after[1]]
    order = "DESC" if descending else "ASC"
    # last_event_time: an index lookup per member (ix_events_profile_time), as on /api/profiles.
    rows = conn.all(
        f"SELECT {', '.join('p.' + c for c in MEMBER_COLUMNS)}, m.joined_at, "
        "(SELECT MAX(e.time) FROM events e WHERE e.account_id = p.account_id AND e.profile_id = p.id) "
        "FROM group_members m JOIN profiles p ON p.account_id = m.account_id AND p.id = m.profile_id "
        f"WHERE {' AND '.join(where)} ORDER BY m.joined_at {order}, m.profile_id {order} LIMIT ?",
        [*params, limit],
    )
    out = []
    for values in rows:
        row = dict(zip((*MEMBER_COLUMNS, "joined_at", "last_event_time"), values))
        for part in ("location", "properties", "consent"):
            row[part] = conn.from_json(row[part]) or {}
        out.append(row)
    return out


def member_ids_page(conn: Conn, account_id: str, group_id: str, *, after: tuple[float, str] | None = None,
                    limit: int = 20) -> list[dict[str, Any]]:
    """Current member ids with joined_at, in (joined_at, id) order: GET …/relationships/profiles."""
    where, params = "account_id = ? AND group_id = ? AND left_at IS NULL", [account_id, group_id]
    if after is not None:
        where += " AND (joined_at > ? OR (joined_at = ? AND profile_id > ?))"
        params += [after[0], after[0], after[1]]
    rows = conn.all(f"SELECT profile_id, joined_at FROM group_members WHERE {where} "
                    "ORDER BY joined_at, profile_id LIMIT ?", [*params, limit])
    return [{"id": pid, "joined_at": joined} for pid, joined in rows]


def member_counts(conn: Conn, account_id: str, group_ids: Sequence[str]) -> dict[str, int]:
    """Current member counts of these segments or lists (0 for one without members)."""
    counts = {gid: 0 for gid in group_ids}
    for part in _chunks(list(group_ids)):
        marks = ", ".join("?" for _ in part)
        for gid, n in conn.all(f"SELECT group_id, COUNT(*) FROM group_members WHERE account_id = ? AND left_at IS NULL "
                               f"AND group_id IN ({marks}) GROUP BY group_id", [account_id, *part]):
            counts[gid] = n
    return counts

