"""Identity and profile rows of ingest: the owners of a batch's identifiers read ahead, the profile upsert
(which profile an identifier names: domain/identity.py) and merges. Rules come from footfall.domain.
"""

from __future__ import annotations

from typing import Any, Sequence

from footfall import ids
from footfall.domain import identity, onsite, topics
from footfall.refusals import NotFound
from footfall.domain.models import PROFILE_ATTRIBUTES, SINGLE_VALUED, ProfilePatch, TrackOp, WriteResult
from footfall.domain.operations import BulkEventsOp, SourceBatchOp
from footfall.domain.profiles import Record, apply_patch, empty_record, merge_records
from footfall.store import outbox, rollups
from footfall.store.conn import Conn
from footfall.store.tally import Tally

Key = identity.Key  # (kind, value) of an identifier
Row = dict[str, Any]  # a profile row by column (_PROFILE_COLUMNS), its JSON columns decoded
# Columns of a profile row that ingest reads and writes, in this order.
_IDENT_COLUMNS = ("email", "phone_number", "external_id", "anonymous_id", "exchange_id")
_RECORD_COLUMNS = (*PROFILE_ATTRIBUTES, "location", "properties", "consent")
_PROFILE_COLUMNS = ("id", *_IDENT_COLUMNS, *_RECORD_COLUMNS, "created")
_JSON_COLUMNS = frozenset({"location", "properties", "consent"})
_P_COLUMNS = ", ".join(f"p.{c}" for c in _PROFILE_COLUMNS)
# Statements run for most operations, written out once rather than per call.
_INSERT_IDENTIFIER = "INSERT INTO profile_identifiers (account_id, kind, value, profile_id) VALUES (?, ?, ?, ?)"
_INSERT_PROFILE = (f"INSERT INTO profiles (account_id, {', '.join(_PROFILE_COLUMNS)}, updated) "
                   f"VALUES ({', '.join('?' for _ in range(len(_PROFILE_COLUMNS) + 2))})")
_UPDATED_COLUMNS = (*_IDENT_COLUMNS, *_RECORD_COLUMNS)
_UPDATE_PROFILE = (f"UPDATE profiles SET {', '.join(f'{c} = ?' for c in _UPDATED_COLUMNS)}, updated = ? "
                   "WHERE account_id = ? AND id = ?")


# -- owners read ahead for a batch ----------------------------------------------------------------

_PREFETCH_CHUNK = 200  # identifiers per query
_ABSENT = object()


def prefetch_owners(conn: Conn, ops: Sequence[Any]) -> int:
    """Read who owns the identifiers of the batch's leading track operations, and those profiles'
    rows, in one query per account and 200 identifiers instead of one per operation (on PostgreSQL
    each of those is a round trip, which also waits for every statement sent before it). Returns
    how many ops were read for: past them, the caller drops what is left (conn.batch_cache).

    An answer is used only while no earlier operation of the batch can have changed it: each upsert
    drops the identifiers it was given and every profile it read or wrote (the only rows and
    identifiers it changes, merges and replacements included), so an operation that shares any of
    them with an earlier one reads the database as before. Other kinds of operation write in other
    ways, so reading ahead stops at the first of them. A Segment / PostHog batch is its messages'
    track operations, applied one after another by the same upsert (store/source_batch.py; a message
    repeating the patch before it writes only its event)."""
    wanted: dict[str, dict[Key, None]] = {}  # account -> its identifiers, without repeats
    covered = 0
    for op in ops:
        patches = _patches(op)
        if patches is None:
            break
        covered += 1
        keys = wanted.setdefault(op.account_id, {})
        patch = None
        for each in patches:
            if each is not patch:  # a run of one person's messages shares one patch
                patch = each
                keys.update(dict.fromkeys(identity.ordered(patch.identifiers)))
    for account_id, keys in wanted.items():
        listed = list(keys)
        for start in range(0, len(listed), _PREFETCH_CHUNK):
            _prefetch_chunk(conn, account_id, listed[start:start + _PREFETCH_CHUNK])
    return covered


def _patches(op: Any) -> Any:
    """The profile patches an op upserts one after another (by upsert_profile), or None for another kind."""
    kind = type(op)
    if kind is TrackOp:
        return (op.profile,)
    if kind is SourceBatchOp:
        return [track.profile for track in op.ops]
    if kind is BulkEventsOp:
        return [entry.profile for entry in op.entries]
    return None


def _prefetch_chunk(conn: Conn, account_id: str, keys: list[Key]) -> None:
    cache = conn.batch_cache
    for kind, value in keys:
        cache[("owner", account_id, kind, value)] = None  # nobody, unless the query finds an owner
    if conn.dialect == "postgresql":  # as one jsonb array: one statement text whatever the count (see _prefetch_sql)
        params: list[Any] = [conn.to_json(keys), account_id, account_id]
    else:
        params = [*_flat(keys), account_id]
    for kind, value, *values in conn.all(_prefetch_sql(len(keys), conn.dialect), params):
        cache[("owner", account_id, kind, value)] = values[0]
        if ("profile", account_id, values[0]) not in cache:
            cache[("profile", account_id, values[0])] = _profile_row(conn, values)


def _prefetch_sql(n_keys: int, dialect: str) -> str:
    # The identifiers drive the lookups (SQLite keeps the left table of a CROSS JOIN outermost), so each
    # is one primary-key lookup, as in _owners_sql, however many identifiers the account has.
    # On PostgreSQL each identifier, then each profile found, is a LATERAL subquery (LIMIT 1 keeps the
    # planner from flattening it): a join planned on the statistics of a young table, not yet analysed
    # by autovacuum, scanned all of the account's identifiers per batch (1-2 ms at 5,000; closed-loop
    # PostgreSQL ingest went from 540 to 1,300 requests/s with this), and hashed the whole profiles
    # table (auto_explain in bench sources: a quarter of the calls took 1.5-2 ms). The profiles are
    # looked up, and locked FOR UPDATE, in id order: why, _lock_profiles says.
    # On PostgreSQL the identifiers go as one jsonb array of [kind, value] pairs, encoded by msgspec: a
    # VALUES list's text, a new one per count, would be parsed by psycopg for its placeholders on every
    # call (it caches short texts only), and two text arrays were dumped element by element in Python.
    if dialect == "postgresql":
        return ("WITH k (kind, value) AS (SELECT e->>0, e->>1 FROM jsonb_array_elements(?::jsonb) e), "
                "i AS MATERIALIZED (SELECT f.kind, f.value, f.profile_id FROM k CROSS JOIN LATERAL "
                "(SELECT kind, value, profile_id FROM profile_identifiers WHERE account_id = ? AND kind = k.kind "
                "AND value = k.value LIMIT 1) f), "
                "p AS MATERIALIZED (SELECT l.* FROM (SELECT DISTINCT profile_id FROM i ORDER BY profile_id) o "
                f"CROSS JOIN LATERAL (SELECT {', '.join(_PROFILE_COLUMNS)} FROM profiles WHERE account_id = ? "
                "AND id = o.profile_id LIMIT 1 FOR UPDATE) l) "
                f"SELECT i.kind, i.value, {_P_COLUMNS} FROM i JOIN p ON p.id = i.profile_id")
    listed = "VALUES " + ", ".join("(?, ?)" for _ in range(n_keys))
    return (f"WITH k (kind, value) AS ({listed}) SELECT i.kind, i.value, {_P_COLUMNS}"
            " FROM k CROSS JOIN profile_identifiers i JOIN profiles p ON p.account_id = i.account_id"
            " AND p.id = i.profile_id WHERE i.account_id = ? AND i.kind = k.kind AND i.value = k.value")


def _lock_profiles(dialect: str) -> str:
    """On PostgreSQL, profile rows read to be changed are locked until the commit: another worker's
    transaction changing the same profile then waits for ours and reads what we wrote, instead of
    overwriting it with what it read before (a lost update). Locked in id order, so two writers
    locking overlapping profiles in one statement each cannot deadlock. SQLite has one writer at a
    time (BEGIN IMMEDIATE). Every query using it names the profiles table `p`."""
    return " ORDER BY p.id FOR UPDATE OF p" if dialect == "postgresql" else ""


def _prefetched(conn: Conn, account_id: str, keys: list[Key]) -> tuple[dict[Key, str], dict[str, Row]] | None:
    """_owners' answer from what prefetch_owners read, or None if any part of it is not there."""
    cache = conn.batch_cache
    if not cache:
        return None
    owners, rows = {}, {}
    for kind, value in keys:
        owner = cache.get(("owner", account_id, kind, value), _ABSENT)
        if owner is _ABSENT:
            return None
        if owner is not None:
            row = cache.get(("profile", account_id, owner))
            if row is None:
                return None
            owners[(kind, value)] = owner
            rows[owner] = row
    return owners, rows


def _drop_prefetched(conn: Conn, account_id: str, keys: list[Key], profile_ids: list[str]) -> None:
    cache = conn.batch_cache
    if cache:
        for kind, value in keys:
            cache.pop(("owner", account_id, kind, value), None)
        for profile_id in profile_ids:
            cache.pop(("profile", account_id, profile_id), None)


# -- profiles -------------------------------------------------------------------------------------

def upsert_profile(
    conn: Conn, account_id: str, patch: ProfilePatch, now: float, tally: Tally, *, strict: bool = False
) -> WriteResult:
    """Resolve who the patch is about, merge anonymous profiles it ties in, apply it."""
    keys = identity.ordered(patch.identifiers)
    owners, rows = _owners(conn, account_id, keys)
    result = _upsert(conn, account_id, patch, keys, owners, rows, now, tally, strict)
    # What the upsert may have changed: the owners of these identifiers, these profiles' rows and
    # identifiers (merges move them, replacements delete them). rows also has an explicit profile.
    _drop_prefetched(conn, account_id, keys, [*rows, result.profile_id])
    return result


def _upsert(conn: Conn, account_id: str, patch: ProfilePatch, keys: list[Key], owners: dict[Key, str],
            rows: dict[str, Row], now: float, tally: Tally, strict: bool) -> WriteResult:
    explicit = _current_id(conn, account_id, patch.profile_id) if patch.profile_id else None
    if explicit and explicit not in rows:
        rows.update(_load_profiles(conn, account_id, {explicit}))
    known = {pid: {k: row[k] for k in SINGLE_VALUED} for pid, row in rows.items()}
    if patch.profile_id and explicit not in rows:
        raise NotFound("no profile with that id in this account")
    res = identity.resolve(
        patch.identifiers, owners, known, explicit_id=explicit,
        may_replace=patch.may_replace_identifiers, strict=strict, keys=keys,
    )
    if res.profile_id is None:
        exchange_id = _exchange_id(patch.mint_exchange_id, res.add, [], patch.identifiers.get("exchange_id"))
        profile_id = _create_profile(conn, account_id, patch, res.add, now)
        tally.add(account_id, "profiles_created")
        tally.message(account_id, outbox.Message(topics.PROFILE_CREATED, ids.new_ulid(), profile_id))
        return WriteResult(profile_id=profile_id, profile_created=True, warnings=res.warnings,
                           exchange_id=exchange_id)
    row = rows[res.profile_id]
    before = {k: row[k] for k in _UPDATED_COLUMNS}
    for source_id in res.merge_from:
        merge_into(conn, account_id, row, rows[source_id], now, tally)
        merged_message(account_id, source_id, row["id"], tally)
    exchange_id = (_exchange_id(patch.mint_exchange_id, res.add, _exchange_ids(conn, account_id, row["id"]),
                                patch.identifiers.get("exchange_id")) if patch.mint_exchange_id else None)
    for kind, value in res.add:
        _add_identifier(conn, account_id, row, kind, value)
    for kind, old, new in res.replace:
        conn.run("DELETE FROM profile_identifiers WHERE account_id = ? AND kind = ? AND value = ?",
                 (account_id, kind, old))
        row[kind] = None
        _add_identifier(conn, account_id, row, kind, new)
    record = apply_patch({k: row[k] for k in _RECORD_COLUMNS}, patch)
    row.update(record)
    changed = [k for k in before if row[k] != before[k]]
    if changed:
        _update_profile(conn, account_id, row, now)
        updated_message(account_id, row["id"], changed, tally)
    return WriteResult(profile_id=res.profile_id, warnings=res.warnings, exchange_id=exchange_id)


def _exchange_id(minted: str | None, add: list[Key], held: list[str], sent: str | None) -> str | None:
    """The profile's exchange id for this account's public key (the suffix of `minted`): the one the
    request identified it by, else one it holds or is given now, else `minted`, which is then added to
    `add` (so it is stored with the rest)."""
    if minted is None:
        return None
    public_key = onsite.exchange_suffix(minted)
    given = [value for kind, value in add if kind == "exchange_id"]
    mine = [*held, *given]
    for value in [*([sent] if sent in mine else []), *sorted(held), *given]:
        if onsite.exchange_suffix(value) == public_key:
            return value
    add.append(("exchange_id", minted))
    return minted


def _exchange_ids(conn: Conn, account_id: str, profile_id: str) -> list[str]:
    rows = conn.all("SELECT value FROM profile_identifiers WHERE account_id = ? AND profile_id = ? AND kind = ?",
                    (account_id, profile_id, "exchange_id"))
    return [value for (value,) in rows]


def merged_message(account_id: str, source_id: str, target_id: str, tally: Tally) -> None:
    tally.message(account_id, outbox.Message(topics.PROFILE_MERGED, ids.new_ulid(), target_id, source_id,
                                             {"profile_id": target_id, "merged_profile_id": source_id}))


def updated_message(account_id: str, profile_id: str, changed: list[str], tally: Tally) -> None:
    """payload: which of the profile's fields changed (the profile itself is read when sent)."""
    tally.message(account_id, outbox.Message(topics.PROFILE_UPDATED, ids.new_ulid(), profile_id,
                                             payload={"changed": changed}))


def merge_into(conn: Conn, account_id: str, target: dict[str, Any], source: dict[str, Any], now: float,
               tally: Tally) -> None:
    """Fold the anonymous profile `source` into `target`: identifiers, events, properties."""
    src, dst = source["id"], target["id"]
    conn.resolve_gathered()  # the source's events gathered so far move with the rest, duplicates' ids read first
    conn.run("UPDATE profile_identifiers SET profile_id = ? WHERE account_id = ? AND profile_id = ?",
             (dst, account_id, src))
    # Every bucket of the source's events is recounted at the commit: the moved ones too, whose counts do
    # not change but whose distinct profiles may (their counters are raised: store/rollups.py).
    tally.deleting_events(rollups.buckets_of_profile(conn, account_id, src))
    # Events keep their dedup keys; where the target already has the same key, the target's wins.
    conn.run(
        "UPDATE events SET profile_id = ? WHERE account_id = ? AND profile_id = ? AND NOT EXISTS ("
        " SELECT 1 FROM events t WHERE t.account_id = events.account_id AND t.profile_id = ?"
        " AND t.metric_id = events.metric_id AND t.dedup_key = events.dedup_key)",
        (dst, account_id, src, dst),
    )
    conn.run("DELETE FROM events WHERE account_id = ? AND profile_id = ?", (account_id, src))
    conn.run("DELETE FROM profiles WHERE account_id = ? AND id = ?", (account_id, src))
    conn.run("UPDATE profile_merges SET new_id = ? WHERE account_id = ? AND new_id = ?", (dst, account_id, src))
    conn.run("INSERT INTO profile_merges (account_id, old_id, new_id, merged) VALUES (?, ?, ?, ?)",
             (account_id, src, dst, now))
    merged: Record = merge_records({k: target[k] for k in _RECORD_COLUMNS}, {k: source[k] for k in _RECORD_COLUMNS})
    target.update(merged)
    for kind in ("anonymous_id", "exchange_id"):
        if target.get(kind) is None:
            target[kind] = source.get(kind)


def _owners(conn: Conn, account_id: str, keys: list[Key]) -> tuple[dict[Key, str], dict[str, Row]]:
    """Who owns each identifier, and those profiles' rows: one query, or none if read ahead."""
    if not keys:
        return {}, {}
    prefetched = _prefetched(conn, account_id, keys)
    if prefetched is not None:
        return prefetched
    found = conn.all(_owners_sql(len(keys), conn.dialect), [account_id, *_flat(keys)])
    owners, rows = {}, {}
    for kind, value, *values in found:
        owners[(kind, value)] = values[0]
        if values[0] not in rows:
            rows[values[0]] = _profile_row(conn, values)
    return owners, rows


def _owners_sql(n_keys: int, dialect: str) -> str:
    where = " OR ".join("(i.kind = ? AND i.value = ?)" for _ in range(n_keys))
    return (f"SELECT i.kind, i.value, {_P_COLUMNS} FROM profile_identifiers i JOIN profiles p"
            f" ON p.account_id = i.account_id AND p.id = i.profile_id WHERE i.account_id = ? AND ({where})"
            + _lock_profiles(dialect))


def _flat(keys: list[Key]) -> list[str]:
    """kind, value, kind, value, ...: the parameters of the (kind, value) pairs of a query."""
    return [part for key in keys for part in key]


def _current_id(conn: Conn, account_id: str, profile_id: str) -> str:
    """A profile id, followed through merges to the profile it now is."""
    row = conn.one("SELECT new_id FROM profile_merges WHERE account_id = ? AND old_id = ?", (account_id, profile_id))
    return row[0] if row else profile_id


def _load_profiles(conn: Conn, account_id: str, profile_ids: set[str]) -> dict[str, dict[str, Any]]:
    if not profile_ids:
        return {}
    marks = ", ".join("?" for _ in profile_ids)
    rows = conn.all(
        f"SELECT {', '.join(_PROFILE_COLUMNS)} FROM profiles p WHERE account_id = ? AND id IN ({marks})"
        + _lock_profiles(conn.dialect),
        [account_id, *sorted(profile_ids)],
    )
    return {values[0]: _profile_row(conn, values) for values in rows}


def _profile_row(conn: Conn, values: Any) -> dict[str, Any]:
    row = dict(zip(_PROFILE_COLUMNS, values))
    for part in _JSON_COLUMNS:
        row[part] = conn.from_json(row[part]) or {}
    return row


def _create_profile(conn: Conn, account_id: str, patch: ProfilePatch, add: list[tuple[str, str]], now: float) -> str:
    profile_id = ids.new_ulid()
    row: dict[str, Any] = {"id": profile_id, **{k: None for k in _IDENT_COLUMNS}}
    row.update(apply_patch(empty_record(), patch))
    # A new profile's rows are independent of each other (distinct identifiers), so they may be held.
    for kind, value in add:
        conn.hold(_INSERT_IDENTIFIER, (account_id, kind, value, profile_id))
        if row.get(kind) is None:
            row[kind] = value
    conn.hold(_INSERT_PROFILE, [account_id, *_row_values(conn, row, _PROFILE_COLUMNS[:-1]), now, now])
    return profile_id


def _add_identifier(conn: Conn, account_id: str, row: dict[str, Any], kind: str, value: str) -> None:
    conn.run(_INSERT_IDENTIFIER, (account_id, kind, value, row["id"]))
    if row.get(kind) is None:
        row[kind] = value


def _update_profile(conn: Conn, account_id: str, row: dict[str, Any], now: float) -> None:
    conn.run(_UPDATE_PROFILE, [*_row_values(conn, row, _UPDATED_COLUMNS), now, account_id, row["id"]])


def _row_values(conn: Conn, row: dict[str, Any], columns: tuple[str, ...]) -> list[Any]:
    return [conn.to_json(row[c]) if c in _JSON_COLUMNS else row[c] for c in columns]
