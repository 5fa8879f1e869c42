"""Identifiers: ULIDs for profiles and events, short ids for metrics, keys for accounts."""

from __future__ import annotations

import hashlib
import secrets
import string

from ulid import ULID

_ALNUM = string.ascii_letters + string.digits


def new_ulid() -> str:
    return str(ULID())


def short_id(length: int = 6) -> str:
    """Klaviyo-style 6-character id for metrics, lists and segments."""
    return "".join(secrets.choice(_ALNUM) for _ in range(length))


def new_public_key() -> str:
    return "".join(secrets.choice(string.ascii_uppercase + string.digits) for _ in range(6))


def new_private_key() -> str:
    return "pk_" + secrets.token_hex(17)


def hash_key(key: str) -> str:
    """Private keys are stored as their SHA-256: they are random, so no salt or KDF is needed."""
    return hashlib.sha256(key.encode()).hexdigest()
