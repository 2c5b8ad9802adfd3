"""Free loopback ports for processes that bind them later.

A port taken with ``bind(0)`` and released comes from the kernel's ephemeral range, where any
process's next outgoing socket may take it before its real owner binds it (CI saw a controller
fail with ``Address already in use`` that way). Ports below that range are taken only by an
explicit bind, so these come from there, held together until all are chosen (distinct).
"""

from __future__ import annotations

import secrets
import socket
from pathlib import Path
from typing import Literal

_RANGE_FILE = Path("/proc/sys/net/ipv4/ip_local_port_range")
_LOWEST = 20000


def ephemeral_range() -> tuple[int, int]:
    """The kernel's ephemeral port range (Linux's default when it cannot be read)."""
    try:
        lo, hi = _RANGE_FILE.read_text().split()
        return int(lo), int(hi)
    except (OSError, ValueError):
        return 32768, 60999


def free_ports(n: int, kind: Literal["tcp", "udp"] = "tcp", host: str = "127.0.0.1") -> list[int]:
    """``n`` distinct ports of ``kind`` free on ``host`` now, outside the ephemeral range."""
    lo, hi = ephemeral_range()
    first, last = (_LOWEST, lo - 1) if lo - _LOWEST >= 1000 else (hi + 1, 65535)
    if last - first < 4 * n:
        raise RuntimeError(f"no room for {n} ports outside the ephemeral range {lo}-{hi}")
    rng = secrets.SystemRandom()
    stype = socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM
    held: list[socket.socket] = []
    try:
        while len(held) < n:
            s = socket.socket(socket.AF_INET, stype)
            try:
                s.bind((host, rng.randint(first, last)))
            except OSError:
                s.close()
                continue
            held.append(s)
        return [int(s.getsockname()[1]) for s in held]
    finally:
        for s in held:
            s.close()
