"""The connection wrapper both backends share (Conn): SQL is written once, with `?` placeholders.

store/sqlite.py and store/postgres.py make one; store/db.py says which, for a database URL.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterable, Iterator, Protocol, Sequence

import msgspec


_json_encode = msgspec.json.Encoder().encode
_json_decode = msgspec.json.Decoder().decode
_SAVEPOINT_WORDS = ("SAVEPOINT", "RELEASE", "ROLLBACK")  # statements Conn follows (gathered rows)


class Gathered(Protocol):
    """Rows gathered to be written in one statement (Conn.gather); see store/event_rows.PendingEvents.
    write() sends them; inside pipeline() their results may arrive later, and resolve() reads them."""

    def write(self, conn: "Conn") -> None: ...

    def resolve(self, conn: "Conn") -> None: ...


class Conn:
    """A DB-API connection plus the few dialect differences Footfall's SQL meets."""

    def __init__(
        self,
        raw: Any,
        dialect: str,
        *,
        is_unavailable: Callable[[BaseException], bool],
        begin_sql: str,
    ) -> None:
        self.raw = raw
        self.dialect = dialect
        self._is_unavailable = is_unavailable
        self._begin_sql = begin_sql
        self._sql_cache: dict[str, str] = {}
        # Facts read inside this connection's transactions (metric ids by (account, name)); a rollback
        # may undo the rows they describe, so every rollback forgets them (forget()).
        self.cache: dict[Any, Any] = {}
        # Facts read for the batch being applied (profile_upserts.prefetch_owners), true only until its end
        # (store/batch.py clears it then), and dropped on every rollback like `cache`.
        self.batch_cache: dict[Any, Any] = {}
        self._pipeline: Any = None  # psycopg's Pipeline while in pipeline mode (pipeline())
        self._write_cursor: Any = None  # for run() and executemany(): created on first use
        self._deferred: list[Callable[[], None]] | None = None
        self._held: list[tuple[str, Sequence[Any]]] | None = None  # hold()'s writes, inside holding()
        self._joined: dict[tuple[str, ...], str] = {}  # held statements' texts -> the one that runs them
        # Rows waiting to be written together (gather()), by kind: written before a savepoint is set or
        # released and before the commit, dropped by a rollback (they were gathered after the last savepoint).
        self.gathered: dict[str, Gathered] = {}
        self._unresolved: list[Gathered] = []  # sent inside pipeline(), their results not read yet
        self._savepoints: list[tuple[str, int]] = []  # open savepoints: (name, len(_unresolved) when set)

    # -- SQL -------------------------------------------------------------
    def sql(self, text: str) -> str:
        if self.dialect == "sqlite":
            return text
        cached = self._sql_cache.get(text)
        if cached is None:
            cached = self._sql_cache[text] = text.replace("?", "%s")
        return cached

    def execute(self, text: str, params: Sequence[Any] = ()) -> Any:
        if self._held:
            self._send_held()
        if text.startswith(_SAVEPOINT_WORDS):
            self._savepoint_reached(text)
        cur = self.raw.cursor()
        cur.execute(self.sql(text), params)
        return cur

    def run(self, text: str, params: Sequence[Any] = ()) -> None:
        """execute() for a statement whose result is never looked at (a write). They all share one
        cursor, so psycopg makes no cursor per statement. Safe because nothing reads that cursor: a
        result that arrives late (pipeline mode) lands there, never on a read's cursor (execute())."""
        if self._held:
            self._send_held()
        if text.startswith(_SAVEPOINT_WORDS):
            self._savepoint_reached(text)
        self._writes().execute(self.sql(text), params)

    def executemany(self, text: str, rows: Iterable[Sequence[Any]]) -> None:
        if self._held:
            self._send_held()
        self._writes().executemany(self.sql(text), list(rows))

    def _writes(self) -> Any:
        if self._write_cursor is None:
            self._write_cursor = self.raw.cursor()
        return self._write_cursor

    def rowcount(self, cur: Any) -> int:
        """Rows changed by the statement run on `cur`. In pipeline mode its result may not be in yet:
        then this waits for everything sent so far (one round trip)."""
        if self._pipeline is not None and cur.pgresult is None:
            self._pipeline.sync()
        return cur.rowcount

    def one(self, text: str, params: Sequence[Any] = ()) -> tuple | None:
        return self.execute(text, params).fetchone()

    def all(self, text: str, params: Sequence[Any] = ()) -> list[tuple]:
        return self.execute(text, params).fetchall()

    # -- writes sent together ----------------------------------------------
    def holding(self) -> "_Holding":
        """PostgreSQL: the writes given to hold() inside the block wait, and go as one statement
        (`WITH h0 AS (first), ... last`) at its end or just before any other statement is sent: one
        statement's cost (psycopg's, mostly) instead of one each. If the block raises they are not
        sent (the caller rolls back what the block did). Only this class's methods send them first:
        inside the block, send nothing through conn.raw. SQLite has no such cost: nothing changes.
        A plain class, not contextlib's generator: entered once per single-event op."""
        return _Holding(self)

    def hold(self, text: str, params: Sequence[Any]) -> None:
        """run(), or inside holding() later, in one statement with the other held writes. For writes
        that neither read nor change the rows another held write changes: one statement does not see
        its own changes. Outside holding() (and on SQLite) the write runs at once."""
        if self._held is None:
            self.run(text, params)
        else:
            self._held.append((text, params))

    def _send_held(self) -> None:
        held, self._held = self._held or [], []
        if len(held) > 1:
            texts = tuple(text for text, _ in held)
            joined = self._joined.get(texts)
            if joined is None:
                parts = ", ".join(f"h{i} AS ({text})" for i, text in enumerate(texts[:-1]))
                joined = self._joined[texts] = f"WITH {parts} {texts[-1]}"
            held = [(joined, [value for _, params in held for value in params])]
        for text, params in held:
            self._writes().execute(self.sql(text), params)

    # -- rows gathered for one statement -------------------------------------
    def gather(self, kind: str, make: Callable[[], Gathered]) -> Any:
        """The collection of rows of `kind` waiting to be written (made by `make` if there is none). Its
        rows are written by write_gathered(): before a savepoint is set or released (so a rollback to it
        never keeps rows gathered after it) and before the commit; a rollback drops them."""
        pending = self.gathered.get(kind)
        if pending is None:
            pending = self.gathered[kind] = make()
        return pending

    def write_gathered(self) -> None:
        """Send what is gathered (inside pipeline(), without waiting for the results)."""
        while self.gathered:
            _, pending = self.gathered.popitem()
            pending.write(self)
            if self.pipelined:
                self._unresolved.append(pending)

    def resolve_gathered(self) -> None:
        """Send what is gathered and read every result not read yet: before a statement whose effect
        the results must not see (a merge moving the events whose duplicates are looked up)."""
        self.write_gathered()
        unresolved, self._unresolved = self._unresolved, []
        for pending in unresolved:
            pending.resolve(self)

    def _savepoint_reached(self, text: str) -> None:
        words = text.split()
        head, name = words[0].upper(), words[-1]
        if head == "SAVEPOINT":
            self.write_gathered()
            self._savepoints.append((name, len(self._unresolved)))
        elif head == "RELEASE":
            self.write_gathered()
            del self._savepoints[self._savepoint_at(name):]
        elif head == "ROLLBACK" and len(words) > 1:  # ROLLBACK TO: what was sent after it is undone,
            self.gathered.clear()  # and every gathered row came after the latest savepoint
            at = self._savepoint_at(name)
            del self._unresolved[self._savepoints[at][1]:]
            del self._savepoints[at + 1:]

    def _savepoint_at(self, name: str) -> int:
        for i in range(len(self._savepoints) - 1, -1, -1):
            if self._savepoints[i][0] == name:
                return i
        return 0  # not one of ours (set before gathering began): as if the outermost

    # -- pipeline mode ---------------------------------------------------
    @contextlib.contextmanager
    def pipeline(self) -> Iterator[None]:
        """PostgreSQL: statements are sent without waiting for their results (psycopg's pipeline mode),
        so only a read (one(), all(), rowcount()) costs a round trip; at the end every result is waited
        for, and then what was deferred (defer()) runs, in order. An error of a statement is raised at
        the next read or at the end. SQLite has no round trips to save, but defer() waits there too, so
        that rows gathered meanwhile (gather()) are written together. Nested, the outer one holds."""
        if self._deferred is not None:
            yield
            return
        self._deferred = []
        try:
            if self.dialect == "postgresql":
                with self.raw.pipeline() as self._pipeline:
                    yield
            else:
                yield
        finally:
            self._pipeline = None
            deferred, self._deferred = self._deferred or [], None
        for fn in deferred:  # not reached after an error: the caller rolls back what they describe
            fn()

    @property
    def pipelined(self) -> bool:
        return self._pipeline is not None

    def defer(self, fn: Callable[[], None]) -> None:
        """Run `fn` once the results of the statements sent so far are in: at the end of pipeline(), or
        now outside it. What it reads may be a gathered row's outcome: that writes them if not yet."""
        if self._deferred is None:
            fn()
        else:
            self._deferred.append(fn)

    # -- transactions ----------------------------------------------------
    def begin(self) -> None:
        """Start a write transaction (SQLite takes the write lock now, not halfway through)."""
        self._end_transaction()
        if self._begin_sql:
            self.raw.execute(self._begin_sql)

    def commit(self) -> None:
        self.write_gathered()
        self._end_transaction()
        self.raw.commit() if self.dialect == "postgresql" else self.raw.execute("COMMIT")

    def forget(self) -> None:
        """Drop cached facts: a rollback (to a savepoint, too) may have undone their rows."""
        self.cache.clear()
        self.batch_cache.clear()
        self.gathered.clear()

    def _end_transaction(self) -> None:
        self._unresolved.clear()
        self._savepoints.clear()

    def rollback(self) -> None:
        self.forget()
        self._end_transaction()
        try:
            if self.dialect == "postgresql":
                self.raw.rollback()
            elif self.raw.in_transaction:
                self.raw.execute("ROLLBACK")
        except Exception:  # a broken connection cannot roll back; it is replaced anyway
            pass

    def close(self) -> None:
        try:
            self.raw.close()
        except Exception:
            pass

    def is_unavailable(self, exc: BaseException) -> bool:
        return self._is_unavailable(exc)

    # -- JSON columns ----------------------------------------------------
    def to_json(self, value: Any) -> str:
        """A JSON column's value, as text. PostgreSQL is sent it as a parameter of unknown type (psycopg's
        default for str), which it reads as the column's jsonb: the same value as psycopg's Jsonb
        wrapper gives, without a wrapper and a dumper per value (they cost more than the encoding).
        So it is for a column's value (INSERT VALUES, UPDATE SET), not an expression of its own."""
        return _json_encode(value).decode()

    def from_json(self, value: Any) -> Any:
        if value is None or not isinstance(value, (str, bytes)):
            return value
        return _json_decode(value)


class _Holding:
    """Conn.holding()'s block: active only for the outermost one on PostgreSQL."""

    __slots__ = ("_conn", "_active")

    def __init__(self, conn: Conn) -> None:
        self._conn = conn
        self._active = False

    def __enter__(self) -> None:
        conn = self._conn
        if conn.dialect == "postgresql" and conn._held is None:
            conn._held = []
            self._active = True

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        if self._active:
            try:
                if exc_type is None:
                    self._conn._send_held()
            finally:
                self._conn._held = None
