"""Regression tests for the bugs of the earlier Dysco implementations.

``/work/shared/reference/dysco-protocol.md`` section 7 lists what the 2017 kernel agent and Go
daemon, the 2018 BESS port and the 2019 user-space port got wrong. Each test below names the
bug it guards against. (Tests for other items of that list live next to the modules that
address them.)
"""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dysco_pipeline.checksum import (
    incremental_update16,
    incremental_update32,
    ipv4_to_int,
    ones_complement_sum,
    tcp_checksum,
    tcp_pseudo_header,
)
from dysco_proto.entries import Deltas
from dysco_proto.packet import FiveTuple, Segment, TcpFlags, TcpOptions
from dysco_proto.ports import PortPool, PortsExhausted
from dysco_proto.rewrite import apply_deltas, invert
from dysco_proto.seqnum import MOD, seq_diff, seq_lt

T = FiveTuple("10.0.0.1", 1234, "10.0.0.2", 80)


def _put16(data: bytes, off: int, value: int) -> bytes:
    return data[:off] + struct.pack("!H", value) + data[off + 2 :]


def _put32(data: bytes, off: int, value: int) -> bytes:
    return data[:off] + struct.pack("!I", value) + data[off + 4 :]


# ------------------------------------------------------------------------------------------
# Bug (earlier prototypes): "an incremental-checksum carry bug". RFC 1624 eqn. 3 adds three
# 16-bit terms, ~HC + ~m + m', whose sum can carry twice; folding the end-around carry only
# once (the classic form of this bug) yields a wrong checksum, and the receiver drops the
# packet. The property test compares every incremental update with a full recompute.


def _single_fold_update16(old_csum: int, old: int, new: int) -> int:
    """The buggy shape: one fold of the end-around carry."""
    s = (~old_csum & 0xFFFF) + (~old & 0xFFFF) + (new & 0xFFFF)
    s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF


def test_incremental_checksum_double_carry() -> None:
    # A segment whose checksum is 0x0000 and whose source port goes 0x0000 -> 0x0001:
    # ~HC + ~m + m' = 0xFFFF + 0xFFFF + 0x0001 = 0x1FFFF, which must be folded twice.
    src, dst = "198.18.1.1", "198.18.2.2"
    seg = _put16(bytes(range(40)), 0, 0x0000)
    seg = _put16(_put16(seg, 16, 0), 18, 0)
    s = ones_complement_sum(tcp_pseudo_header(src, dst, len(seg)) + seg)
    seg = _put16(seg, 18, (0xFFFF - s) % 0xFFFF or 0xFFFF)  # urgent ptr makes the sum 0xFFFF
    assert tcp_checksum(src, dst, seg) == 0x0000
    changed = _put16(seg, 0, 0x0001)
    full = tcp_checksum(src, dst, changed)
    assert incremental_update16(0x0000, 0x0000, 0x0001) == full == 0xFFFE
    assert _single_fold_update16(0x0000, 0x0000, 0x0001) != full  # the test catches the bug


def test_incremental_checksum_field_wraps() -> None:
    # 16-bit fields going 0xFFFF -> 0x0000 and 0x0000 -> 0xFFFF, 32-bit 0xFFFFFFFF -> 0.
    src, dst = "10.0.0.1", "10.0.0.2"
    seg = _put32(_put16(bytes(range(7, 47)), 0, 0xFFFF), 4, 0xFFFFFFFF)
    seg = _put16(seg, 2, 0x0000)
    seg = _put16(seg, 16, tcp_checksum(src, dst, _put16(seg, 16, 0)))
    c = struct.unpack_from("!H", seg, 16)[0]
    for off, old, new in ((0, 0xFFFF, 0x0000), (2, 0x0000, 0xFFFF)):
        changed = _put16(seg, off, new)
        assert incremental_update16(c, old, new) == tcp_checksum(src, dst, _put16(changed, 16, 0))
    changed = _put32(seg, 4, 0)
    assert incremental_update32(c, 0xFFFFFFFF, 0) == tcp_checksum(src, dst, _put16(changed, 16, 0))


_ip = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))
_u32 = st.integers(0, 0xFFFFFFFF) | st.sampled_from([0, 0xFFFFFFFF, 0xFFFF0000, 0x0000FFFF])


@settings(max_examples=400)
@given(
    seg=st.binary(min_size=20, max_size=64),
    src=_ip,
    dst=_ip,
    new_ip=_ip | st.sampled_from(["0.0.0.0", "255.255.255.255"]),
    new=_u32,
    field=st.sampled_from(["sport", "dport", "seq", "ack", "src", "dst", "all"]),
)
def test_incremental_checksum_equals_full_recompute(
    seg: bytes, src: str, dst: str, new_ip: str, new: int, field: str
) -> None:
    seg = _put16(seg, 16, 0)
    c = tcp_checksum(src, dst, seg)
    seg = _put16(seg, 16, c)
    src2, dst2, changed, got = src, dst, seg, c
    if field in ("sport", "dport", "all"):
        off = 0 if field == "sport" else 2
        old = struct.unpack_from("!H", seg, off)[0]
        changed = _put16(changed, off, new & 0xFFFF)
        got = incremental_update16(got, old, new & 0xFFFF)
    if field in ("seq", "ack", "all"):
        off = 4 if field != "ack" else 8
        old = struct.unpack_from("!I", seg, off)[0]
        changed = _put32(changed, off, new)
        got = incremental_update32(got, old, new)
    if field in ("src", "all"):
        got = incremental_update32(got, ipv4_to_int(src), ipv4_to_int(new_ip))
        src2 = new_ip
    if field in ("dst", "all"):
        got = incremental_update32(got, ipv4_to_int(dst), ipv4_to_int(new_ip))
        dst2 = new_ip
    assert got == tcp_checksum(src2, dst2, _put16(changed, 16, 0))
    assert tcp_checksum(src2, dst2, _put16(changed, 16, got)) == 0  # receiver accepts it


# ------------------------------------------------------------------------------------------
# Bug (earlier prototypes): "subsession ports from a global counter with no
# collision check". A port still in use for a (local, peer) pair could be handed out again after
# the counter wrapped, aliasing two subsessions.


def test_ports_never_duplicated_across_whole_range() -> None:
    pool = PortPool(5000, 5015, seed=11)
    live = {pool.allocate("a", "b") for _ in range(16)}
    assert live == set(range(5000, 5016))
    with pytest.raises(PortsExhausted):
        pool.allocate("a", "b")
    for p in (5003, 5007, 5015):
        pool.release("a", "b", p)
        live.discard(p)
    for _ in range(3):
        p = pool.allocate("a", "b")
        assert p not in live
        live.add(p)
    assert live == set(range(5000, 5016))
    with pytest.raises(PortsExhausted):
        pool.allocate("a", "b")


def test_ports_many_cycles_no_duplicates() -> None:
    # churn far past the range size, as a global counter would wrap many times
    pool = PortPool(100, 107)
    live: list[int] = []
    for i in range(500):
        if len(live) == 6 or (live and i % 3 == 0):
            pool.release("a", "b", live.pop(0))
        p = pool.allocate("a", "b")
        assert p not in live
        live.append(p)


def test_ports_pairs_independent() -> None:
    pool = PortPool(100, 103)
    got_ab = [pool.allocate("a", "b") for _ in range(4)]
    got_ac = [pool.allocate("a", "c") for _ in range(4)]
    got_ba = [pool.allocate("b", "a") for _ in range(4)]
    assert sorted(got_ab) == sorted(got_ac) == sorted(got_ba) == [100, 101, 102, 103]


def test_ports_reserve_prevents_allocation() -> None:
    # state learned at restart must not be reallocated
    pool = PortPool(100, 109)
    for p in (100, 104, 109):
        assert pool.reserve("a", "b", p)
    got = {pool.allocate("a", "b") for _ in range(7)}
    assert got.isdisjoint({100, 104, 109})
    with pytest.raises(PortsExhausted):
        pool.allocate("a", "b")


# ------------------------------------------------------------------------------------------
# Bug (earlier prototypes; section 7 table: "SACK / TS / window translation" buggy or partial):
# "16-bit fields passed through 32-bit byte swaps zeroed window-scale and SACK state".
# Translating a segment must keep the window (rescaled, never zeroed), the window-scale and
# SACK-permitted options, and translate every SACK edge by the ack delta.


def test_translation_keeps_wscale_sack_and_window() -> None:
    opts = TcpOptions(mss=1460, wscale=7, sack_permitted=True, timestamp=(1, 0))
    syn = Segment(T, 100, 0, TcpFlags.SYN, 64240, opts)
    out = apply_deltas(syn, Deltas(seq=MOD - 50, tsval=5, win_shift=2))
    assert out.options.wscale == 7
    assert out.options.sack_permitted
    assert out.options.mss == 1460
    assert out.window == 64240  # SYN windows are unscaled
    data = Segment(
        T,
        100,
        200,
        TcpFlags.ACK,
        0x0123,
        TcpOptions(sack_blocks=((0xFFFFFFF0, 0x10), (300, 400))),
    )
    out = apply_deltas(data, Deltas(ack=0x20, win_shift=1))
    assert out.window == 0x0246
    assert out.options.sack_blocks == ((0x10, 0x30), (332, 432))
    assert out.ack == 232


# ------------------------------------------------------------------------------------------
# Bug (one of the later ports): "used TCP timestamps to smuggle deltas (breaks PAWS)".
# Our timestamps are translated by a constant offset per direction, so the serial order of
# TSvals (what PAWS checks) is preserved and the translation is exactly invertible.


@settings(max_examples=300)
@given(
    st.integers(0, MOD - 1),
    st.integers(0, (1 << 31) - 1),
    st.integers(-(MOD - 1), MOD - 1),
    st.integers(-(MOD - 1), MOD - 1),
)
def test_timestamp_translation_preserves_paws_order(a: int, gap: int, dv: int, de: int) -> None:
    b = (a + gap) % MOD
    d = Deltas(tsval=dv, tsecr=de)

    def ts_out(v: int) -> tuple[int, int]:
        s = Segment(T, 1, 1, TcpFlags.ACK, 1000, TcpOptions(timestamp=(v, v)))
        got = apply_deltas(s, d).options.timestamp
        assert got is not None
        assert apply_deltas(apply_deltas(s, d), invert(d)).options.timestamp == (v, v)
        return got

    (va, ea), (vb, eb) = ts_out(a), ts_out(b)
    assert seq_diff(vb, va) == gap
    assert seq_diff(eb, ea) == gap
    if gap:
        assert seq_lt(va, vb)
