"""`python -m bench [PART ...]`: run the benchmark parts in order (all of them by default).

Each part is a module bench/<part>.py exposing `main(argv: list[str]) -> None`; it prints its own table.
"""

from __future__ import annotations

import importlib
import sys

PARTS = ["ingest", "segments", "aggregates"]


def main(argv: list[str]) -> None:
    chosen = [a for a in argv if not a.startswith("-")] or PARTS
    flags = [a for a in argv if a.startswith("-")]
    for part in chosen:
        try:
            module = importlib.import_module(f"bench.{part}")
        except ModuleNotFoundError as exc:
            if exc.name == f"bench.{part}":
                print(f"[bench] part {part!r} not present, skipped")
                continue
            raise
        print(f"\n=== bench: {part} ===", flush=True)
        module.main(flags)


if __name__ == "__main__":
    main(sys.argv[1:])
