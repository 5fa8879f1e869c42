"""Footfall's log lines: lifecycle at info / warning, and one access line per request when enabled.

Text (`2026-12-02T19:40:01.123Z INFO footfall.access request_id=… method=GET …`) or one JSON
object per line (FOOTFALL_LOG_FORMAT=json), on stderr. Fields of an access line are passed as
`extra={"fields": {...}}` so both formats render the same data.
"""

from __future__ import annotations

import json
import logging
import sys
import time

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
