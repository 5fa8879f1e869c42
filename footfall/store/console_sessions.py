"""Console sessions: created at sign-in, looked up on every console request, deleted at sign-out.

A session carries no scopes of its own: each lookup joins the private key it was opened with, so a
revoked key ends its sessions at once, on every worker, and scopes always are the key's.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from footfall import clock, ids
from footfall.store import keys
from footfall.store.conn import Conn

LIFETIME_SECONDS = 12 * 3600


@dataclass(frozen=True)
class Session:
    account_id: str
    account_name: str
    session_hash: str
    csrf: str
    scopes: tuple[str, ...]


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def open_session(conn: Conn, private_key: str) -> tuple[str, str] | None:
    """(account id, cookie secret) for a valid private key; None for a key that is not one of ours."""
    grant = keys.by_private_key(conn, private_key)  # live private keys only (not revoked, not a write key)
    if grant is None:
        return None
    key_hash = ids.hash_key(private_key)
    row = (grant.account_id,)
    secret = secrets.token_urlsafe(32)
    now = clock.now()
    conn.begin()
    try:
        conn.execute("DELETE FROM console_sessions WHERE account_id = ? AND expires < ?", (row[0], now))
        conn.execute(
            "INSERT INTO console_sessions (account_id, id, key_hash, csrf, created, expires) VALUES (?, ?, ?, ?, ?, ?)",
            (row[0], _digest(secret), key_hash, secrets.token_urlsafe(32), now, now + LIFETIME_SECONDS),
        )
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
    return row[0], secret


def find_session(conn: Conn, account_id: str, secret: str) -> Session | None:
    """The live session of this cookie, with its key's current scopes; None if ended, expired or revoked."""
    digest = _digest(secret)
    row = conn.one(
        "SELECT s.csrf, k.scopes, a.name FROM console_sessions s "
        "JOIN api_keys k ON k.account_id = s.account_id AND k.key_hash = s.key_hash "
        "AND k.revoked IS NULL AND k.kind = 'private' "
        "JOIN accounts a ON a.id = s.account_id "
        "WHERE s.account_id = ? AND s.id = ? AND s.expires > ?",
        (account_id, digest, clock.now()),
    )
    conn.rollback()
    if row is None:
        return None
    return Session(account_id, row[2], digest, row[0], tuple(conn.from_json(row[1])))


def end_session(conn: Conn, account_id: str, session_hash: str) -> None:
    conn.begin()
    try:
        conn.execute("DELETE FROM console_sessions WHERE account_id = ? AND id = ?", (account_id, session_hash))
        conn.commit()
    except BaseException:
        conn.rollback()
        raise
