"""The connection wrapper's shortcuts for the writer (store/db.py): JSON as text, writes on a shared
cursor, writes held back to go as one statement. Each must leave what is stored and read unchanged."""

from __future__ import annotations

import time

import pytest

from footfall.store import db

_INSERT_COUNTER = "INSERT INTO counters (account_id, name, value) VALUES (?, ?, ?)"
_COUNT = "SELECT COUNT(*), COALESCE(SUM(value), 0) FROM counters WHERE account_id = ?"


@pytest.fixture
def conn(database_url, account):  # the account first: SQLite's write lock is taken by begin()
    c = db.connect(database_url)
    c.begin()
    yield c
    c.rollback()
    c.close()


def test_json_sent_as_text_reads_back_as_the_same_value(conn, account):
    value = {"n": 1.5, "big": 2**70, "neg": -0.25, "s": "é \" \\ ✓", "list": [1, None, True, {"x": []}], "e": {}}
    conn.run("INSERT INTO profiles (account_id, id, location, properties, consent, created, updated) "
             "VALUES (?, ?, ?, ?, ?, ?, ?)", (account.id, "P1", conn.to_json({}), conn.to_json(value),
                                              conn.to_json({"email": {"consent": "SUBSCRIBED"}}), 0, 0))
    (properties, consent) = conn.one("SELECT properties, consent FROM profiles WHERE account_id = ?", (account.id,))
    assert conn.from_json(properties) == value
    assert conn.from_json(consent) == {"email": {"consent": "SUBSCRIBED"}}
    if conn.dialect == "postgresql":  # stored as jsonb, not as a JSON string
        assert conn.one("SELECT jsonb_typeof(properties) FROM profiles WHERE account_id = ?", (account.id,)) == (
            "object",)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)  # pipeline mode is PostgreSQL's
def test_a_read_after_writes_in_pipeline_mode_gets_its_own_result(conn, account):
    """Writes share one cursor whose results nobody reads; a read must never be handed one of them,
    even one that arrives while the read is being sent (a result too large to wait in the server's
    buffer is sent at once)."""
    with conn.pipeline():
        for i in range(3):
            conn.run(_INSERT_COUNTER, (account.id, f"c{i}", i + 1))
        conn.run("SELECT repeat('x', 100000)")
        time.sleep(0.1)
        assert conn.one(_COUNT, (account.id,)) == (3, 6)
        conn.executemany(_INSERT_COUNTER, [(account.id, "c3", 4)])
        assert conn.all(_COUNT, (account.id,)) == [(4, 10)]


def test_held_writes_are_sent_before_any_other_statement_and_at_the_end(conn, account):
    with conn.holding():
        conn.hold(_INSERT_COUNTER, (account.id, "a", 1))
        conn.hold(_INSERT_COUNTER, (account.id, "b", 2))
        assert conn.one(_COUNT, (account.id,)) == (2, 3)  # a read sees them
        conn.hold(_INSERT_COUNTER, (account.id, "c", 4))
        conn.run("UPDATE counters SET value = value * 10 WHERE account_id = ? AND name = ?", (account.id, "c"))
        conn.hold(_INSERT_COUNTER, (account.id, "d", 8))
        conn.hold(_INSERT_COUNTER, (account.id, "e", 16))
    assert conn.one(_COUNT, (account.id,)) == (5, 1 + 2 + 40 + 8 + 16)


def _sent_statements(conn, monkeypatch) -> list[str]:
    """The texts of the statements conn sends from now on (Conn.sql), in order."""
    sent: list[str] = []
    sql = conn.sql
    monkeypatch.setattr(conn, "sql", lambda text: sent.append(text) or sql(text))
    return sent


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)  # SQLite runs a held write at once
def test_held_writes_go_as_one_statement_and_not_at_all_if_the_block_raises(conn, account, monkeypatch):
    sent = _sent_statements(conn, monkeypatch)
    with conn.holding():
        for name in "abc":
            conn.hold(_INSERT_COUNTER, (account.id, name, 1))
    assert len(sent) == 1 and sent[0].startswith("WITH h0 AS (INSERT")
    with pytest.raises(RuntimeError), conn.holding():
        conn.hold(_INSERT_COUNTER, (account.id, "never", 1))
        raise RuntimeError("the op fails before its end")
    assert len(sent) == 1 and conn.one(_COUNT, (account.id,)) == (3, 3)


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)  # SQLite runs a held write at once
def test_a_nested_holding_block_leaves_its_writes_to_the_outer_one(conn, account, monkeypatch):
    sent = _sent_statements(conn, monkeypatch)
    with conn.holding():
        conn.hold(_INSERT_COUNTER, (account.id, "outer", 1))
        with conn.holding():
            conn.hold(_INSERT_COUNTER, (account.id, "inner", 2))
        assert sent == []  # the inner block's end sent nothing
        conn.hold(_INSERT_COUNTER, (account.id, "last", 4))
    assert len(sent) == 1 and sent[0].startswith("WITH h0 AS (INSERT")
    assert conn.one(_COUNT, (account.id,)) == (3, 7)
    conn.hold(_INSERT_COUNTER, (account.id, "after", 8))  # outside any block: at once
    assert len(sent) == 3 and conn.one(_COUNT, (account.id,)) == (4, 15)
