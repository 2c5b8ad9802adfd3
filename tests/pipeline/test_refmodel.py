"""Reference model details not covered by the vector corpus: the controller's completion of
SPLIT punts and mirror host views (hand-stated pieces), table-state helpers, robustness."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dysco_pipeline import pipeline as pl
from dysco_pipeline.refmodel import (
    PipelineState,
    TableState,
    complete_punt,
    mirror_host_view,
    process,
    segment_of,
)
from dysco_proto.entries import Direction
from dysco_proto.events import PuntReason
from dysco_proto.packet import FiveTuple, TcpFlags
from tests.vectors import corpus

CASES = {c.name: c for c in corpus.load()}
OLD = FiveTuple("198.18.0.1", 40001, "198.18.1.5", 80)
NEW = FiveTuple("198.18.0.1", 40002, "198.18.1.6", 80)


def _split(name: str, step: int = -1):
    """Run a SPLIT case; return the punted segment, its OUT entry and packet-in metadata."""
    case = CASES[name]
    tables = TableState(corpus.table_entries(case))
    state = PipelineState(tables)
    res = None
    for s in case.steps[: len(case.steps) + step + 1 if step < 0 else step + 1]:
        res = process(state, s.packet, s.ingress_port)
        state.registers = res.registers
    assert res is not None and len(res.packet_ins) == 1
    pin = res.packet_ins[0]
    assert pin.metadata["reason"] == pl.Reason.SPLIT
    seg = segment_of(pin.payload)
    assert seg is not None
    entry = tables.session(Direction.OUT, pin.metadata["agent_id"], seg.tuple)
    assert entry is not None
    return seg, entry, pin.metadata


def test_complete_straddle() -> None:
    seg, entry, meta = _split("two_path_data_straddles_cut")
    done = complete_punt(seg, Direction.OUT, entry, meta)
    assert [(p.tuple, p.seq, p.ack, len(p.payload)) for p in done.outputs] == [
        (OLD, 1051, 5001, 50),
        (NEW, 1101 + 0x100, 5001 + 0x200, 50),
    ]
    assert done.outputs[0].payload + done.outputs[1].payload == seg.payload
    assert done.mirror is None


def test_complete_first_ack_above_lo() -> None:
    seg, entry, meta = _split("two_path_pure_ack_above_lo_first_split")
    done = complete_punt(seg, Direction.OUT, entry, meta)
    assert [(p.tuple, p.seq, p.ack, p.flags) for p in done.outputs] == [
        (OLD, 1101, 7001, TcpFlags.ACK),  # the old path learns the ack up to new_rcvd_lo
        (NEW, 1101 + 0x100, 7002 + 0x200, TcpFlags.ACK),
    ]


def test_complete_old_data_new_ack() -> None:
    seg, entry, meta = _split("two_path_old_data_new_ack_split")
    done = complete_punt(seg, Direction.OUT, entry, meta)
    assert [(p.tuple, p.seq, p.ack, len(p.payload)) for p in done.outputs] == [
        (OLD, 1001, 7001, 100),  # ack clamped to new_rcvd_lo on the old path
        (NEW, 1101 + 0x100, 7101 + 0x200, 0),  # a pure ack carries the new-path ack
    ]


def test_complete_rst_goes_both_ways_and_is_mirrored() -> None:
    seg, entry, meta = _split("two_path_rst_split", step=3)
    done = complete_punt(seg, Direction.OUT, entry, meta)
    assert [p.tuple for p in done.outputs] == [OLD, NEW]
    assert all(p.flags & TcpFlags.RST for p in done.outputs)
    assert done.mirror is PuntReason.RST_MIRROR and done.host_view == seg


def test_mirror_host_view_in_is_rewritten() -> None:
    case = CASES["fin_mirrored_in"]
    tables = TableState(corpus.table_entries(case))
    res = process(PipelineState(tables), case.steps[0].packet, case.steps[0].ingress_port)
    pin = res.packet_ins[0]
    seg = segment_of(pin.payload)
    assert seg is not None
    entry = tables.session(Direction.IN, 0, seg.tuple)
    assert entry is not None
    view = mirror_host_view(seg, Direction.IN, entry)
    delivered = segment_of(res.outputs[0][1])
    assert view == delivered


def test_table_state_from_dict_and_lpm() -> None:
    tables = TableState.from_dict(
        {
            str(pl.Tbl.IPV4_FWD): [
                [
                    {"dst_addr": "198.18.0.0/15"},
                    str(pl.Act.ROUTE),
                    {"port": 1, "src_mac": 1, "dst_mac": 2},
                ],
                {
                    "match": {"dst_addr": "198.18.1.0/24"},
                    "action": str(pl.Act.ROUTE),
                    "params": {"port": 2, "src_mac": 1, "dst_mac": 2},
                },
            ]
        }
    )
    r = tables.route(int.from_bytes(bytes([198, 18, 1, 3]), "big"))
    assert r is not None and r.params["port"] == 2
    r = tables.route(int.from_bytes(bytes([198, 19, 2, 3]), "big"))
    assert r is not None and r.params["port"] == 1
    assert tables.route(int.from_bytes(bytes([198, 20, 0, 1]), "big")) is None
    assert tables.port_role(9) == (pl.PortRole.NETWORK, 0)


_ANY = CASES["two_path_pure_ack_above_lo"]


@settings(max_examples=300, deadline=None)
@given(frame=st.binary(max_size=120), port=st.sampled_from([1, 2, 3, pl.CPU_PORT]))
def test_arbitrary_bytes_never_crash(frame: bytes, port: int) -> None:
    state = PipelineState(TableState(corpus.table_entries(_ANY)))
    res = process(state, frame, port)
    assert res.dropped is not None or res.outputs or res.packet_ins


@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_mutated_vectors_never_crash(data: st.DataObject) -> None:
    """Flip bytes of real vector frames (headers and options): never an exception."""
    case = data.draw(st.sampled_from(list(CASES.values())))
    step = data.draw(st.sampled_from(case.steps))
    frame = bytearray(step.packet)
    for _ in range(data.draw(st.integers(1, 4))):
        if frame:
            i = data.draw(st.integers(0, min(len(frame), 120) - 1))
            frame[i] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(frame)))
    state = PipelineState(TableState(corpus.table_entries(case)))
    process(state, bytes(frame[: cut or len(frame)]), step.ingress_port)


def test_unknown_table_names_rejected() -> None:
    with pytest.raises(ValueError):
        TableState.from_dict({"DyscoIngress.nope": [[{}, "NoAction", {}]]})


@given(st.integers(0, 0xFFFF), st.integers(-14, 14))
def test_window_rescale_rounds_up_and_never_zeroes(window: int, shift: int) -> None:
    """docs/pipeline.md 4.1: a right shift rounds up (ceil), a left shift saturates."""
    from dysco_pipeline.refmodel import window_rescale

    got = window_rescale(window, shift)
    assert 0 <= got <= 0xFFFF
    assert (got == 0) == (window == 0)
    if shift < 0:
        assert (got - 1) << -shift < window <= got << -shift
    else:
        assert got == min(0xFFFF, window << shift)


def test_checksum_ffff_accepted_for_computed_zero() -> None:
    """A stored 0xFFFF where 0x0000 is computed is valid (RFC 1624 section 3); any other
    change of the field is not."""
    from dysco_pipeline.parse import tcp_checksum_ok

    case = next(c for c in corpus.load() if c.name == "tcp_checksum_ffff_is_zero")
    frame = case.steps[0].packet
    total_len = int.from_bytes(frame[16:18], "big")
    assert frame[50:52] == b"\xff\xff"
    assert tcp_checksum_ok(frame, total_len)
    assert tcp_checksum_ok(frame[:50] + b"\x00\x00" + frame[52:], total_len)
    assert not tcp_checksum_ok(frame[:50] + b"\xff\xfe" + frame[52:], total_len)
