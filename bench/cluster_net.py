"""A bridge and N network namespaces on this machine, each joined to the bridge by a veth pair.

Every namespace gets its own address on a private /24 (the host side holds .1 on the bridge), so a
process inside sees only its own address, the bridge's and the other hosts' — as a separate machine
would. Names and the subnet are chosen per instance, so several clusters (a test run and a person's
`make cluster`) can exist at once. `remove()` undoes everything it made, and is safe to call twice;
what a process killed before its `remove()` left (its namespaces, the processes in them, its links)
is removed by the next `create()`, which finds it by the marker file each network keeps in MARKERS.
Needs root (CAP_NET_ADMIN); `permitted()` says whether it can work here, and why not.
"""

from __future__ import annotations

import ipaddress
import os
import random
import signal
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

MARKERS = Path("/tmp/footfall-cluster-networks")  # <tag>: the pid of the process that made it


class NetUnavailable(RuntimeError):
    """Network namespaces cannot be made here (not root, no `ip`, no netns support)."""


def _ip(*args: str, ns: str | None = None, check: bool = True) -> subprocess.CompletedProcess:
    cmd = ["ip", *args] if ns is None else ["ip", "netns", "exec", ns, "ip", *args]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if check and done.returncode != 0:
        raise NetUnavailable(f"{' '.join(cmd)}: {done.stderr.strip() or done.returncode}")
    return done


def permitted() -> str | None:
    """None when namespaces can be made here; else the reason they cannot."""
    if os.geteuid() != 0:
        return "network namespaces need root (CAP_NET_ADMIN)"
    probe = f"ffprobe{os.getpid()}"
    try:
        _ip("netns", "add", probe)
    except (NetUnavailable, FileNotFoundError) as exc:
        return f"cannot create a network namespace: {exc}"
    _ip("netns", "del", probe, check=False)
    return None


def _free_subnet() -> ipaddress.IPv4Network:
    """A 10.x.y.0/24 no route of this machine overlaps."""
    taken = []
    for line in _ip("-4", "route", "show", "table", "all").stdout.splitlines():
        word = line.split()[0] if line.split() else ""
        if word in ("broadcast", "local", "unicast"):
            word = line.split()[1]
        try:
            taken.append(ipaddress.ip_network(word, strict=False))
        except ValueError:
            continue
    rng = random.Random()
    for _ in range(200):
        net = ipaddress.ip_network(f"10.{rng.randint(100, 250)}.{rng.randint(0, 255)}.0/24")
        if not any(net.overlaps(t) for t in taken if t.prefixlen > 0):
            return net
    raise NetUnavailable("no free 10.x.y.0/24 subnet")


@dataclass
class Namespace:
    name: str
    address: str  # its own address on the bridge's subnet

    def argv(self, *cmd: str) -> list[str]:
        """cmd run inside this namespace (`ip netns exec` execs it: the pid is the command's)."""
        return ["ip", "netns", "exec", self.name, *cmd]


@dataclass
class Network:
    hosts: int = 3
    tag: str = field(default_factory=lambda: f"{os.getpid() % 10000:04d}{random.randint(0, 35):x}")
    subnet: ipaddress.IPv4Network | None = None
    namespaces: list[Namespace] = field(default_factory=list)
    _made: list[tuple[str, ...]] = field(default_factory=list)  # undo commands, newest last

    @property
    def bridge(self) -> str:
        return f"ffbr{self.tag}"

    @property
    def gateway(self) -> str:
        """The host's address on the bridge: what the namespaces reach PostgreSQL and Redis on."""
        assert self.subnet is not None
        return str(self.subnet.network_address + 1)

    def create(self) -> "Network":
        reap_abandoned()
        MARKERS.mkdir(exist_ok=True)
        (MARKERS / self.tag).write_text(str(os.getpid()))
        try:
            self.subnet = _free_subnet()
            prefix = self.subnet.prefixlen
            _ip("link", "add", self.bridge, "type", "bridge")
            self._made.append(("link", "del", self.bridge))
            _ip("addr", "add", f"{self.gateway}/{prefix}", "dev", self.bridge)
            _ip("link", "set", self.bridge, "up")
            for i in range(1, self.hosts + 1):
                self._add_namespace(i, prefix)
        except BaseException:
            self.remove()
            raise
        return self

    def _add_namespace(self, i: int, prefix: int) -> None:
        assert self.subnet is not None
        ns = Namespace(f"footfall-{self.tag}-{i}", str(self.subnet.network_address + 10 + i))
        outer, inner = f"ffv{self.tag}{i}", f"ffi{self.tag}{i}"
        _ip("netns", "add", ns.name)
        self._made.append(("netns", "del", ns.name))
        _ip("link", "add", outer, "type", "veth", "peer", "name", inner)
        self._made.append(("link", "del", outer))  # deleting one end deletes the pair
        _ip("link", "set", inner, "netns", ns.name)
        _ip("link", "set", outer, "master", self.bridge)
        _ip("link", "set", outer, "up")
        _ip("link", "set", "lo", "up", ns=ns.name)
        _ip("link", "set", inner, "name", "eth0", ns=ns.name)
        _ip("addr", "add", f"{ns.address}/{prefix}", "dev", "eth0", ns=ns.name)
        _ip("link", "set", "eth0", "up", ns=ns.name)
        _ip("route", "add", "default", "via", self.gateway, ns=ns.name)
        self.namespaces.append(ns)

    def remove(self) -> None:
        while self._made:
            _ip(*self._made.pop(), check=False)
        self.namespaces = []
        (MARKERS / self.tag).unlink(missing_ok=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def reap_abandoned() -> list[str]:
    """Remove what networks whose maker died left behind; returns their tags."""
    if not MARKERS.is_dir():
        return []
    reaped = []
    for marker in MARKERS.iterdir():
        try:
            owner = int(marker.read_text().strip() or 0)
        except (OSError, ValueError):
            owner = 0
        if owner and _alive(owner):
            continue
        tag = marker.name
        for name in [n for n in leftovers() if n.startswith(f"footfall-{tag}-")]:
            for pid in _ip("netns", "pids", name, check=False).stdout.split():
                try:  # only processes inside our own namespace: the hosts it ran
                    os.kill(int(pid), signal.SIGKILL)
                except (ProcessLookupError, ValueError):
                    pass
            _ip("netns", "del", name, check=False)
        for name in [n for n in leftovers() if n in (f"ffbr{tag}",) or n.startswith(f"ffv{tag}")]:
            _ip("link", "del", name, check=False)
        marker.unlink(missing_ok=True)
        reaped.append(tag)
    return reaped


def leftovers() -> list[str]:
    """Namespaces and bridges named like ours that still exist (for a test that teardown cleaned up)."""
    names = [line.split()[0] for line in _ip("netns", "list").stdout.splitlines() if line.startswith("footfall-")]
    names += [line.split(":")[1].strip().split("@")[0] for line in _ip("-o", "link").stdout.splitlines()
              if line.split(":")[1].strip().startswith(("ffbr", "ffv"))]
    return names
