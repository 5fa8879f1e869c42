"""Rules for what Klaviyo's onsite script (and Footfall's drop-in, footfall/web/onsite/) sends.

The metric alias of `__activity__` and `__track_once__` are event rules (domain/events.py); here:
`$use_ip` and the shape of exchange ids.
"""

from __future__ import annotations

import re
from typing import Any

from footfall.domain.models import ProfilePatch

USE_IP = "$use_ip"
# What Klaviyo's script accepts as an exchange id (`_kx` in links, `$exchange_id` in its cookie): a
# URL-safe token, a dot, the account's public key.
EXCHANGE_ID = re.compile(r"^[\w\-=]+\.(\w+)$")


def locate_by_ip(patch: ProfilePatch, properties: dict[str, Any], client_ip: str | None) -> None:
    """`$use_ip: true` on an event (the onsite script sets it on every one): the profile's
    location.ip becomes the address the request came from, unless the request names one itself."""
    if client_ip and properties.get(USE_IP) is True and "ip" not in patch.location:
        patch.location["ip"] = client_ip


def exchange_suffix(value: str) -> str | None:
    """The public key an exchange id is for, or None if it is not of Klaviyo's shape."""
    match = EXCHANGE_ID.match(value)
    return match.group(1) if match else None
