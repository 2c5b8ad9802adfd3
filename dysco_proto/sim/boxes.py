"""Middlebox applications for the simulator.

A box runs on a middlebox host. The host's data path (after the agent's rewrite) delivers
segments to :meth:`deliver` with the *session* tuple; the box emits what it forwards through
``emit`` (the host's data path then applies the OUT mapping towards the next hop). Boxes never
see subsession tuples or Dysco control traffic.

Four kinds:

- :class:`Transparent` forwards unchanged what a stateful firewall with Linux's default
  connection tracking would (:mod:`dysco_proto.sim.conntrack`: a connection starts with a SYN,
  every segment must be in the windows the handshake and the traffic so far allow); it drops
  and counts the rest (``ct.invalid``).
- :class:`Nat` (tracked the same way) rewrites the source of left-to-right packets to (its
  own address, a port it allocates) and restores the destination on the way back; options
  and payload are kept, so the Dysco tag option survives.
- :class:`OffsetBox` inserts a fixed k-byte prefix into the left-to-right byte stream right
  after the handshake, then shifts the seq of later left-to-right packets by +k and the ack
  (and SACK edges) of right-to-left packets by -k. It declares the offset to its agent with
  :class:`~dysco_proto.events.BoxOffset` first.
- :class:`Proxy` terminates TCP: it accepts any incoming connection (transparent proxy),
  opens its own connection from its address to the original destination, relays bytes and FIN
  both ways, and tells its agent :class:`~dysco_proto.events.RelateProxy` once both
  connections are established.

Which direction is "left-to-right" is learned from the first SYN of a session.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, replace

from dysco_proto.events import BoxOffset, Command, RelateProxy
from dysco_proto.packet import FiveTuple, Segment, TcpFlags
from dysco_proto.seqnum import seq_add, seq_lt
from dysco_proto.sim.conntrack import Conntrack, Verdict
from dysco_proto.sim.engine import Engine
from dysco_proto.sim.tcp import TcpEndpoint

Emit = Callable[[Segment], None]
CommandSink = Callable[[Command], None]


class Box:
    """Base class: what a middlebox application offers the simulator."""

    kind = "box"

    def __init__(self, ip: str, emit: Emit) -> None:
        self.ip = ip
        self.emit = emit
        self.forwarded = 0
        self.dropped = 0

    def deliver(self, seg: Segment) -> None:  # pragma: no cover - overridden
        """A segment addressed (by session tuple) through this box."""
        raise NotImplementedError

    def emitted_tuple(self, received: FiveTuple) -> FiveTuple | None:
        """The tuple this box emits rightwards for a session it receives as ``received``
        (``None`` if it has not seen that session)."""
        return received


class Transparent(Box):
    """A stateful firewall: forwards unchanged what conntrack accepts or ignores."""

    kind = "transparent"

    def __init__(self, ip: str, emit: Emit) -> None:
        super().__init__(ip, emit)
        self.ct = Conntrack()
        self.strict = True  # connection tracking as strict as Linux (INVALID dropped)

    def deliver(self, seg: Segment) -> None:
        if self.strict and self.ct.check(seg) is Verdict.INVALID:
            self.dropped += 1
            return
        self.forwarded += 1
        self.emit(seg)


class Nat(Box):
    """Source NAT: ``(src, sport) -> (own ip, allocated port)`` for left-to-right packets."""

    kind = "nat"

    def __init__(self, ip: str, emit: Emit, *, port_low: int = 61000, port_high: int = 65535):
        super().__init__(ip, emit)
        self._port_low = port_low
        self._port_high = port_high
        self._next_port = port_low
        self.forward_map: dict[FiveTuple, FiveTuple] = {}  # L->R as received -> as emitted
        self.reverse_map: dict[FiveTuple, FiveTuple] = {}  # R->L as received -> as emitted
        self.ct = Conntrack()  # on the tuples as received from the left
        self.strict = True  # connection tracking as strict as Linux (INVALID dropped)

    def _allocate(self, t: FiveTuple) -> FiveTuple:
        port = self._next_port
        self._next_port = port + 1 if port < self._port_high else self._port_low
        out = FiveTuple(self.ip, port, t.dst_ip, t.dst_port, t.proto)
        self.forward_map[t] = out
        self.reverse_map[out.reversed()] = t.reversed()
        return out

    def deliver(self, seg: Segment) -> None:
        t = seg.tuple
        out = self.forward_map.get(t)
        back = None
        if out is None:
            out = back = self.reverse_map.get(t)
        if out is None:
            if not seg.is_syn:
                self.dropped += 1
                return
            out = self._allocate(t)
        # conntrack sees the connection as the left side sent it (a reply: as restored)
        if (
            self.strict
            and self.ct.check(seg if back is None else seg.with_tuple(back)) is Verdict.INVALID
        ):
            self.dropped += 1  # Linux would pass it untranslated: at best lost
            return
        self.forwarded += 1
        self.emit(seg.with_tuple(out))

    def emitted_tuple(self, received: FiveTuple) -> FiveTuple | None:
        return self.forward_map.get(received)


@dataclass(slots=True)
class _OffsetSession:
    lr: FiveTuple  # left-to-right tuple as received
    client_isn: int
    synack_seen: bool = False
    active: bool = False


class OffsetBox(Box):
    """Inserts ``prefix`` at the start of the left-to-right stream (a non-zero delta)."""

    kind = "offset"

    def __init__(self, ip: str, emit: Emit, command: CommandSink, prefix: bytes) -> None:
        super().__init__(ip, emit)
        if not prefix:
            raise ValueError("an offset box needs a non-empty prefix")
        self.prefix = prefix
        self.k = len(prefix)
        self._command = command
        self._lr: dict[FiveTuple, _OffsetSession] = {}
        self._rl: dict[FiveTuple, _OffsetSession] = {}

    def deliver(self, seg: Segment) -> None:
        t = seg.tuple
        st = self._lr.get(t)
        if st is not None:
            self._left_to_right(st, seg)
            return
        st = self._rl.get(t)
        if st is not None:
            self._right_to_left(st, seg)
            return
        if seg.is_syn:
            st = _OffsetSession(t, seg.seq)
            self._lr[t] = st
            self._rl[t.reversed()] = st
        self.forwarded += 1
        self.emit(seg)

    def _left_to_right(self, st: _OffsetSession, seg: Segment) -> None:
        self.forwarded += 1
        if seg.flags & TcpFlags.SYN:
            if not st.active:
                st.client_isn = seg.seq
            self.emit(seg)
            return
        if not st.active:
            if not st.synack_seen:
                self.emit(seg)
                return
            self._activate(st, seg)
        self.emit(replace(seg, seq=seq_add(seg.seq, self.k)))

    def _activate(self, st: _OffsetSession, trigger: Segment) -> None:
        """First left-to-right packet after the handshake: declare, then send the prefix."""
        st.active = True
        self._command(BoxOffset(session=st.lr, offset_lr=self.k, offset_rl=0))
        opts = trigger.options
        if opts.sack_blocks:
            opts = replace(opts, sack_blocks=())
        self.emit(
            Segment(
                st.lr,
                seq_add(st.client_isn, 1),
                trigger.ack,
                TcpFlags.ACK | TcpFlags.PSH,
                trigger.window,
                opts,
                self.prefix,
            )
        )

    def _right_to_left(self, st: _OffsetSession, seg: Segment) -> None:
        self.forwarded += 1
        if seg.is_synack:
            st.synack_seen = True
            self.emit(seg)
            return
        if not st.active or not seg.flags & TcpFlags.ACK:
            self.emit(seg)
            return
        floor = seq_add(st.client_isn, 1)
        ack = self._unshift(seg.ack, floor)
        opts = seg.options
        if opts.sack_blocks:
            opts = replace(
                opts,
                sack_blocks=tuple(
                    (self._unshift(a, floor), self._unshift(b, floor)) for a, b in opts.sack_blocks
                ),
            )
        self.emit(replace(seg, ack=ack, options=opts))

    def _unshift(self, value: int, floor: int) -> int:
        out = seq_add(value, -self.k)
        return floor if seq_lt(out, floor) else out


class Proxy(Box):
    """A transparent TCP-terminating proxy relaying bytes between two connections."""

    kind = "proxy"

    def __init__(
        self,
        engine: Engine,
        ip: str,
        emit: Emit,
        command: CommandSink,
        rng: random.Random,
        violation: Callable[[str], None],
        *,
        port_low: int = 12000,
        port_high: int = 19999,
        mss: int = 1000,
    ) -> None:
        super().__init__(ip, emit)
        self.engine = engine
        self._command = command
        self._rng = rng
        self._violation = violation
        self._port_low = port_low
        self._port_high = port_high
        self._next_port = port_low
        self.mss = mss
        self.conns: dict[FiveTuple, TcpEndpoint] = {}  # incoming tuple -> endpoint
        self.outbound_of: dict[FiveTuple, FiveTuple] = {}  # inbound session -> outbound tuple
        self.related: set[FiveTuple] = set()  # inbound sessions announced to the agent
        self.endpoints: list[TcpEndpoint] = []
        self.strays = 0

    def emitted_tuple(self, received: FiveTuple) -> FiveTuple | None:
        return self.outbound_of.get(received)

    def _endpoint(self, local: tuple[str, int], remote: tuple[str, int], name: str) -> TcpEndpoint:
        rng = self._rng
        ep = TcpEndpoint(
            self.engine,
            local=local,
            remote=remote,
            isn=rng.getrandbits(32),
            emit=self.emit,
            violation=self._violation,
            name=name,
            mss=self.mss,
            wscale=rng.randint(0, 9),
            ts_offset=rng.getrandbits(32),
            peer_window=32 * self.mss,
        )
        self.conns[ep.tuple_in] = ep
        self.endpoints.append(ep)
        return ep

    def deliver(self, seg: Segment) -> None:
        ep = self.conns.get(seg.tuple)
        if ep is not None:
            ep.receive(seg)
            return
        if not seg.is_syn:
            self.strays += 1
            return
        self._open(seg)

    def _open(self, syn: Segment) -> None:
        inbound = syn.tuple
        port = self._next_port
        self._next_port = port + 1 if port < self._port_high else self._port_low
        ep_in = self._endpoint(
            (inbound.dst_ip, inbound.dst_port),
            (inbound.src_ip, inbound.src_port),
            f"proxy {self.ip} in {inbound}",
        )
        ep_out = self._endpoint(
            (self.ip, port), (inbound.dst_ip, inbound.dst_port), f"proxy {self.ip} out :{port}"
        )
        self.outbound_of[inbound] = ep_out.tuple_out
        self.forwarded += 1

        def both_up() -> None:
            if ep_in.established and ep_out.established and inbound not in self.related:
                self.related.add(inbound)
                self._command(RelateProxy(inbound=inbound, outbound=ep_out.tuple_out))

        ep_in.on_data = ep_out.write
        ep_in.on_fin = ep_out.close
        ep_out.on_data = ep_in.write
        ep_out.on_fin = ep_in.close
        ep_in.on_established = both_up
        ep_out.on_established = both_up
        ep_in.accept(syn)
        ep_out.connect()
