"""Accounts: create, list, find, rename, delete. Their keys live in store/keys.py (KeyGrant and
by_private_key are re-exported here for the callers that look a key up with an account)."""

from __future__ import annotations

from dataclasses import dataclass

from footfall import clock, ids
from footfall.domain.scopes import ALL_SCOPES
from footfall.store import keys
from footfall.store.conn import Conn
from footfall.store.keys import KeyGrant, by_private_key, by_write_key  # noqa: F401  (re-exported)
from footfall.domain.limits import TIMEZONE_CHARS


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


def create_account(conn: Conn, name: str, scopes: tuple[str, ...] = ALL_SCOPES, timezone: str = "UTC") -> NewAccount:
    check_timezone(timezone)
    conn.begin()
    try:
        if conn.one("SELECT 1 FROM accounts WHERE name = ?", (name,)):
            raise ValueError(f"an account named {name!r} already exists")
        account = Account(ids.new_ulid(), name, _free_public_key(conn), clock.now())
        conn.execute(
            "INSERT INTO accounts (id, name, public_key, created, timezone) VALUES (?, ?, ?, ?, ?)",
            (account.id, account.name, account.public_key, account.created, timezone),
        )
        private_key = keys.insert_key(conn, account.id, "default", scopes).secret
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return NewAccount(account, private_key)


def create_key(conn: Conn, account_id: str, label: str, scopes: tuple[str, ...]) -> str:
    """A new private key's secret (see keys.create_key for the full record and write keys)."""
    return keys.create_key(conn, account_id, label, scopes).secret


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


def by_name_or_public_key(conn: Conn, key_or_name: str) -> Account | None:
    """The account whose public key or name this is (the CLI's --account)."""
    row = conn.one("SELECT id, name, public_key, created FROM accounts WHERE public_key = ? OR name = ? "
                   "ORDER BY public_key = ? DESC", (key_or_name, key_or_name, key_or_name))
    conn.rollback()
    return Account(*row) if row else None


def rename_account(conn: Conn, account_id: str, new_name: str) -> Account:
    """Give an account another name (names are unique; ValueError if taken or empty)."""
    if not new_name.strip():
        raise ValueError("an account name cannot be empty")
    conn.begin()
    try:
        if conn.one("SELECT 1 FROM accounts WHERE name = ? AND id <> ?", (new_name, account_id)):
            raise ValueError(f"an account named {new_name!r} already exists")
        conn.execute("UPDATE accounts SET name = ? WHERE id = ?", (new_name, account_id))
        row = conn.one("SELECT id, name, public_key, created FROM accounts WHERE id = ?", (account_id,))
        if row is None:
            raise LookupError(f"no account {account_id!r}")
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return Account(*row)


def check_timezone(zone: str) -> str:
    """An IANA time zone name (e.g. Europe/Paris, UTC), or ValueError saying what is wrong."""
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    if not zone or len(zone) > TIMEZONE_CHARS or zone != zone.strip() or "\x00" in zone or zone.startswith(("/", ".")):
        raise ValueError(f"{zone[:TIMEZONE_CHARS]!r} is not a time zone: use an IANA name such as Europe/Paris or UTC")
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {zone[:64]!r}: use an IANA name such as Europe/Paris or UTC") from None
    return zone


def timezone_of(conn: Conn, account_id: str) -> str:
    """The account's time zone: where its console's days begin and its charts' picker starts."""
    row = conn.one("SELECT timezone FROM accounts WHERE id = ?", (account_id,))
    return row[0] if row else "UTC"


def set_timezone(conn: Conn, account_id: str, zone: str) -> None:
    check_timezone(zone)
    conn.begin()
    try:
        cur = conn.execute("UPDATE accounts SET timezone = ? WHERE id = ?", (zone, account_id))
        if conn.rowcount(cur) != 1:
            raise LookupError(f"no account {account_id!r}")
        conn.commit()
    except BaseException:
        conn.rollback()
        raise


def delete_account(conn: Conn, account_id: str) -> dict[str, int]:
    """Delete an account and everything it owns, in one transaction: every table with an account_id
    column (so tables added later are covered too). Returns the rows deleted per table."""
    from footfall.store import schema

    deleted: dict[str, int] = {}
    conn.begin()
    try:
        for table in reversed(schema.metadata.sorted_tables):
            if "account_id" in table.c and table.name != "accounts":
                deleted[table.name] = conn.execute(f"DELETE FROM {table.name} WHERE account_id = ?",
                                                   (account_id,)).rowcount
        deleted["accounts"] = conn.execute("DELETE FROM accounts WHERE id = ?", (account_id,)).rowcount
        if not deleted["accounts"]:
            raise LookupError(f"no account {account_id!r}")
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return deleted


def public_key_of(conn: Conn, account_id: str) -> str | None:
    """The account's public key (exchange ids end with it)."""
    row = conn.one("SELECT public_key FROM accounts WHERE id = ?", (account_id,))
    conn.rollback()
    return row[0] if row else None
