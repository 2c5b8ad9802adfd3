"""Unit tests of the simulator's middleboxes, each alone (no agent involved)."""

from __future__ import annotations

import random
from dataclasses import replace

from dysco_proto.events import BoxOffset, Command, RelateProxy
from dysco_proto.packet import FiveTuple, Segment, TcpFlags, TcpOptions
from dysco_proto.seqnum import seq_add
from dysco_proto.sim.boxes import Nat, OffsetBox, Proxy, Transparent
from dysco_proto.sim.engine import Engine
from dysco_proto.sim.tcp import TcpEndpoint

C = FiveTuple("198.18.1.1", 10000, "198.18.2.1", 2000)  # client -> server, as the box receives it
SYN = Segment(C, 1000, 0, TcpFlags.SYN, options=TcpOptions(wscale=7, dysco_tag=0xABCD))


def test_transparent_forwards_unchanged() -> None:
    out: list[Segment] = []
    box = Transparent("198.18.3.1", out.append)
    box.deliver(SYN)
    box.deliver(Segment(C.reversed(), 5, 1001, TcpFlags.SYN | TcpFlags.ACK))
    assert out[0] is SYN and out[1].tuple == C.reversed()
    assert box.emitted_tuple(C) == C


def test_nat_mapping_both_ways() -> None:
    out: list[Segment] = []
    nat = Nat("198.18.4.1", out.append)
    nat.deliver(SYN)
    mapped = out[-1].tuple
    assert mapped.src_ip == "198.18.4.1" and mapped.src_port >= 61000
    assert (mapped.dst_ip, mapped.dst_port) == (C.dst_ip, C.dst_port)
    assert out[-1].options.dysco_tag == 0xABCD  # options survive (the Dysco tag)
    assert out[-1].seq == SYN.seq and nat.emitted_tuple(C) == mapped
    # the reply comes back to the NAT'd tuple and is restored
    nat.deliver(Segment(mapped.reversed(), 7, 1001, TcpFlags.SYN | TcpFlags.ACK))
    assert out[-1].tuple == C.reversed()
    # a retransmitted SYN keeps its mapping; a second session gets a new port
    nat.deliver(SYN)
    assert out[-1].tuple == mapped
    other = replace(SYN, tuple=replace(C, src_port=10001))
    nat.deliver(other)
    assert out[-1].tuple.src_port != mapped.src_port
    # unknown non-SYN traffic is dropped
    nat.deliver(Segment(FiveTuple("9.9.9.9", 1, "8.8.8.8", 2), 1, 1, TcpFlags.ACK))
    assert nat.dropped == 1


def test_offset_box_inserts_prefix_and_shifts() -> None:
    out: list[Segment] = []
    cmds: list[Command] = []
    prefix = b"PREFIX-123"
    k = len(prefix)
    box = OffsetBox("198.18.5.1", out.append, cmds.append, prefix)
    box.deliver(SYN)
    box.deliver(Segment(C.reversed(), 5000, 1001, TcpFlags.SYN | TcpFlags.ACK))
    assert not cmds
    # third packet of the handshake triggers: BoxOffset, prefix, then the shifted packet
    ack = Segment(C, 1001, 5001, TcpFlags.ACK, options=TcpOptions(timestamp=(10, 20)))
    box.deliver(ack)
    assert cmds == [BoxOffset(session=C, offset_lr=k, offset_rl=0)]
    pre, shifted = out[-2], out[-1]
    assert pre.payload == prefix and pre.seq == 1001 and pre.ack == 5001
    assert pre.options.timestamp == (10, 20)
    assert shifted.seq == 1001 + k and shifted.ack == 5001
    # later data is shifted by +k, acks coming back by -k
    box.deliver(Segment(C, 1001, 5001, TcpFlags.ACK, payload=b"abc"))
    assert out[-1].seq == 1001 + k and out[-1].payload == b"abc"
    back = Segment(
        C.reversed(),
        5001,
        1001 + k + 3,
        TcpFlags.ACK,
        options=TcpOptions(sack_blocks=((1001 + k + 10, 1001 + k + 20),)),
    )
    box.deliver(back)
    assert out[-1].ack == 1004 and out[-1].options.sack_blocks == ((1011, 1021),)
    # an ack inside the prefix is clamped to the client's first byte
    box.deliver(Segment(C.reversed(), 5001, 1001 + 4, TcpFlags.ACK))
    assert out[-1].ack == 1001
    assert len(cmds) == 1


def test_offset_box_wraps_sequence_numbers() -> None:
    out: list[Segment] = []
    box = OffsetBox("198.18.5.1", out.append, lambda c: None, b"xyz")
    isn = 0xFFFFFFFE
    box.deliver(replace(SYN, seq=isn))
    box.deliver(Segment(C.reversed(), 5, seq_add(isn, 1), TcpFlags.SYN | TcpFlags.ACK))
    box.deliver(Segment(C, seq_add(isn, 1), 6, TcpFlags.ACK))
    assert out[-1].seq == seq_add(isn, 4)


class _Harness:
    """client endpoint <-> proxy <-> server endpoint, wired directly with 1 ms links."""

    def __init__(self) -> None:
        self.engine = Engine()
        self.violations: list[str] = []
        self.cmds: list[Command] = []
        rng = random.Random(4)
        self.proxy = Proxy(
            self.engine,
            "198.18.6.1",
            self._from_proxy,
            self.cmds.append,
            random.Random(8),
            self.violations.append,
        )
        self.client = TcpEndpoint(
            self.engine,
            local=(C.src_ip, C.src_port),
            remote=(C.dst_ip, C.dst_port),
            isn=rng.getrandbits(32),
            emit=lambda s: self.engine.after(0.001, self.proxy.deliver, s),
            violation=self.violations.append,
        )
        self.server: TcpEndpoint | None = None
        self.got_client = bytearray()
        self.got_server = bytearray()
        self.client.on_data = self.got_client.extend

    def _from_proxy(self, seg: Segment) -> None:
        if seg.tuple.dst_ip == C.src_ip:
            self.engine.after(0.001, self.client.receive, seg)
        else:
            self.engine.after(0.001, self._to_server, seg)

    def _to_server(self, seg: Segment) -> None:
        if self.server is None:
            assert seg.is_syn
            self.server = TcpEndpoint(
                self.engine,
                local=(seg.tuple.dst_ip, seg.tuple.dst_port),
                remote=(seg.tuple.src_ip, seg.tuple.src_port),
                isn=77,
                emit=lambda s: self.engine.after(0.001, self.proxy.deliver, s),
                violation=self.violations.append,
            )
            self.server.on_data = self.got_server.extend
            self.server.on_established = lambda: (
                self.server.write(b"S" * 4321) if self.server else None,
                self.server.close() if self.server else None,
            )
            self.server.accept(seg)
        else:
            self.server.receive(seg)


def test_proxy_relays_both_ways_and_relates() -> None:
    h = _Harness()
    h.client.on_established = lambda: (h.client.write(b"C" * 12345), h.client.close())
    h.client.connect()
    h.engine.run(30.0)
    assert h.server is not None
    assert bytes(h.got_server) == b"C" * 12345
    assert bytes(h.got_client) == b"S" * 4321
    assert h.client.done and h.server.done and not h.violations
    # the outbound connection comes from the proxy's own address to the original destination
    out_tuple = h.proxy.outbound_of[C]
    assert out_tuple.src_ip == "198.18.6.1" and (out_tuple.dst_ip, out_tuple.dst_port) == (
        C.dst_ip,
        C.dst_port,
    )
    assert h.server.tuple_out == out_tuple.reversed()
    assert h.cmds == [RelateProxy(inbound=C, outbound=out_tuple)]
    assert h.proxy.emitted_tuple(C) == out_tuple
    # the proxy's own endpoints finished too (FIN relayed both ways)
    assert all(ep.done for ep in h.proxy.endpoints)
