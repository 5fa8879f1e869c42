"""A module imported on first use, for heavy imports that only some requests need.

SQLAlchemy (used by the read queries and the segment evaluator) is ~40% of the server's import time;
importing it on the first read instead of at startup brings a restarted server to /healthz sooner.
importlib.import_module takes the import lock, so first uses from several threads are safe.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


class LazyModule:
    """Stands in for the module `name`; the first attribute read imports it."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._module: ModuleType | None = None

    def __getattr__(self, attr: str) -> Any:
        module = self._module
        if module is None:
            module = self._module = importlib.import_module(self._name)
        return getattr(module, attr)
