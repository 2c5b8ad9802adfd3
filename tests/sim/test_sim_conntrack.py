"""The simulator's connection tracking (dysco_proto/sim/conntrack.py) against what Linux's
conntrack does with its default sysctls, on the cases a new Dysco path meets: the window a
handshake opens, acks of data the box never saw, a SYN that joins a live session."""

from __future__ import annotations

from dysco_proto.packet import FiveTuple, Segment, TcpFlags, TcpOptions
from dysco_proto.seqnum import seq_add
from dysco_proto.sim.conntrack import Conntrack, Verdict

C = FiveTuple("198.18.1.1", 10000, "198.18.2.1", 2000)
S = C.reversed()
A = TcpFlags.ACK
OPTS = TcpOptions(mss=1460, wscale=7, sack_permitted=True)


def _handshake(ct: Conntrack, c_isn: int = 1000, s_isn: int = 5000) -> None:
    assert ct.check(Segment(C, c_isn, 0, TcpFlags.SYN, 65535, OPTS)) is Verdict.ACCEPT
    synack = Segment(S, s_isn, c_isn + 1, TcpFlags.SYN | A, 65535, OPTS)
    assert ct.check(synack) is Verdict.ACCEPT


def test_established_session_in_window() -> None:
    ct = Conntrack()
    _handshake(ct)
    assert ct.check(Segment(C, 1001, 5001, A, 512, payload=b"x" * 1000)) is Verdict.ACCEPT
    assert ct.check(Segment(S, 5001, 2001, A, 512, payload=b"y" * 1000)) is Verdict.ACCEPT
    assert ct.invalid == 0


def test_no_connection_without_syn() -> None:
    ct = Conntrack()
    assert ct.check(Segment(C, 1001, 5001, A, 512, payload=b"x")) is Verdict.INVALID
    assert ct.invalid == 1 and "not a SYN" in ct.detail


def test_ack_of_data_the_box_never_saw_is_invalid() -> None:
    """The new-path failure (docs/testbed.md): the peer's old-path bytes acknowledged on the new
    path (conntrack: 'ACK is over the upper bound (ACKed data not seen yet)')."""
    ct = Conntrack()
    _handshake(ct)
    unseen = seq_add(5001, 100_000)
    assert ct.check(Segment(C, 1001, unseen, A, 512, payload=b"x" * 100)) is Verdict.INVALID
    assert "ACK over the upper bound" in ct.detail


def test_data_beyond_the_handshake_window_is_invalid() -> None:
    """A SYN-ACK's window is unscaled: 64 KiB, plus one window of overshoot tolerance."""
    ct = Conntrack()
    _handshake(ct)
    far = seq_add(1001, 200_000)
    assert ct.check(Segment(C, far, 5001, A, 512, payload=b"x" * 1000)) is Verdict.INVALID
    assert "SEQ over the upper bound" in ct.detail


def test_window_update_opens_the_window() -> None:
    """What the right anchor's window update does: a scaled window lets far data through."""
    ct = Conntrack()
    _handshake(ct)
    assert ct.check(Segment(S, 5001, 1001, A, 0xFFFF)) is Verdict.ACCEPT
    far = seq_add(1001, 200_000)
    assert ct.check(Segment(C, far, 5001, A, 512, payload=b"x" * 1000)) is Verdict.ACCEPT


def test_initiator_data_before_the_synack_is_invalid() -> None:
    ct = Conntrack()
    assert ct.check(Segment(C, 1000, 0, TcpFlags.SYN, 65535, OPTS)) is Verdict.ACCEPT
    assert ct.check(Segment(C, 1001, 5001, A, 512, payload=b"x")) is Verdict.INVALID


def test_old_retransmission_is_ignored_not_invalid() -> None:
    """Below the lower bound: let through without touching the state (Linux 6.x)."""
    ct = Conntrack()
    _handshake(ct, c_isn=1_000_000)
    old = 1_000_000 - 200_000
    assert ct.check(Segment(C, old, 5001, A, 512, payload=b"x" * 100)) is Verdict.IGNORE
    assert ct.invalid == 0


def test_retransmitted_syn_with_a_later_seq_reinitialises() -> None:
    ct = Conntrack()
    assert ct.check(Segment(C, 1000, 0, TcpFlags.SYN, 65535, OPTS)) is Verdict.ACCEPT
    assert ct.check(Segment(C, 9000, 0, TcpFlags.SYN, 65535, OPTS)) is Verdict.ACCEPT
    synack = Segment(S, 5000, 9001, TcpFlags.SYN | A, 65535, OPTS)
    assert ct.check(synack) is Verdict.ACCEPT
    assert ct.check(Segment(C, 9001, 5001, A, 512, payload=b"x")) is Verdict.ACCEPT
