"""Identifiers: ULIDs for profiles and events, short ids for metrics, keys for accounts."""

from __future__ import annotations

import hashlib
import os
import secrets
import string
import time

_ALNUM = string.ascii_letters + string.digits
_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_PAIRS = [a + b for a in _CROCKFORD for b in _CROCKFORD]  # every 10-bit value as two characters
_TIME_SHIFTS = (40, 30, 20, 10, 0)  # 48 bits of milliseconds in 5 pairs (50 bits, the top 2 zero)
# A random byte's low 5 bits as a Crockford character: 256 is a multiple of 32, so a uniform byte gives
# a uniform character (5 random bits of each byte are used, the other 3 dropped).
_BYTE_TO_CROCKFORD = bytes(_CROCKFORD[b & 31].encode()[0] for b in range(256))


def new_ulid() -> str:
    """A ULID: 48-bit milliseconds + 80 random bits as 26 Crockford base32 characters (the top 2 of
    130 bits zero): 10 characters of time, 10 bits at a time, then 16 random ones (new_ulids)."""
    ms = time.time_ns() // 1_000_000
    return "".join([_PAIRS[(ms >> shift) & 1023] for shift in _TIME_SHIFTS]) + os.urandom(16).translate(
        _BYTE_TO_CROCKFORD).decode()


def new_ulids(n: int) -> list[str]:
    """n ULIDs of this millisecond, as new_ulid makes them (48 bits of time, 80 random), for the events
    of one request: the 10 characters of the time are written once, and each one's 16 random
    characters are 16 random bytes mapped by one bytes.translate for all (~0.3 µs each, not ~3)."""
    ms = time.time_ns() // 1_000_000
    prefix = "".join([_PAIRS[(ms >> shift) & 1023] for shift in _TIME_SHIFTS])
    chars = os.urandom(16 * n).translate(_BYTE_TO_CROCKFORD).decode()
    return [prefix + chars[i:i + 16] for i in range(0, 16 * n, 16)]


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


def new_exchange_id(public_key: str) -> str:
    """An exchange id, `<token>.<public key>` as Klaviyo's: 144 random bits, URL-safe, so it cannot
    be guessed or derived from the profile; what it names is kept in profile_identifiers."""
    return f"{secrets.token_urlsafe(18)}.{public_key}"
