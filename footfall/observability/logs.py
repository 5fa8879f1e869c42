"""Footfall's log lines: lifecycle at info / warning, and one access line per request when enabled.

Text (`2026-12-02T19:40:01.123Z INFO footfall.access request request_id=… method=GET …`) or one
JSON object per line (FOOTFALL_LOG_FORMAT=json), on stderr. Lifecycle lines go through `logging`;
access lines do not: the logging machinery (record, handler lock, formatter, a flush per line) cost
more than the rest of a tracked event's request, so AccessLog formats the line itself and writes it
to stderr's buffer, flushed every FLUSH_SECONDS by the app's lifespan and when the buffer fills
(a kill -9 loses at most that much of the access log, never an event).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import IO, Any

import msgspec

ACCESS = "footfall.access"


def _stamp(record: logging.LogRecord) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z"


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = f"{_stamp(record)} {record.levelname} {record.name} {record.getMessage()}"
        fields = getattr(record, "fields", None)
        if fields:
            line += " " + " ".join(f"{k}={_text(v)}" for k, v in fields.items())
        if record.exc_info:
            line += "\n" + self.formatException(record.exc_info)
        return line


def _text(value: object) -> str:
    text = "-" if value is None else str(value)
    return json.dumps(text) if (" " in text or '"' in text or "=" in text) else text


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {"ts": _stamp(record), "level": record.levelname.lower(), "logger": record.name,
               "msg": record.getMessage(), **(getattr(record, "fields", None) or {})}
        if record.exc_info:
            doc["exc"] = self.formatException(record.exc_info)
        return json.dumps(doc, separators=(",", ":"), default=str)


FLUSH_SECONDS = 0.25
_encode = msgspec.json.Encoder().encode


class AccessLog:
    """One line per request, formatted here and written buffered (see the module's docstring)."""

    def __init__(self, log_format: str, stream: IO[bytes] | None = None) -> None:
        self.json = log_format == "json"
        self.stream = stream if stream is not None else sys.stderr.buffer
        self._second = -1
        self._prefix = ""

    def _stamp(self, now: float) -> str:
        second = int(now)
        if second != self._second:  # the date part once a second, not per line
            self._second = second
            self._prefix = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        return f"{self._prefix}.{int((now - second) * 1000):03d}Z"

    def write(self, request_id: str, method: str, route: str, status: int, ms: float, size: int,
              account: str | None, reason: str | None) -> None:
        ts = self._stamp(time.time())
        if self.json:
            line = _encode({"ts": ts, "level": "info", "logger": ACCESS, "msg": "request", "request_id": request_id,
                            "method": method, "route": route, "status": status, "ms": ms, "bytes": size,
                            "account": account, "reason": reason}) + b"\n"
        else:
            line = (f"{ts} INFO {ACCESS} request request_id={request_id} method={_text(method)} route={_text(route)} "
                    f"status={status} ms={ms} bytes={size} account={_text(account)} reason={_text(reason)}\n").encode()
        self.stream.write(line)

    def flush(self) -> None:
        try:
            self.stream.flush()
        except (OSError, ValueError):  # stderr closed or gone: nothing to do about it
            pass


def configure(log_format: str) -> None:
    """Footfall's loggers at info on stderr, in the chosen format (once per process)."""
    root = logging.getLogger("footfall")
    if any(getattr(h, "_footfall", False) for h in root.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler._footfall = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    root.propagate = False
