"""Sequence-number arithmetic modulo 2**32 with serial-number comparison.

TCP sequence and acknowledgment numbers, SACK edges and timestamps live in a 32-bit circular
space. Ordering follows RFC 1982 style serial arithmetic: ``a < b`` iff the signed 32-bit
difference ``a - b`` is negative. Two values exactly 2**31 apart are ordered by that rule too
(``seq_diff`` returns ``-2**31`` for them, so the smaller-looking one is "less"), which keeps
the comparison total and antisymmetric on every pair except that one distance, where both
``seq_lt(a, b)`` and ``seq_lt(b, a)`` hold. Callers never compare values that far apart.

All functions accept any Python ``int`` (they reduce their arguments modulo 2**32 first) and
return values in ``[0, 2**32)`` (or, for :func:`seq_diff`, in ``[-2**31, 2**31)``).
"""

from __future__ import annotations

MOD = 1 << 32
"""Size of the sequence space."""

MASK = MOD - 1
HALF = 1 << 31


def seq_add(a: int, d: int) -> int:
    """Return ``(a + d) mod 2**32``; ``d`` may be negative or larger than the space."""
    return (a + d) & MASK


def seq_diff(a: int, b: int) -> int:
    """Return the signed serial difference ``a - b`` in ``[-2**31, 2**31)``."""
    return ((a - b + HALF) & MASK) - HALF


def seq_lt(a: int, b: int) -> bool:
    """``a`` precedes ``b`` in serial order."""
    return seq_diff(a, b) < 0


def seq_le(a: int, b: int) -> bool:
    """``a`` precedes or equals ``b`` in serial order."""
    return seq_diff(a, b) <= 0


def seq_gt(a: int, b: int) -> bool:
    """``a`` follows ``b`` in serial order."""
    return seq_diff(a, b) > 0


def seq_ge(a: int, b: int) -> bool:
    """``a`` follows or equals ``b`` in serial order."""
    return seq_diff(a, b) >= 0


def seq_max(a: int, b: int) -> int:
    """The later of ``a`` and ``b`` in serial order (reduced modulo 2**32)."""
    return (a if seq_ge(a, b) else b) & MASK


def seq_min(a: int, b: int) -> int:
    """The earlier of ``a`` and ``b`` in serial order (reduced modulo 2**32)."""
    return (a if seq_le(a, b) else b) & MASK


def seq_in_range(x: int, lo: int, hi: int) -> bool:
    """``lo <= x < hi`` in serial arithmetic, i.e. ``x`` lies in the window starting at ``lo``.

    Computed as ``(x - lo) mod 2**32 < (hi - lo) mod 2**32``, so a window that wraps past
    2**32 works, and an empty window (``lo == hi``) contains nothing.
    """
    return ((x - lo) & MASK) < ((hi - lo) & MASK)
