"""`python -m bench [PART ...]`: run the benchmark parts in order (all of them by default).

Each part is a module bench/<part>.py exposing `main(argv: list[str]) -> None`; it prints its own table.
"""

from __future__ import annotations

import importlib
import sys

PARTS = ["ingest", "observability", "sources", "segments", "aggregates", "webhooks", "privacy", "cluster"]


def main(argv: list[str]) -> None:
    # Part names come first; everything from the first flag on goes to the parts (so `--duration 5` works).
    first_flag = next((i for i, a in enumerate(argv) if a.startswith("-")), len(argv))
    chosen = argv[:first_flag] or PARTS
    flags = argv[first_flag:]
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
