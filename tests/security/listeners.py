"""The TCP sockets a process (and its children) listens on, read from /proc.

/proc/<pid>/net/tcp{,6} lists every socket of the process's network namespace, so only the
rows whose inode is one of the process's own file descriptors count (psutil is not a
dependency; this is what it does on Linux).
"""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

LISTEN = "0A"
"""The TCP state of a listening socket in /proc/net/tcp (TCP_LISTEN)."""

Listener = tuple[ipaddress.IPv4Address | ipaddress.IPv6Address, int]


def _descendants(pid: int) -> set[int]:
    found = {pid}
    pending = [pid]
    while pending:
        current = pending.pop()
        for task in Path(f"/proc/{current}/task").glob("*"):
            try:
                children = (task / "children").read_text().split()
            except OSError:
                continue
            for child in map(int, children):
                if child not in found:
                    found.add(child)
                    pending.append(child)
    return found


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").glob("*"):
        try:
            target = os.readlink(fd)
        except OSError:
            continue  # closed between the listing and the read
        if target.startswith("socket:["):
            inodes.add(target[len("socket:[") : -1])
    return inodes


def _address(hex_address: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address:
    """/proc writes the address as the kernel holds it: 32-bit words in host (little-endian)
    order, so each 4-byte word is reversed. An IPv4-mapped IPv6 address (gRPC binds
    127.0.0.1 as ::ffff:127.0.0.1 on a dual-stack socket) is the IPv4 address it maps."""
    raw = bytes.fromhex(hex_address)
    words = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    address = ipaddress.ip_address(words)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def listening(pid: int) -> set[Listener]:
    """(address, port) of every TCP socket `pid` or one of its descendants listens on."""
    found: set[Listener] = set()
    for process in _descendants(pid):
        inodes = _socket_inodes(process)
        for table in ("tcp", "tcp6"):
            try:
                rows = Path(f"/proc/{process}/net/{table}").read_text().splitlines()[1:]
            except OSError:
                continue
            for row in rows:
                fields = row.split()
                local, state, inode = fields[1], fields[3], fields[9]
                if state == LISTEN and inode in inodes:
                    host, port = local.split(":")
                    found.add((_address(host), int(port, 16)))
    return found
