"""Every user mistake on the command line: one line on stderr, a non-zero exit code, no traceback, and
nothing created (a mistyped database URL never becomes an empty SQLite file)."""

from __future__ import annotations

import os
import re
import subprocess
import uuid

import pytest

from footfall import cli
from tests.conftest import PG_ADMIN
from tests.test_cli import FOOTFALL

PG_BASE = PG_ADMIN.rsplit("/", 1)[0]


def run(capsys, monkeypatch, argv: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    monkeypatch.delenv("FOOTFALL_DATABASE_URL", raising=False)
    for name, value in (env or {}).items():
        monkeypatch.setenv(name, value)
    code = cli.run(argv)
    captured = capsys.readouterr()
    return code, captured.err


MISTAKES = [
    # (argv, environment, exit code, what the line must say)
    (["serve", "--port", "99999"], {}, 2, "Invalid value for '--port'"),
    (["serve", "--port", "abc"], {}, 2, "Invalid value for '--port'"),
    (["serve", "--workers", "0"], {}, 2, "Invalid value for '--workers'"),
    (["serve"], {"FOOTFALL_PORT": "abc"}, 2, "FOOTFALL_PORT='abc' is not a whole number"),
    (["serve"], {"FOOTFALL_PORT": "70000"}, 2, "FOOTFALL_PORT 70000 is not a port"),
    (["serve"], {"FOOTFALL_ACK_TIMEOUT_SECONDS": "soon"}, 2, "FOOTFALL_ACK_TIMEOUT_SECONDS='soon' is not a number"),
    (["serve"], {"FOOTFALL_RATE_LIMIT_TIERS": "Q=1"}, 2, "FOOTFALL_RATE_LIMIT_TIERS: bad rate limit override"),
    (["accounts", "list", "--database", "notaurl"], {}, 1, "'notaurl' is not a database URL: use sqlite:///PATH"),
    (["accounts", "list", "--database", "mysql://h/db"], {}, 1, "unsupported database URL 'mysql://h/db'"),
    (["accounts", "list", "--database", "sqlite:////missing/dir/x.db"], {}, 1,
     "the directory of SQLite database '/missing/dir/x.db' does not exist: create it (mkdir -p /missing/dir)"),
    (["accounts", "list"], {"FOOTFALL_DATABASE_URL": "sqlite:////missing/x.db"}, 1,
     "FOOTFALL_DATABASE_URL: the directory of SQLite database"),
    (["accounts", "list", "--database", "postgresql://postgres@127.0.0.1:1/x"], {}, 1,
     "cannot reach PostgreSQL at postgresql://postgres@127.0.0.1:1/x"),
    (["keys", "list"], {}, 2, "Missing option '--account'. (see `footfall keys list --help`)"),
    (["keys", "create", "--account", "X", "--kind", "public"], {}, 2, "Invalid value for '--kind'"),
    (["nosuch"], {}, 2, "No such command 'nosuch'"),
]


@pytest.mark.parametrize("argv, env, code, says", MISTAKES, ids=[" ".join(m[0]) + str(m[1]) for m in MISTAKES])
def test_mistake_is_one_line_and_an_exit_code(capsys, monkeypatch, tmp_path, argv, env, code, says):
    monkeypatch.chdir(tmp_path)
    got, err = run(capsys, monkeypatch, argv, env)
    assert (got, err.count("\n")) == (code, 1), err
    assert err.startswith("footfall: error: ") and says in err, err
    assert os.listdir(tmp_path) == []  # nothing created: no stray database file


def test_mistakes_against_a_database(capsys, monkeypatch, tmp_path, own_database):
    cases = [
        (["accounts", "key", "--account", "NOSUCH", "--scopes", "foo:bar", "--database", own_database], 2,
         "--scopes: unknown scope 'foo:bar'"),
        (["keys", "list", "--account", "NOSUCH", "--database", own_database], 1,
         "no account with public key or name 'NOSUCH'"),
        (["export", "events", "--account", "NOSUCH", "-o", str(tmp_path / "missing" / "x"), "--database", own_database],
         1, "the directory"),
        (["export", "events", "--account", "NOSUCH", "-o", str(tmp_path), "--database", own_database], 1, "is a directory"),
        (["accounts", "delete", "NOSUCH", "--yes", "--database", own_database], 1, "no account with public key or name"),
    ]
    for argv, code, says in cases:
        got, err = run(capsys, monkeypatch, argv)
        assert (got, err.count("\n")) == (code, 1) and says in err, (argv, err)


def test_a_missing_postgresql_database_says_how_to_create_it(capsys, monkeypatch):
    name = f"footfall_missing_{uuid.uuid4().hex[:8]}"
    got, err = run(capsys, monkeypatch, ["accounts", "list", "--database", f"{PG_BASE}/{name}"])
    if "cannot reach PostgreSQL" in err:
        pytest.skip("PostgreSQL unavailable")
    assert got == 1 and f"PostgreSQL database {name!r} does not exist" in err and f"createdb {name}" in err


def test_real_command_version_help_and_a_port_out_of_range(tmp_path):
    version = subprocess.run([FOOTFALL, "--version"], capture_output=True, text=True, timeout=60)
    assert version.returncode == 0 and re.fullmatch(r"footfall \d+\.\d+\.\d+\S*\n", version.stdout)
    helped = subprocess.run([FOOTFALL, "keys", "create", "--help"], capture_output=True, text=True, timeout=60)
    assert helped.returncode == 0 and "Example: footfall keys create" in helped.stdout
    bad = subprocess.run([FOOTFALL, "serve", "--port", "99999", "--database", f"sqlite:///{tmp_path}/x.db"],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "Traceback" not in bad.stderr
    typo = subprocess.run([FOOTFALL, "accounts", "list", "--database", "notaurl"], capture_output=True, text=True,
                          timeout=60, cwd=tmp_path)
    assert typo.returncode == 1 and typo.stderr.count("\n") == 1 and os.listdir(tmp_path) == []
