"""Accounts and their keys. Private keys are stored hashed and returned once, at creation."""

from __future__ import annotations

from dataclasses import dataclass

from footfall import clock, ids
from footfall.domain.scopes import ALL_SCOPES
from footfall.store.db import Conn


@dataclass(frozen=True)
class Account:
    id: str
    name: str
    public_key: str
    created: float


@dataclass(frozen=True)
class NewAccount:
    account: Account
    private_key: str


@dataclass(frozen=True)
class KeyGrant:
    account_id: str
    scopes: tuple[str, ...]


def create_account(conn: Conn, name: str, scopes: tuple[str, ...] = ALL_SCOPES) -> NewAccount:
    conn.begin()
    try:
        if conn.one("SELECT 1 FROM accounts WHERE name = ?", (name,)):
            raise ValueError(f"an account named {name!r} already exists")
        account = Account(ids.new_ulid(), name, _free_public_key(conn), clock.now())
        conn.execute(
            "INSERT INTO accounts (id, name, public_key, created) VALUES (?, ?, ?, ?)",
            (account.id, account.name, account.public_key, account.created),
        )
        private_key = _insert_key(conn, account.id, "default", scopes)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return NewAccount(account, private_key)


def create_key(conn: Conn, account_id: str, label: str, scopes: tuple[str, ...]) -> str:
    conn.begin()
    try:
        key = _insert_key(conn, account_id, label, scopes)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return key


def _insert_key(conn: Conn, account_id: str, label: str, scopes: tuple[str, ...]) -> str:
    key = ids.new_private_key()
    conn.execute(
        "INSERT INTO api_keys (account_id, id, key_hash, prefix, label, scopes, created) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)",
        (account_id, ids.new_ulid(), ids.hash_key(key), key[:7], label, conn.to_json(list(scopes)), clock.now()),
    )
    return key


def _free_public_key(conn: Conn) -> str:
    while True:
        key = ids.new_public_key()
        if not conn.one("SELECT 1 FROM accounts WHERE public_key = ?", (key,)):
            return key


def list_accounts(conn: Conn) -> list[Account]:
    rows = conn.all("SELECT id, name, public_key, created FROM accounts ORDER BY created")
    conn.rollback()
    return [Account(*row) for row in rows]


def by_public_key(conn: Conn, public_key: str) -> Account | None:
    if not public_key.isalnum():  # keys are alphanumeric; PostgreSQL cannot even compare a NUL byte
        return None
    row = conn.one("SELECT id, name, public_key, created FROM accounts WHERE public_key = ?", (public_key,))
    conn.rollback()
    return Account(*row) if row else None


def by_private_key(conn: Conn, key: str) -> KeyGrant | None:
    row = conn.one("SELECT account_id, scopes FROM api_keys WHERE key_hash = ?", (ids.hash_key(key),))
    conn.rollback()
    return KeyGrant(row[0], tuple(conn.from_json(row[1]))) if row else None


def public_key_of(conn: Conn, account_id: str) -> str | None:
    """The account's public key (exchange ids end with it)."""
    row = conn.one("SELECT public_key FROM accounts WHERE id = ?", (account_id,))
    conn.rollback()
    return row[0] if row else None
