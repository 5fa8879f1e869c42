"""`footfall import`: a file of events or profiles into an account, through the writer's own appliers.

Lines are read in chunks; each chunk is one transaction (store/batch.apply_batch, as the server's
writer applies its groups), so a chunk is stored whole or not at all. After each commit the state
file (FILE.footfall-import) records how far the file is stored; a run that was interrupted (Ctrl-C,
kill -9, a crash) starts again there. Every record is idempotent (ids, unique ids, or a hash of the
line), so the chunk that was in flight when a run died is stored once when the next run repeats it.
The writes are ordinary transactions, so a server may run on the same database meanwhile.
"""

from __future__ import annotations

import io
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

from footfall.failures import ImportRefused, StoreDown
from footfall.refusals import Conflict, InvalidInput, NotFound, StoreUnavailable
from footfall.domain.limits import Limits
from footfall.domain.privacy import RestoreOp, RestoreResult
from footfall.ingest.committer import LocalCommitter
from footfall.store import batch, db
from footfall.transfer import formats

CHUNK = 1000
MAX_REFUSALS_KEPT = 1000  # in the summary and the state file; the count is always exact
_STORE_RETRIES = 30


@dataclass
class Summary:
    lines: int = 0
    stored: int = 0
    duplicates: int = 0
    refused: int = 0
    refusals: list[tuple[int, str]] = field(default_factory=list)
    resumed_at: int = 0  # line the run started after (0: from the top)
    seconds: float = 0.0
    format: str = ""

    def refuse(self, line: int, reason: str) -> None:
        self.refused += 1
        if len(self.refusals) < MAX_REFUSALS_KEPT:
            self.refusals.append((line, reason))

    def as_dict(self) -> dict[str, Any]:
        return {"lines": self.lines, "stored": self.stored, "duplicates": self.duplicates, "refused": self.refused,
                "refusals": [{"line": line, "reason": reason} for line, reason in self.refusals],
                "resumed_at_line": self.resumed_at, "seconds": round(self.seconds, 3), "format": self.format}


@dataclass
class Record:
    line: int
    end: int  # byte offset just after it (JSON Lines) or the record count (CSV)
    raw: bytes
    value: Any = None


class Importer:
    def __init__(self, url: str, account_id: str, kind: str, path: Path, *, limits: Limits,
                 phone_region: str | None = None, fmt: str = "auto", state_path: Path | None = None,
                 restart: bool = False, chunk: int = CHUNK,
                 on_progress: Callable[[int, int], None] | None = None) -> None:
        self.url, self.account_id, self.kind, self.path = url, account_id, kind, path
        self.limits, self.phone_region, self.fmt, self.chunk = limits, phone_region, fmt, chunk
        self.state_path = state_path or path.with_name(path.name + ".footfall-import")
        self.restart = restart
        self.on_progress = on_progress or (lambda done, total: None)
        self.is_csv = fmt == "csv" or (fmt == "auto" and path.suffix.lower() == ".csv")
        if self.is_csv and kind != "profiles":
            raise ImportRefused("CSV import is for profiles; import events as JSON Lines")

    @property
    def total(self) -> int:
        return self.path.stat().st_size

    # -- state ------------------------------------------------------------------------------------
    def _identity(self) -> dict[str, Any]:
        return {"account_id": self.account_id, "kind": self.kind, "file": str(self.path.resolve()),
                "size": self.total}

    def _load_state(self) -> dict[str, Any] | None:
        if self.restart or not self.state_path.exists():
            return None
        state = json.loads(self.state_path.read_text())
        if {k: state.get(k) for k in self._identity()} != self._identity():
            raise ImportRefused(f"{self.state_path} records another import (other account, kind or file size); "
                                "delete it or pass --restart")
        return state

    def _save_state(self, summary: Summary, end: int, line: int) -> None:
        state = {**self._identity(), "end": end, "line": line, "format": summary.format,
                 "stored": summary.stored, "duplicates": summary.duplicates, "refused": summary.refused,
                 "refusals": summary.refusals}
        tmp = self.state_path.with_name(self.state_path.name + ".tmp")
        with open(tmp, "w") as f:
            json.dump(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.state_path)

    # -- run --------------------------------------------------------------------------------------
    def run(self) -> Summary:
        started = time.monotonic()
        summary = Summary()
        state = self._load_state()
        start_end, start_line = 0, 0
        if state:
            start_end, start_line = state["end"], state["line"]
            summary.stored, summary.duplicates = state["stored"], state["duplicates"]
            summary.refused = state["refused"]
            summary.refusals = [tuple(r) for r in state["refusals"]]
            summary.format = state.get("format") or ""
            summary.resumed_at = start_line
        committer = LocalCommitter(lambda: db.connect(self.url), lambda conn, ops: batch.apply_batch(conn, ops, self.limits))
        committer.connect()
        try:
            records = self._csv_records(start_end) if self.is_csv else self._json_records(start_end, start_line)
            chunk: list[Record] = []
            for record in records:
                chunk.append(record)
                if len(chunk) >= self.chunk:
                    self._store(committer, chunk, summary)
                    chunk = []
            if chunk:
                self._store(committer, chunk, summary)
        finally:
            committer.close()
        summary.lines = max(summary.lines, start_line)
        summary.seconds = time.monotonic() - started
        self.state_path.unlink(missing_ok=True)  # done: a new run imports the file again (all duplicates)
        return summary

    def _json_records(self, offset: int, line: int) -> Iterator[Record]:
        with open(self.path, "rb") as f:
            f.seek(offset)
            position = offset
            for raw in f:
                line += 1
                position += len(raw)
                if raw.strip():
                    yield Record(line, position, raw)
                else:
                    yield Record(line, position, b"")
            self.on_progress(position, self.total)

    def _csv_records(self, skip: int) -> Iterator[Record]:
        with open(self.path, "rb") as raw:
            text = io.TextIOWrapper(raw, encoding="utf-8-sig", newline="")
            reader = formats.csv_reader(text)
            header = reader.fieldnames or []
            if not header:
                return
            export_csv = formats.csv_is_export(list(header))
            count = 0
            for row in reader:
                count += 1
                if count <= skip:
                    continue
                yield Record(reader.line_num, count, b"", (export_csv, row))
                if count % 200 == 0:
                    self.on_progress(raw.tell(), self.total)
            self.on_progress(self.total, self.total)

    def _store(self, committer: LocalCommitter, chunk: list[Record], summary: Summary) -> None:
        ops, lines = self._ops(chunk, summary)
        results = self._commit(committer, ops) if ops else []
        for op_lines, result in zip(lines, results):
            if isinstance(result, RestoreResult):
                summary.stored += result.stored
                summary.duplicates += result.duplicates
                for line, reason in result.refused:
                    summary.refuse(line, reason)
            elif isinstance(result, Exception):
                summary.refuse(op_lines, _reason(result))
            elif getattr(result, "dropped", False):
                summary.refuse(op_lines, "names a deleted person (FOOTFALL_SUPPRESS_AFTER_DELETE is on)")
            elif getattr(result, "duplicate", False) or (self.kind == "profiles" and not result.profile_created):
                summary.duplicates += 1
            else:
                summary.stored += 1
        last = chunk[-1]
        summary.lines = last.line
        self._save_state(summary, last.end, last.line)
        if not self.is_csv:
            self.on_progress(last.end, self.total)

    def _commit(self, committer: LocalCommitter, ops: list[Any]) -> list[Any]:
        """One transaction; a store that is busy or away (a server's writer holding SQLite) is waited for."""
        for attempt in range(_STORE_RETRIES):
            try:
                if not committer.connected:
                    committer.connect()
                return committer.commit(ops)
            except (StoreDown, StoreUnavailable):
                if attempt == _STORE_RETRIES - 1:
                    raise
                time.sleep(min(0.1 * 2 ** attempt, 2.0))
        raise AssertionError("unreachable")

    def _ops(self, chunk: list[Record], summary: Summary) -> tuple[list[Any], list[Any]]:
        """The chunk's operations and, for each, the line it came from (a RestoreOp: its own lines)."""
        now = time.time()
        restore = RestoreOp(self.account_id)
        ops: list[Any] = []
        lines: list[Any] = []
        for record in chunk:
            if not record.raw and record.value is None:
                continue  # a blank line
            try:
                item = self._decode(record, summary, now)
            except InvalidInput as exc:
                summary.refuse(record.line, _reason(exc))
                continue
            if isinstance(item, formats.RestoredProfile):
                restore.profiles.append(item)
            elif isinstance(item, formats.RestoredEvent):
                restore.events.append(item)
            else:
                ops.append(item)
                lines.append(record.line)
        if restore.profiles or restore.events:
            ops.insert(0, restore)
            lines.insert(0, None)
        return ops, lines

    def _decode(self, record: Record, summary: Summary, now: float) -> Any:
        if self.is_csv:
            export_csv, row = record.value
            summary.format = summary.format or ("footfall-csv" if export_csv else "csv")
            if export_csv:
                return formats.csv_export_profile(row, record.line, self.limits)
            return formats.csv_profile(row, self.account_id, self.limits, self.phone_region)
        value = formats.json_line(record.raw)
        if not summary.format:
            summary.format = formats.detect(self.kind, value) if self.fmt == "auto" else self.fmt
        fmt = summary.format
        if self.kind == "events":
            if fmt == "footfall":
                return formats.footfall_event(value, record.line, self.limits)
            if fmt == "klaviyo":
                return formats.klaviyo_event(value, record.raw, self.account_id, self.limits, now, self.phone_region)
            if fmt == "segment":
                return formats.segment_event(value, record.raw, self.account_id, self.limits, now, self.phone_region)
        else:
            if fmt == "footfall":
                return formats.footfall_profile(value, record.line, self.limits)
            if fmt == "klaviyo":
                return formats.klaviyo_profile(value, record.raw, self.account_id, self.limits, self.phone_region)
        raise InvalidInput(f"format {fmt!r} is not one footfall imports {self.kind} from")


def _reason(exc: BaseException) -> str:
    if isinstance(exc, InvalidInput):
        return f"{exc.path}: {exc.detail}" if exc.path else exc.detail
    if isinstance(exc, Conflict):
        return f"an identifier belongs to another profile ({exc.profile_id})"
    if isinstance(exc, NotFound):
        return exc.detail
    return str(exc)
