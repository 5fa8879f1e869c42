"""Where a webhook may send: https to public addresses, unless FOOTFALL_WEBHOOK_ALLOW names the host.

The check is made on the addresses the name resolves to at connect time, and the connection is made
to the address checked (the name goes in Host and TLS SNI), so a name that resolves to a public
address when the webhook is saved and to 10.0.0.5 a minute later (DNS rebinding) is still refused.
FOOTFALL_WEBHOOK_ALLOW: comma-separated host names and CIDR networks (`127.0.0.1,10.0.0.0/8`); an
allowed destination may also be plain http (tests deliver to loopback).
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from dataclasses import dataclass, field
from urllib.parse import urlsplit
from footfall.refusals import DestinationRefused as Refused

Address = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@dataclass(frozen=True)
class Allow:
    hosts: frozenset[str] = frozenset()
    networks: tuple[Network, ...] = field(default_factory=tuple)

    def host_allowed(self, host: str) -> bool:
        return host.lower() in self.hosts

    def address_allowed(self, address: Address) -> bool:
        return any(address in net for net in self.networks)


def parse_allow(text: str) -> Allow:
    hosts, networks = set(), []
    for part in (p.strip() for p in text.split(",")):
        if not part:
            continue
        try:
            networks.append(ipaddress.ip_network(part, strict=False))
        except ValueError:
            if not part.replace("-", "").replace(".", "").isalnum():
                raise ValueError(f"FOOTFALL_WEBHOOK_ALLOW: {part!r} is neither a host name nor a CIDR network") from None
            hosts.add(part.lower())
    return Allow(frozenset(hosts), tuple(networks))


def is_public(address: Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return not (address.is_private or address.is_loopback or address.is_link_local or address.is_multicast
                or address.is_reserved or address.is_unspecified or not address.is_global)


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # with the query


def check_url(url: str, allow: Allow) -> Target:
    """The parts of an endpoint URL, or Refused saying what is wrong with it (no resolution here)."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise Refused(f"{url!r} is not a URL ({exc})") from None
    scheme = parts.scheme.lower()
    host = (parts.hostname or "").lower()
    if scheme not in ("https", "http") or not host:
        raise Refused("endpoint_url must be an https:// URL with a host")
    if parts.username or parts.password:
        raise Refused("endpoint_url must not carry a user name or password")
    if scheme == "http" and not _plain_allowed(host, allow):
        raise Refused("endpoint_url must use https (plain http only for hosts FOOTFALL_WEBHOOK_ALLOW names)")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(scheme, host, port or (443 if scheme == "https" else 80), path)


def _plain_allowed(host: str, allow: Allow) -> bool:
    if allow.host_allowed(host):
        return True
    try:
        return allow.address_allowed(ipaddress.ip_address(host.strip("[]")))
    except ValueError:
        return False


async def resolve(target: Target, allow: Allow) -> Address:
    """An address of target.host that may be connected to, or Refused."""
    try:
        literal = ipaddress.ip_address(target.host.strip("[]"))
        candidates: list[Address] = [literal]
    except ValueError:
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise Refused(f"{target.host} does not resolve ({exc})") from None
        candidates = list(dict.fromkeys(ipaddress.ip_address(info[4][0].split("%")[0]) for info in infos))
    named = allow.host_allowed(target.host)
    for address in candidates:
        if named or allow.address_allowed(address) or is_public(address):
            return address
    raise Refused(f"{target.host} resolves to {', '.join(map(str, candidates))}: private, loopback or link-local "
                  "addresses are refused unless FOOTFALL_WEBHOOK_ALLOW names them")


def host_header(target: Target) -> str:
    default = 443 if target.scheme == "https" else 80
    return target.host if target.port == default else f"{target.host}:{target.port}"
