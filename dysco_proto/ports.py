"""Subsession port allocation.

A subsession five-tuple is ``(local, port, peer, peer_port, TCP)``; the agent chooses
``port`` for the pair ``(local, peer)``. The prototypes took ports from one global counter with
no collision check, so a long-lived subsession could be silently aliased by a new one after
the counter wrapped. :class:`PortPool` tracks, per ``(local, peer)`` pair, which ports are in
use and never hands out one of them.

Allocation is deterministic given the seed and the sequence of calls: each pair has a cursor
that starts at an offset derived (by a stable hash, not Python's randomised ``hash``) from the
seed and the pair, and scans upwards with wrap-around for the next free port; after an
allocation the cursor moves past the port returned, so a just-released port is reused only
after the rest of the range has been cycled through.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field


class PortsExhausted(Exception):
    """Every port of the pool's range is in use for the requested ``(local, peer)`` pair."""


@dataclass(slots=True)
class _PairState:
    cursor: int
    used: set[int] = field(default_factory=set)
    used_in_range: int = 0


class PortPool:
    """Per-``(local, peer)`` allocator of ports in ``[low, high]``."""

    def __init__(self, low: int = 20000, high: int = 60999, *, seed: int = 0) -> None:
        """Create a pool for ports ``low..high`` inclusive.

        Raises :class:`ValueError` unless ``1 <= low <= high <= 65535``.
        """
        if not (1 <= low <= high <= 65535):
            raise ValueError(f"invalid port range {low}-{high}: need 1 <= low <= high <= 65535")
        self._low = low
        self._high = high
        self._seed = seed
        self._pairs: dict[tuple[str, str], _PairState] = {}

    @property
    def low(self) -> int:
        """Lowest port of the range."""
        return self._low

    @property
    def high(self) -> int:
        """Highest port of the range."""
        return self._high

    @property
    def size(self) -> int:
        """Number of ports in the range."""
        return self._high - self._low + 1

    def _start(self, local: str, peer: str) -> int:
        digest = hashlib.blake2b(
            f"{self._seed}\x00{local}\x00{peer}".encode(), digest_size=8
        ).digest()
        return self._low + int.from_bytes(digest, "big") % self.size

    def _state(self, local: str, peer: str) -> _PairState:
        key = (local, peer)
        st = self._pairs.get(key)
        if st is None:
            st = _PairState(cursor=self._start(local, peer))
            self._pairs[key] = st
        return st

    def _in_range(self, port: int) -> bool:
        return self._low <= port <= self._high

    def allocate(self, local: str, peer: str) -> int:
        """Return a port not in use for ``(local, peer)`` and mark it used.

        Raises :class:`PortsExhausted` when every port of the range is in use for the pair.
        """
        st = self._state(local, peer)
        if st.used_in_range >= self.size:
            raise PortsExhausted(f"no free port in {self._low}-{self._high} for {local} -> {peer}")
        port = st.cursor
        while port in st.used:
            port = self._low if port == self._high else port + 1
        st.used.add(port)
        st.used_in_range += 1
        st.cursor = self._low if port == self._high else port + 1
        return port

    def reserve(self, local: str, peer: str, port: int) -> bool:
        """Mark ``port`` used for ``(local, peer)``; ``False`` if it already was.

        For state learned from elsewhere (restart reconciliation, a peer's choice). The port
        may lie outside the pool's range (it is then tracked but never allocated anyway);
        raises :class:`ValueError` unless ``1 <= port <= 65535``.
        """
        if not (1 <= port <= 65535):
            raise ValueError(f"invalid port {port}")
        st = self._state(local, peer)
        if port in st.used:
            return False
        st.used.add(port)
        if self._in_range(port):
            st.used_in_range += 1
        return True

    def release(self, local: str, peer: str, port: int) -> None:
        """Return ``port`` to the pool for ``(local, peer)``; releasing a free port is a no-op."""
        st = self._pairs.get((local, peer))
        if st is None or port not in st.used:
            return
        st.used.discard(port)
        if self._in_range(port):
            st.used_in_range -= 1

    def in_use(self, local: str, peer: str) -> int:
        """How many ports are in use for ``(local, peer)`` (reserved ones outside the range too)."""
        st = self._pairs.get((local, peer))
        return 0 if st is None else len(st.used)

    def is_used(self, local: str, peer: str, port: int) -> bool:
        """Whether ``port`` is in use for ``(local, peer)``."""
        st = self._pairs.get((local, peer))
        return st is not None and port in st.used
