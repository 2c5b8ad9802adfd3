"""Tests for dysco_proto.seqnum: serial arithmetic modulo 2**32."""

from __future__ import annotations

from hypothesis import assume, given, settings
from hypothesis import strategies as st

from dysco_proto.seqnum import (
    MOD,
    seq_add,
    seq_diff,
    seq_ge,
    seq_gt,
    seq_in_range,
    seq_le,
    seq_lt,
    seq_max,
    seq_min,
)

TOP = MOD - 1
HALF = 1 << 31

u32 = st.integers(min_value=0, max_value=TOP)
near_wrap = st.one_of(
    u32,
    st.integers(min_value=TOP - 1000, max_value=TOP),
    st.integers(min_value=0, max_value=1000),
    st.integers(min_value=HALF - 1000, max_value=HALF + 1000),
)
sdelta = st.integers(min_value=-HALF, max_value=HALF - 1)


def test_mod() -> None:
    assert MOD == 2**32


def test_add_wraps() -> None:
    assert seq_add(TOP, 1) == 0
    assert seq_add(TOP, 2) == 1
    assert seq_add(0, -1) == TOP
    assert seq_add(5, -10) == TOP - 4
    assert seq_add(7, MOD) == 7
    assert seq_add(7, -MOD) == 7
    assert seq_add(TOP, 3 * MOD + 1) == 0


def test_diff_across_wrap() -> None:
    assert seq_diff(0, TOP) == 1
    assert seq_diff(TOP, 0) == -1
    assert seq_diff(10, TOP - 9) == 20
    assert seq_diff(TOP - 9, 10) == -20
    assert seq_diff(5, 5) == 0
    # exactly half the space apart: the most negative value, by definition
    assert seq_diff(0, HALF) == -HALF
    assert seq_diff(HALF, 0) == -HALF
    assert seq_diff(HALF - 1, 0) == HALF - 1


def test_comparisons_across_wrap() -> None:
    assert seq_lt(TOP, 0)
    assert seq_le(TOP, 0)
    assert seq_gt(0, TOP)
    assert seq_ge(0, TOP)
    assert not seq_lt(0, TOP)
    assert seq_le(3, 3)
    assert seq_ge(3, 3)
    assert not seq_lt(3, 3)
    assert not seq_gt(3, 3)
    assert seq_lt(TOP - 100, 100)
    assert seq_gt(100, TOP - 100)


def test_max_min_across_wrap() -> None:
    assert seq_max(TOP, 0) == 0
    assert seq_max(0, TOP) == 0
    assert seq_min(TOP, 0) == TOP
    assert seq_min(0, TOP) == TOP
    assert seq_max(4, 4) == 4
    assert seq_max(MOD + 4, 3) == 4  # arguments are reduced


def test_in_range() -> None:
    assert seq_in_range(5, 5, 6)
    assert not seq_in_range(6, 5, 6)
    assert not seq_in_range(4, 5, 6)
    assert not seq_in_range(5, 5, 5)  # empty window
    # a window that wraps around 2**32
    lo, hi = TOP - 10, 10
    assert seq_in_range(TOP, lo, hi)
    assert seq_in_range(0, lo, hi)
    assert seq_in_range(9, lo, hi)
    assert seq_in_range(lo, lo, hi)
    assert not seq_in_range(10, lo, hi)
    assert not seq_in_range(lo - 1, lo, hi)
    assert not seq_in_range(HALF, lo, hi)


@settings(max_examples=300)
@given(near_wrap, near_wrap)
def test_compare_antisymmetry(a: int, b: int) -> None:
    assume(seq_diff(a, b) != -HALF)
    assert seq_lt(a, b) == seq_gt(b, a)
    assert seq_le(a, b) == seq_ge(b, a)
    assert seq_diff(a, b) == -seq_diff(b, a)
    # trichotomy
    assert [seq_lt(a, b), a == b, seq_gt(a, b)].count(True) == 1
    assert seq_le(a, b) == (seq_lt(a, b) or a == b)
    assert seq_max(a, b) == seq_max(b, a)
    assert seq_min(a, b) == seq_min(b, a)
    assert {seq_max(a, b), seq_min(a, b)} == {a, b}
    assert seq_le(seq_min(a, b), seq_max(a, b))


@settings(max_examples=300)
@given(near_wrap, sdelta)
def test_add_diff_inverse(a: int, d: int) -> None:
    b = seq_add(a, d)
    assert 0 <= b < MOD
    assert seq_diff(b, a) == d
    assert seq_add(b, -d) == a
    if d > 0:
        assert seq_gt(b, a)
        assert seq_in_range(a, a, b)
        assert not seq_in_range(b, a, b)
    elif d < 0:
        assert seq_lt(b, a)


@settings(max_examples=300)
@given(near_wrap, near_wrap)
def test_diff_add_inverse(a: int, b: int) -> None:
    d = seq_diff(a, b)
    assert -HALF <= d < HALF
    assert seq_add(b, d) == a


@settings(max_examples=300)
@given(near_wrap, near_wrap, st.integers(min_value=0, max_value=HALF - 1))
def test_in_range_matches_offsets(x: int, lo: int, length: int) -> None:
    hi = seq_add(lo, length)
    off = (x - lo) % MOD
    assert seq_in_range(x, lo, hi) == (off < length)
    if seq_in_range(x, lo, hi):
        assert seq_le(lo, x)
        assert seq_lt(x, hi)


@settings(max_examples=200)
@given(near_wrap, near_wrap, st.integers(min_value=0, max_value=HALF - 1))
def test_ordering_preserved_by_constant_offset(a: int, off: int, gap: int) -> None:
    # Translating by a constant offset (a Dysco delta) never changes the serial order.
    b = seq_add(a, gap)
    assert seq_le(a, b)
    assert seq_le(seq_add(a, off), seq_add(b, off))
