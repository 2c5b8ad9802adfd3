"""Unit tests of the simulator's TCP endpoint model (no agent involved)."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import replace

import pytest

from dysco_proto.packet import FiveTuple, Segment, TcpFlags
from dysco_proto.seqnum import seq_add
from dysco_proto.sim.engine import Engine
from dysco_proto.sim.tcp import EndpointStack, TcpEndpoint, TcpState

Filter = Callable[[Segment], list[tuple[float, Segment]]]


class Wire:
    """Two endpoints joined by a link with a fixed latency and optional impairment filters
    (a filter maps a segment to [(extra delay, segment), ...]; [] drops it)."""

    def __init__(self, latency: float = 0.001, seed: int = 1) -> None:
        self.engine = Engine()
        self.latency = latency
        self.violations: list[str] = []
        self.a_to_b: Filter | None = None
        self.b_to_a: Filter | None = None
        self.log: list[tuple[str, Segment]] = []
        rng = random.Random(seed)
        self.a = TcpEndpoint(
            self.engine,
            local=("198.18.0.1", 1111),
            remote=("198.18.0.2", 80),
            isn=rng.getrandbits(32),
            emit=lambda s: self._send("a", s),
            violation=self.violations.append,
            name="a",
            wscale=3,
            ts_offset=rng.getrandbits(32),
        )
        self.b = TcpEndpoint(
            self.engine,
            local=("198.18.0.2", 80),
            remote=("198.18.0.1", 1111),
            isn=rng.getrandbits(32),
            emit=lambda s: self._send("b", s),
            violation=self.violations.append,
            name="b",
            wscale=5,
            ts_offset=rng.getrandbits(32),
        )
        self.got_a = bytearray()
        self.got_b = bytearray()
        self.a.on_data = self.got_a.extend
        self.b.on_data = self.got_b.extend
        self._b_accepted = False

    def _send(self, who: str, seg: Segment) -> None:
        self.log.append((who, seg))
        flt = self.a_to_b if who == "a" else self.b_to_a
        outs = flt(seg) if flt is not None else [(0.0, seg)]
        for extra, s in outs:
            self.engine.after(self.latency + extra, self._arrive, (who, s))

    def _arrive(self, arg: tuple[str, Segment]) -> None:
        who, seg = arg
        if who == "a":
            if seg.is_syn and not self._b_accepted:
                self._b_accepted = True
                self.b.accept(seg)
            else:
                self.b.receive(seg)
        else:
            self.a.receive(seg)

    def run(self, until: float = 30.0) -> None:
        self.engine.run(until)


def _payload(n: int, seed: int = 5) -> bytes:
    return random.Random(seed).randbytes(n)


def test_handshake_and_options() -> None:
    w = Wire()
    w.a.connect()
    w.run(1.0)
    assert w.a.state is TcpState.ESTABLISHED and w.b.state is TcpState.ESTABLISHED
    syn = w.log[0][1]
    synack = w.log[1][1]
    assert syn.is_syn and synack.is_synack
    assert syn.options.wscale == 3 and syn.options.timestamp is not None
    assert syn.options.timestamp[1] == 0 and syn.options.mss == 1000
    assert synack.options.wscale == 5 and synack.options.timestamp is not None
    assert synack.ack == seq_add(syn.seq, 1)
    assert synack.options.timestamp[1] == syn.options.timestamp[0]  # echo
    assert w.a.ts_ok and w.b.ts_ok and w.a.sack_ok
    assert w.a.peer_wscale == 5 and w.b.peer_wscale == 3
    assert not w.violations


def test_transfer_both_ways_and_close() -> None:
    w = Wire()
    data_a, data_b = _payload(12345, 1), _payload(7777, 2)
    w.a.on_established = lambda: (w.a.write(data_a), w.a.close())
    w.b.on_established = lambda: (w.b.write(data_b), w.b.close())
    w.a.connect()
    w.run()
    assert bytes(w.got_b) == data_a and bytes(w.got_a) == data_b
    assert w.a.done and w.b.done
    assert w.a.retransmissions == 0 and not w.violations
    # the window limits data in flight: never more than 8 segments outstanding
    assert max(len(s.payload) for _, s in w.log) == 1000


def test_reordering_is_reassembled() -> None:
    w = Wire()
    rng = random.Random(3)

    def shuffle(seg: Segment) -> list[tuple[float, Segment]]:
        return [(rng.uniform(0.0, 0.02) if seg.payload else 0.0, seg)]

    w.a_to_b = shuffle
    data = _payload(30000)
    w.a.on_established = lambda: (w.a.write(data), w.a.close())
    w.b.on_established = w.b.close
    w.a.connect()
    w.run()
    assert bytes(w.got_b) == data
    assert w.a.done and w.b.done and not w.violations
    # out-of-order data was acknowledged with SACK blocks
    assert any(s.options.sack_blocks for who, s in w.log if who == "b")


def test_retransmission_after_loss() -> None:
    w = Wire()
    dropped: list[int] = []

    def drop_some(seg: Segment) -> list[tuple[float, Segment]]:
        if seg.payload and len(dropped) < 3 and seg.seq not in dropped:
            dropped.append(seg.seq)
            return []
        return [(0.0, seg)]

    w.a_to_b = drop_some
    data = _payload(20000)
    w.a.on_established = lambda: (w.a.write(data), w.a.close())
    w.b.on_established = w.b.close
    w.a.connect()
    w.run()
    assert len(dropped) == 3
    assert bytes(w.got_b) == data
    assert w.a.retransmissions >= 1
    assert w.a.done and w.b.done and not w.violations


def test_lost_syn_and_fin_are_retransmitted() -> None:
    w = Wire()
    seen = {"syn": 0, "fin": 0}

    def drop_first(seg: Segment) -> list[tuple[float, Segment]]:
        if seg.is_syn:
            seen["syn"] += 1
            if seen["syn"] == 1:
                return []
        if seg.flags & TcpFlags.FIN:
            seen["fin"] += 1
            if seen["fin"] == 1:
                return []
        return [(0.0, seg)]

    w.a_to_b = drop_first
    w.a.on_established = lambda: (w.a.write(b"hello"), w.a.close())
    w.b.on_established = w.b.close
    w.a.connect()
    w.run()
    assert seen["syn"] == 2 and seen["fin"] >= 2
    assert bytes(w.got_b) == b"hello" and w.a.done and w.b.done


def test_half_close() -> None:
    """a closes first; b keeps sending afterwards and a still receives everything."""
    w = Wire()
    data_b = _payload(9000, 9)
    w.a.on_established = w.a.close
    fins: list[str] = []
    w.b.on_fin = lambda: fins.append("b saw fin")

    def later() -> None:
        w.engine.after(0.2, lambda _: (w.b.write(data_b), w.b.close()))

    w.b.on_established = later
    w.a.connect()
    w.run(0.1)
    assert w.a.fin_sent and w.b.fin_rcvd and not w.b.fin_sent
    assert fins == ["b saw fin"]
    w.run()
    assert bytes(w.got_a) == data_b
    assert w.a.done and w.b.done and not w.violations


def test_ack_beyond_sent_is_a_violation() -> None:
    w = Wire()
    bump = {"on": False}

    def corrupt(seg: Segment) -> list[tuple[float, Segment]]:
        if bump["on"] and seg.flags & TcpFlags.ACK:
            bump["on"] = False
            return [(0.0, replace(seg, ack=seq_add(seg.ack, 5000)))]
        return [(0.0, seg)]

    w.b_to_a = corrupt
    w.a.connect()
    w.run(0.1)
    bump["on"] = True
    w.a.write(b"x" * 100)
    w.run(0.2)
    assert w.a.acks_beyond == 1
    assert len(w.violations) == 1 and "ack beyond sent" in w.violations[0]
    # the bogus ack was ignored: the data is still outstanding until really acknowledged
    w.run()
    assert w.a.outstanding == 0 and bytes(w.got_b) == b"x" * 100


def test_old_acks_are_ignored() -> None:
    w = Wire()
    w.a.connect()
    w.run(0.1)
    w.a.write(b"y" * 3000)
    w.run(0.5)
    una = w.a.snd_una
    stale = Segment(w.b.tuple_out, w.b.isn + 1, w.a.isn + 1, TcpFlags.ACK)
    w.a.receive(stale)
    assert w.a.snd_una == una and not w.violations


def test_rst_aborts_and_is_counted() -> None:
    w = Wire()
    w.a.connect()
    w.run(0.1)
    w.a.receive(Segment(w.b.tuple_out, w.b.isn + 1, 0, TcpFlags.RST))
    assert w.a.state is TcpState.ABORTED and w.a.rst_seen == 1


def test_endpoint_stack_demux_and_strays() -> None:
    engine = Engine()
    sent: list[Segment] = []
    stack = EndpointStack()
    made: list[TcpEndpoint] = []

    def factory(syn: Segment) -> TcpEndpoint:
        ep = TcpEndpoint(
            engine,
            local=(syn.tuple.dst_ip, syn.tuple.dst_port),
            remote=(syn.tuple.src_ip, syn.tuple.src_port),
            isn=1,
            emit=sent.append,
            violation=lambda m: None,
        )
        made.append(ep)
        return ep

    stack.listen(80, factory)
    syn = Segment(FiveTuple("198.18.0.1", 5555, "198.18.0.2", 80), 100, 0, TcpFlags.SYN)
    stack.deliver(syn)
    assert len(made) == 1 and sent[-1].is_synack
    stack.deliver(syn)  # retransmitted SYN: same endpoint answers again
    assert len(made) == 1 and sent[-1].is_synack
    stack.deliver(replace(syn, tuple=FiveTuple("198.18.0.1", 5555, "198.18.0.2", 81)))
    stack.deliver(replace(syn, flags=TcpFlags.RST, tuple=syn.tuple.reversed()))
    assert stack.strays == 2 and stack.rst_seen == 1


@pytest.mark.parametrize("isn", [0xFFFFFF00, 0xFFFFFFFF])
def test_sequence_wraparound(isn: int) -> None:
    w = Wire()
    w.a.isn = isn
    data = _payload(5000)
    w.a.on_established = lambda: (w.a.write(data), w.a.close())
    w.b.on_established = w.b.close
    w.a.connect()
    w.run()
    assert bytes(w.got_b) == data and w.a.done and not w.violations
