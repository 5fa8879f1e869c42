"""Every shell example in README.md is run against a real server, so the README cannot drift.

The rules (README.md says them too, under "Examples in this README"):

- Fenced blocks whose info string is exactly `sh` are run; every other block (```text, ```json,
  ```python, ...) is shown, never run. Use ```text for commands that start long-running things
  (`make serve`) or need a machine set up differently.
- All `sh` blocks run in one bash script, in document order (`set -euo pipefail`), so a variable one
  block sets (`PK=...`, `H=(...)`) is there for the blocks after it. A command that fails fails the test.
- The working directory is a fresh temporary directory in which `.venv` points at the project's
  virtualenv, so `.venv/bin/footfall ...` works; `FOOTFALL_DATABASE_URL` is the server's database.
- Substitutions before running: `http://127.0.0.1:8000` and `localhost:8000` become the test
  server's address; the word `PUBLIC` becomes the account's public key; `pk_…` its private key.
- A line `# -> ANSWER` checks the output of what ran since the previous check (or the block's start):
  its last non-empty line, trimmed, must equal ANSWER, where `…` stands for any text. A command whose
  output is not checked may print anything.
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
_FENCE = re.compile(r"^```(\S*)\s*$")
_CHECK = re.compile(r"#\s*->\s*(.*?)\s*$")
_MARK = "@@footfall-readme-check {}@@"


@dataclass(frozen=True)
class Check:
    block: int  # 1-based number of the sh block
    line: int  # line in README.md
    answer: str


def sh_blocks(text: str) -> list[tuple[int, list[str]]]:
    """(first README line number, lines) of each ```sh block, in order."""
    blocks: list[tuple[int, list[str]]] = []
    inside: str | None = None
    current: list[str] = []
    start = 0
    for number, line in enumerate(text.splitlines(), 1):
        fence = _FENCE.match(line)
        if fence and inside is None:
            inside, current, start = fence.group(1), [], number + 1
        elif line.strip() == "```" and inside is not None:
            if inside == "sh":
                blocks.append((start, current))
            inside = None
        elif inside is not None:
            current.append(line)
    return blocks


def script_of(blocks: list[tuple[int, list[str]]]) -> tuple[str, list[Check]]:
    """One bash script of every block, with a marker printed at each check."""
    lines = ["set -euo pipefail"]
    checks: list[Check] = []
    for number, (start, body) in enumerate(blocks, 1):
        lines.append(f"printf '\\n{_MARK.format('b' + str(number))}\\n'")
        for offset, line in enumerate(body):
            lines.append(line)
            found = _CHECK.search(line)
            if found:
                checks.append(Check(number, start + offset, found.group(1)))
                lines.append(f"printf '\\n{_MARK.format(len(checks) - 1)}\\n'")
    return "\n".join(lines) + "\n", checks


def substitute(text: str, base_url: str, public_key: str, private_key: str) -> str:
    text = text.replace("http://127.0.0.1:8000", base_url).replace("localhost:8000", base_url.split("//", 1)[1])
    text = text.replace("pk_…", private_key)
    return re.sub(r"\bPUBLIC\b", public_key, text)


def matches(answer: str, output: str) -> bool:
    pattern = ".*".join(re.escape(part) for part in answer.split("…"))
    return re.fullmatch(pattern, output, flags=re.DOTALL) is not None


def outputs_by_check(stdout: str, count: int) -> list[str]:
    """The last non-empty line printed before each check's marker."""
    out: list[str] = []
    pending: list[str] = []
    for line in stdout.splitlines():
        marker = re.fullmatch(r"@@footfall-readme-check (b?\d+)@@", line.strip())
        if marker is None:
            if line.strip():
                pending.append(line.strip())
            continue
        if not marker.group(1).startswith("b"):
            out.append(pending[-1] if pending else "")
        pending = []
    return out + [""] * (count - len(out))


def test_the_rules_find_blocks_and_checks():
    """The extraction itself: only ```sh blocks, checks at `# ->`, substitutions as documented."""
    sample = "\n".join([
        "```sh", "curl -s http://127.0.0.1:8000/x -d 'token=PUBLIC'", "# -> 1", "```",
        "```text", "make serve", "```",
        "```json", '{"a": 1}', "```",
        "```sh", "PK=pk_…", "echo $PK   # -> pk_…", "```",
    ])
    blocks = sh_blocks(sample)
    assert [b[0] for b in blocks] == [2, 12]
    script, checks = script_of(blocks)
    assert "make serve" not in script and '"a": 1' not in script
    assert [c.answer for c in checks] == ["1", "pk_…"]
    assert substitute("curl http://127.0.0.1:8000 PUBLIC PUBLICX pk_…", "http://h:1", "AbC123", "pk_k") == \
        "curl http://h:1 AbC123 PUBLICX pk_k"
    assert matches('{"status":1,"profile_id":"01…","warnings":[]}', '{"status":1,"profile_id":"01ABC","warnings":[]}')
    assert not matches("1", "0")


def test_every_sh_block_of_the_readme_runs_and_answers_as_documented(server, account, database_url, tmp_path):
    text = substitute(README.read_text(), server.url, account.public_key, account.private_key)
    blocks = sh_blocks(text)
    assert blocks, "README.md has no ```sh blocks"
    script, checks = script_of(blocks)
    assert checks, "README.md documents no answers (# -> …)"
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    (tmp_path / "readme.sh").write_text(script)
    env = {**os.environ, "FOOTFALL_DATABASE_URL": database_url}
    run = subprocess.run(["bash", "readme.sh"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=180)
    stdout = run.stdout
    reached = [m for m in re.findall(r"@@footfall-readme-check b(\d+)@@", stdout)]
    if run.returncode != 0:
        block = int(reached[-1]) if reached else 1
        pytest.fail(f"README sh block {block} (line {blocks[block - 1][0]}) failed with exit status "
                    f"{run.returncode}:\n--- stderr\n{run.stderr[-3000:]}\n--- stdout\n{stdout[-3000:]}")
    got = outputs_by_check(stdout, len(checks))
    wrong = [f"README line {c.line} (sh block {c.block}): documented {c.answer!r}, got {g!r}"
             for c, g in zip(checks, got) if not matches(c.answer, g)]
    assert not wrong, "\n".join(wrong) + f"\n--- stderr\n{run.stderr[-2000:]}"


def _config_table(text: str) -> list[str]:
    """The rows of the table under '## Configuration', which must be one unbroken table."""
    section = text.split("\n## Configuration", 1)[1].split("\n## ", 1)[0]
    lines = section.splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith("| variable"))
    rows = []
    for line in lines[first + 2:]:
        if not line.startswith("|"):
            break
        rows.append(line)
    rest = "\n".join(lines[first + 2 + len(rows):])
    assert "| `FOOTFALL_" not in rest, "the configuration table is split: rows after a non-table line"
    return rows


def test_the_configuration_table_is_one_table_naming_every_setting():
    text = README.read_text()
    rows = "\n".join(_config_table(text))
    source = (ROOT / "footfall" / "config.py").read_text()
    names = sorted(set(re.findall(r'"(FOOTFALL_[A-Z0-9_]+)"', source)))
    assert names
    missing = [n for n in names if n not in rows and not _abbreviated(n, rows)]
    assert not missing, f"settings read in footfall/config.py but not in README's configuration table: {missing}"


def _abbreviated(name: str, rows: str) -> bool:
    """`FOOTFALL_X_BURST_WINDOW` / `_STEADY_WINDOW` in one row: the second written by its suffix."""
    return any(f"`{name[len(prefix):]}`" in rows for prefix in
               [name[:i] for i, ch in enumerate(name) if ch == "_"] if prefix.startswith("FOOTFALL_") and prefix in rows)
