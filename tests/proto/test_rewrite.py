"""Tests for dysco_proto.rewrite: applying deltas to segments."""

from __future__ import annotations

from dataclasses import replace

from hypothesis import given, settings
from hypothesis import strategies as st

from dysco_proto.entries import ZERO, Deltas
from dysco_proto.packet import FiveTuple, Segment, TcpFlags, TcpOptions
from dysco_proto.rewrite import (
    apply_deltas,
    compose,
    invert,
    normalize,
    rescale_window,
    rewrite,
)
from dysco_proto.seqnum import MOD

TOP = MOD - 1
T1 = FiveTuple("10.0.0.1", 1234, "10.0.0.2", 80)
T2 = FiveTuple("10.0.1.1", 20001, "10.0.1.2", 80)
A = TcpFlags.ACK
PA = TcpFlags.PSH | TcpFlags.ACK
SYN = TcpFlags.SYN
SYNACK = TcpFlags.SYN | TcpFlags.ACK


def seg(
    seq: int = 1000,
    ack: int = 2000,
    flags: TcpFlags = A,
    window: int = 1000,
    options: TcpOptions | None = None,
    payload: bytes = b"",
) -> Segment:
    return Segment(T1, seq, ack, flags, window, options or TcpOptions(), payload)


def test_zero_deltas_identity() -> None:
    s = seg(options=TcpOptions(timestamp=(5, 6), sack_blocks=((1, 2),)))
    assert apply_deltas(s, ZERO) is s
    assert apply_deltas(s, Deltas()) == s


def test_seq_and_ack_deltas() -> None:
    out = apply_deltas(seg(), Deltas(seq=10, ack=-20))
    assert out.seq == 1010
    assert out.ack == 1980
    assert out.tuple == T1
    assert out.flags == A
    assert out.window == 1000


def test_seq_ack_wraparound() -> None:
    out = apply_deltas(seg(seq=TOP - 1, ack=3), Deltas(seq=5, ack=-5))
    assert out.seq == 3
    assert out.ack == TOP - 1
    # deltas given as large unsigned values are the same translation
    out2 = apply_deltas(seg(seq=TOP - 1, ack=3), Deltas(seq=5, ack=MOD - 5))
    assert out2 == out


def test_ack_untouched_without_ack_flag() -> None:
    s = seg(seq=100, ack=12345, flags=SYN)
    out = apply_deltas(s, Deltas(seq=7, ack=99))
    assert out.seq == 107
    assert out.ack == 12345
    s = seg(ack=0, flags=TcpFlags.RST)
    assert apply_deltas(s, Deltas(ack=99)).ack == 0


def test_payload_flags_and_other_options_preserved() -> None:
    opts = TcpOptions(mss=1460, wscale=7, sack_permitted=True, dysco_tag=42)
    s = seg(flags=PA | TcpFlags.FIN, options=opts, payload=b"hello")
    out = apply_deltas(s, Deltas(seq=1, ack=2, tsval=3, tsecr=4, win_shift=1))
    assert out.payload == b"hello"
    assert out.flags == PA | TcpFlags.FIN
    assert out.options == opts


def test_sack_edges_get_ack_delta() -> None:
    blocks = ((100, 200), (TOP - 10, 5))
    s = seg(options=TcpOptions(sack_blocks=blocks))
    out = apply_deltas(s, Deltas(seq=1000, ack=20))
    assert out.options.sack_blocks == ((120, 220), (9, 25))
    out = apply_deltas(s, Deltas(ack=-200))
    assert out.options.sack_blocks == ((TOP - 99, 0), (TOP - 210, TOP - 194))
    # seq delta alone leaves SACK blocks alone (they acknowledge the other direction's bytes)
    assert apply_deltas(s, Deltas(seq=5)).options.sack_blocks == blocks


def test_timestamp_deltas() -> None:
    s = seg(options=TcpOptions(timestamp=(TOP, 10)))
    out = apply_deltas(s, Deltas(tsval=2, tsecr=-11))
    assert out.options.timestamp == (1, TOP)
    assert apply_deltas(s, Deltas(seq=3)).options.timestamp == (TOP, 10)


def test_syn_tsecr_zero_untouched() -> None:
    s = seg(flags=SYN, ack=0, options=TcpOptions(timestamp=(500, 0)))
    out = apply_deltas(s, Deltas(tsval=10, tsecr=77))
    assert out.options.timestamp == (510, 0)


def test_syn_nonzero_tsecr_translated() -> None:
    s = seg(flags=SYN, ack=0, options=TcpOptions(timestamp=(500, 9)))
    assert apply_deltas(s, Deltas(tsecr=1)).options.timestamp == (500, 10)


def test_synack_tsecr_translated() -> None:
    # A SYN-ACK's TSecr echoes the SYN's TSval: it is meaningful, even when zero.
    s = seg(flags=SYNACK, options=TcpOptions(timestamp=(500, 0)))
    assert apply_deltas(s, Deltas(tsecr=3)).options.timestamp == (500, 3)


def test_data_tsecr_zero_translated() -> None:
    s = seg(options=TcpOptions(timestamp=(500, 0)))
    assert apply_deltas(s, Deltas(tsecr=3)).options.timestamp == (500, 3)


def test_window_rescale() -> None:
    assert apply_deltas(seg(window=1000), Deltas(win_shift=2)).window == 4000
    assert apply_deltas(seg(window=1000), Deltas(win_shift=-2)).window == 250
    assert apply_deltas(seg(window=0x4000), Deltas(win_shift=2)).window == 0xFFFF
    assert apply_deltas(seg(window=0xFFFF), Deltas(win_shift=14)).window == 0xFFFF
    assert apply_deltas(seg(window=3), Deltas(win_shift=-2)).window == 0
    assert apply_deltas(seg(window=1000), Deltas(seq=1)).window == 1000


def test_rescale_window_function() -> None:
    assert rescale_window(1, 0) == 1
    assert rescale_window(1, 16) == 0xFFFF
    assert rescale_window(0xFFFF, -16) == 0


def test_syn_and_synack_window_never_rescaled() -> None:
    d = Deltas(seq=1, win_shift=3)
    syn = seg(flags=SYN, ack=0, window=29200)
    assert apply_deltas(syn, d).window == 29200
    assert apply_deltas(syn, d).seq == 1001
    synack = seg(flags=SYNACK, window=28960)
    assert apply_deltas(synack, Deltas(win_shift=-3)).window == 28960


def test_rewrite_replaces_tuple_then_applies() -> None:
    s = seg(options=TcpOptions(sack_blocks=((1, 2),)))
    out = rewrite(s, T2, Deltas(seq=1, ack=1))
    assert out.tuple == T2
    assert out.seq == 1001
    assert out.ack == 2001
    assert out.options.sack_blocks == ((2, 3),)
    assert rewrite(s, T2, ZERO) == s.with_tuple(T2)


def test_invert_and_compose_examples() -> None:
    d = Deltas(seq=5, ack=-3, tsval=MOD - 1, tsecr=0, win_shift=2)
    inv = invert(d)
    assert inv == Deltas(seq=MOD - 5, ack=3, tsval=1, tsecr=0, win_shift=-2)
    assert compose(d, inv).is_zero
    assert compose(ZERO, ZERO) == ZERO
    assert compose(Deltas(seq=MOD - 1), Deltas(seq=2)) == Deltas(seq=1)
    assert normalize(Deltas(seq=-1, win_shift=-3)) == Deltas(seq=MOD - 1, win_shift=-3)


# ---- properties --------------------------------------------------------------------------

u32 = st.one_of(
    st.integers(min_value=0, max_value=TOP),
    st.integers(min_value=TOP - 100, max_value=TOP),
    st.integers(min_value=0, max_value=100),
)
offset = st.integers(min_value=-(MOD - 1), max_value=MOD - 1)
shift = st.integers(min_value=-14, max_value=14)
deltas_st = st.builds(Deltas, seq=offset, ack=offset, tsval=offset, tsecr=offset, win_shift=shift)
flags_st = st.sampled_from([A, PA, PA | TcpFlags.FIN, TcpFlags.RST, TcpFlags.RST | A, SYN, SYNACK])


@st.composite
def segments(draw: st.DrawFn) -> Segment:
    ts = draw(st.none() | st.tuples(u32, u32))
    blocks = draw(st.lists(st.tuples(u32, u32), max_size=4).map(tuple))
    opts = TcpOptions(timestamp=ts, sack_blocks=blocks, wscale=draw(st.none() | st.just(7)))
    return Segment(
        T1,
        draw(u32),
        draw(u32),
        draw(flags_st),
        draw(st.integers(min_value=0, max_value=0xFFFF)),
        opts,
        draw(st.binary(max_size=4)),
    )


def _fields(s: Segment) -> tuple[object, ...]:
    return (s.seq, s.ack, s.options.sack_blocks, s.options.timestamp, s.flags, s.payload)


@settings(max_examples=300)
@given(segments(), deltas_st)
def test_invert_restores_fields(s: Segment, d: Deltas) -> None:
    there = apply_deltas(s, d)
    back = apply_deltas(there, invert(d))
    assert _fields(back) == _fields(s)
    assert back.options == s.options
    assert 0 <= there.seq < MOD
    assert 0 <= there.ack < MOD
    assert 0 <= there.window <= 0xFFFF


@settings(max_examples=300)
@given(segments(), deltas_st)
def test_window_restored_when_lossless(s: Segment, d: Deltas) -> None:
    w = s.window
    lossless = (d.win_shift >= 0 and (w << d.win_shift) <= 0xFFFF) or (
        d.win_shift < 0 and w % (1 << -d.win_shift) == 0
    )
    back = apply_deltas(apply_deltas(s, d), invert(d))
    if lossless or s.flags & TcpFlags.SYN:
        assert back.window == w


@settings(max_examples=300)
@given(segments(), deltas_st, deltas_st)
def test_compose_equals_sequential(s: Segment, d1: Deltas, d2: Deltas) -> None:
    seq = apply_deltas(apply_deltas(s, d1), d2)
    one = apply_deltas(s, compose(d1, d2))
    assert _fields(one) == _fields(seq)
    if (d1.win_shift >= 0) == (d2.win_shift >= 0) or d1.win_shift == 0 or d2.win_shift == 0:
        # same-direction (or no) rescales compose exactly
        assert one.window == seq.window


@settings(max_examples=300)
@given(deltas_st, deltas_st, deltas_st)
def test_compose_algebra(a: Deltas, b: Deltas, c: Deltas) -> None:
    assert compose(compose(a, b), c) == compose(a, compose(b, c))
    assert compose(a, b) == compose(b, a)
    assert compose(a, ZERO) == normalize(a)
    assert compose(ZERO, a) == normalize(a)
    assert compose(a, invert(a)).is_zero
    assert invert(invert(a)) == normalize(a)
    assert invert(compose(a, b)) == compose(invert(b), invert(a))
    n = normalize(a)
    for v in (n.seq, n.ack, n.tsval, n.tsecr):
        assert 0 <= v < MOD


@settings(max_examples=200)
@given(segments(), deltas_st)
def test_rewrite_is_with_tuple_then_apply(s: Segment, d: Deltas) -> None:
    assert rewrite(s, T2, d) == apply_deltas(replace(s, tuple=T2), d)
    assert rewrite(s, T2, d).tuple == T2
