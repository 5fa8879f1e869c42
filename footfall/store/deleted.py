"""Keyed hashes of deleted people's identifiers: the deletion records' HMAC key, and the list
"suppress after delete" (FOOTFALL_SUPPRESS_AFTER_DELETE) checks at ingest.

Only an HMAC-SHA256 of `kind:value` (the normalised identifier) under a per-account secret is kept, never
the identifier: the store alone cannot say who was deleted, but it can tell that a later event names them.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Iterable

from footfall.domain.models import ProfilePatch
from footfall.store.conn import Conn

_SECRET = "deletion-hmac"


def account_secret(conn: Conn, account_id: str) -> bytes:
    """The account's HMAC key for deletion records, made on first use (inside the caller's transaction)."""
    stored = _stored_secret(conn, account_id)
    if stored is not None:
        return stored
    value = secrets.token_hex(32)
    conn.run("INSERT INTO account_secrets (account_id, name, value) VALUES (?, ?, ?)", (account_id, _SECRET, value))
    return bytes.fromhex(value)


def _stored_secret(conn: Conn, account_id: str) -> bytes | None:
    row = conn.one("SELECT value FROM account_secrets WHERE account_id = ? AND name = ?", (account_id, _SECRET))
    return bytes.fromhex(row[0]) if row else None


def identifier_hash(secret: bytes, kind: str, value: str) -> str:
    return hmac.new(secret, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


def remember(conn: Conn, account_id: str, deletion_id: str, identifiers: Iterable[tuple[str, str]]) -> None:
    """Put a deleted person's identifiers on the account's suppress-after-delete list (as hashes)."""
    secret = account_secret(conn, account_id)
    digests = sorted({identifier_hash(secret, kind, value) for kind, value in identifiers if value})
    if not digests:
        return
    conn.executemany(
        "INSERT INTO deleted_identifiers (account_id, identifier_hash, deletion_id) VALUES (?, ?, ?) "
        "ON CONFLICT (account_id, identifier_hash) DO NOTHING",
        [(account_id, d, deletion_id) for d in digests])


def names_deleted(conn: Conn, account_id: str, patch: ProfilePatch) -> bool:
    """Does the patch name an identifier of a person deleted while suppress-after-delete was on?"""
    pairs = [(k, v) for k, v in patch.identifiers.items() if v]
    if not pairs:
        return False
    key = ("deletion-secret", account_id)
    secret = conn.cache.get(key)  # a secret never changes once made; the cache goes on any rollback
    if secret is None:
        secret = _stored_secret(conn, account_id)
        if secret is None:
            return False  # nobody of this account was ever deleted
        conn.cache[key] = secret
    digests = [identifier_hash(secret, k, v) for k, v in pairs]
    marks = ", ".join("?" for _ in digests)
    return conn.one(f"SELECT 1 FROM deleted_identifiers WHERE account_id = ? AND identifier_hash IN ({marks}) "
                    "LIMIT 1", (account_id, *digests)) is not None
