"""API keys: create, list, revoke, rotate, and look a key up by its secret.

Two kinds, one table (api_keys):
- `private`: the `Authorization: Klaviyo-API-Key pk_…` key of the /api routes, with scopes.
- `write`: a per-account *source* key for the Segment and PostHog wires (the Basic-auth user, the
  `writeKey`, the `api_key` there). It only identifies an account and a source; it is never accepted
  as a private key, and a private key is never accepted as a write key.

Secrets are stored as their SHA-256 (ids.hash_key) and shown once, when made. A revoked key keeps its
row (revoked = when), so listings and audits still see it; lookups never return it.
`last_used` is written at most once per LAST_USED_PRECISION_SECONDS per key (touch_last_used), not
once per request.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Literal

from footfall import clock, ids
from footfall.domain.scopes import ALL_SCOPES
from footfall.store.conn import Conn
from footfall.failures import KeyNotFound
from footfall.domain.limits import KEY_SECRET_CHARS

KeyKind = Literal["private", "write"]
KINDS: tuple[str, ...] = ("private", "write")
# A write key feeds events and profiles in; it reads nothing.
WRITE_KEY_SCOPES: tuple[str, ...] = ("events:write", "profiles:write")
LAST_USED_PRECISION_SECONDS = 60.0
_COLUMNS = "id, account_id, name, kind, scopes, prefix, created, last_used, revoked"


@dataclass(frozen=True)
class KeyGrant:
    """What a live key lets its caller do: which account, which scopes, and which key (for last_used)."""
    account_id: str
    scopes: tuple[str, ...]
    key_id: str = ""
    kind: str = "private"
    name: str = ""
    last_used: float | None = None


@dataclass(frozen=True)
class KeyInfo:
    """A key as listings show it: never its secret."""
    id: str
    account_id: str
    name: str
    kind: str
    scopes: tuple[str, ...]
    prefix: str
    created: float
    last_used: float | None
    revoked: float | None

    def as_listed(self) -> dict:
        """The shape of `footfall keys list --json`: {id, name, kind, scopes, prefix, created, last_used}."""
        return {"id": self.id, "name": self.name, "kind": self.kind, "scopes": list(self.scopes),
                "prefix": self.prefix, "created": self.created, "last_used": self.last_used}


@dataclass(frozen=True)
class NewKey:
    """A key just made: its listing and its secret, which is shown this once and never again."""
    info: KeyInfo
    secret: str

    def as_created(self) -> dict:
        """The shape of `footfall keys create --json`: {id, name, kind, scopes, key}."""
        return {"id": self.info.id, "name": self.info.name, "kind": self.info.kind,
                "scopes": list(self.info.scopes), "key": self.secret}


def new_secret(kind: str) -> str:
    """pk_ + 34 hex characters for private keys (as Klaviyo's), wk_ + 32 for write keys."""
    return ids.new_private_key() if kind == "private" else "wk_" + secrets.token_hex(16)


def default_scopes(kind: str) -> tuple[str, ...]:
    return ALL_SCOPES if kind == "private" else WRITE_KEY_SCOPES


def create_key(conn: Conn, account_id: str, name: str, scopes: tuple[str, ...] | None = None,
               kind: str = "private") -> NewKey:
    """Make a key for an account (its own transaction); scopes default to the kind's defaults."""
    conn.begin()
    try:
        made = insert_key(conn, account_id, name, default_scopes(kind) if scopes is None else scopes, kind)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return made


def insert_key(conn: Conn, account_id: str, name: str, scopes: tuple[str, ...], kind: str = "private") -> NewKey:
    """Insert a key inside the caller's transaction."""
    if kind not in KINDS:
        raise ValueError(f"unknown key kind {kind!r}: use private or write")
    secret = new_secret(kind)
    info = KeyInfo(ids.new_ulid(), account_id, name, kind, tuple(scopes), secret[:7], clock.now(), None, None)
    conn.execute(
        "INSERT INTO api_keys (account_id, id, key_hash, prefix, name, kind, scopes, created) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (account_id, info.id, ids.hash_key(secret), info.prefix, name, kind, conn.to_json(list(scopes)), info.created),
    )
    return NewKey(info, secret)


def list_keys(conn: Conn, account_id: str, *, include_revoked: bool = False) -> list[KeyInfo]:
    """An account's keys, oldest first; revoked ones only when asked."""
    where = "" if include_revoked else " AND revoked IS NULL"
    rows = conn.all(f"SELECT {_COLUMNS} FROM api_keys WHERE account_id = ?{where} ORDER BY created, id", (account_id,))
    conn.rollback()
    return [_info(conn, row) for row in rows]


def get_key(conn: Conn, account_id: str, key_id: str) -> KeyInfo | None:
    row = conn.one(f"SELECT {_COLUMNS} FROM api_keys WHERE account_id = ? AND id = ?", (account_id, key_id))
    conn.rollback()
    return _info(conn, row) if row else None


def revoke_key(conn: Conn, account_id: str, key_id: str) -> KeyInfo:
    """Revoke a live key of this account (KeyNotFound otherwise). Servers stop accepting it within
    a second (api/app_state.py caches lookups for less than that)."""
    conn.begin()
    try:
        revoked = _revoke(conn, account_id, key_id)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return revoked


def rotate_key(conn: Conn, account_id: str, key_id: str) -> NewKey:
    """Replace a live key by a new one with the same name, kind and scopes, and revoke the old one,
    in one transaction (the new secret is shown once)."""
    conn.begin()
    try:
        old = _revoke(conn, account_id, key_id)
        made = insert_key(conn, account_id, old.name, old.scopes, old.kind)
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return made


def _revoke(conn: Conn, account_id: str, key_id: str) -> KeyInfo:
    row = conn.one(f"SELECT {_COLUMNS} FROM api_keys WHERE account_id = ? AND id = ? AND revoked IS NULL",
                   (account_id, key_id))
    if row is None:
        raise KeyNotFound(f"no live key {key_id!r} in this account")
    now = clock.now()
    conn.execute("UPDATE api_keys SET revoked = ? WHERE account_id = ? AND id = ?", (now, account_id, key_id))
    info = _info(conn, row)
    return KeyInfo(**{**info.__dict__, "revoked": now})


def by_private_key(conn: Conn, secret: str) -> KeyGrant | None:
    """The grant of a live private key, or None (unknown, revoked, or a write key)."""
    return _lookup(conn, secret, "private")


def by_write_key(conn: Conn, secret: str) -> KeyGrant | None:
    """The account behind a live write key (the Segment / PostHog source key), or None (unknown,
    revoked, or a private key). The grant's key_id names the source; its account_id is the account.
    Servers should call Services.grant_for_write_key, which caches this briefly."""
    return _lookup(conn, secret, "write")


def _lookup(conn: Conn, secret: str, kind: str) -> KeyGrant | None:
    if not (secret.isascii() and secret.isprintable()) or len(secret) > KEY_SECRET_CHARS:
        return None  # not a key we issue; PostgreSQL cannot even compare a NUL byte
    row = conn.one("SELECT account_id, scopes, id, kind, name, last_used FROM api_keys "
                   "WHERE key_hash = ? AND revoked IS NULL", (ids.hash_key(secret),))
    conn.rollback()
    if row is None or row[3] != kind:
        return None
    return KeyGrant(row[0], tuple(conn.from_json(row[1])), row[2], row[3], row[4], row[5])


def touch_last_used(conn: Conn, used: dict[tuple[str, str], float]) -> None:
    """Record when keys were last used: {(account_id, key_id): time}. Called from a periodic flush,
    one small transaction for all of them; a later time never goes backwards."""
    if not used:
        return
    conn.begin()
    try:
        for (account_id, key_id), when in used.items():
            conn.execute("UPDATE api_keys SET last_used = ? WHERE account_id = ? AND id = ? "
                         "AND (last_used IS NULL OR last_used < ?)", (when, account_id, key_id, when))
        conn.commit()
    except BaseException:
        conn.rollback()
        raise


def _info(conn: Conn, row) -> KeyInfo:
    key_id, account_id, name, kind, scopes, prefix, created, last_used, revoked = row
    return KeyInfo(key_id, account_id, name, kind, tuple(conn.from_json(scopes)), prefix, created, last_used, revoked)
