"""Late copies of a reconfiguration's new-path handshake never reach an end host.

On a loaded control plane each hop's controller handles packet-ins seconds late, so the left
anchor retransmits its new-path SYN several times and the copies trail behind the
reconfiguration. Seen in the e2e suite under load (test 8, 100 sessions): a copy reached the
right anchor after it folded (the new path's IN entry is then the side's own entry) and was
delivered to the server host as a SYN of the session; the right anchor answered copies that
arrived after the switch with SYN-ACKs that reached the client host after its fold; a box host's
agent sent a copy on as a bare SYN of the session tuple (the device punted it before the box's
OUT entry was written), which the responder delivered to its host. A host whose connection is
closing answers such a segment with a RST (or its listener with a SYN-ACK of a new ISN, which
the peer resets), and the connection is lost. These tests drive real agents on the model
driver (``dysco_proto.model.driver``) and the agent event by event.
"""

from __future__ import annotations

from dataclasses import replace

from dysco_proto.actions import Observe, SendPacket, Toward
from dysco_proto.agent import Agent, AgentConfig
from dysco_proto.entries import Direction, EntryKey
from dysco_proto.events import PacketIn, PuntReason, Reconfigure, SlotSnapshot, TimerFired
from dysco_proto.model.driver import ChainSession, Host, chain_session, write
from dysco_proto.packet import FiveTuple, Segment, TcpFlags, TcpOptions
from dysco_proto.phase_table import LeftPhase, RightPhase
from dysco_proto.policy import PolicyTable
from dysco_proto.timers import TimerKey, TimerKind
from dysco_proto.wire import ControlCodec, ControlMessage, MsgType, RequestId

SYN_ONLY = TcpFlags.SYN


def _is_syn(seg: Segment) -> bool:
    return bool(seg.flags & TcpFlags.SYN)


class Rig:
    """C - M - S with a live two-way stream; C removes M (S is the right anchor). Records the
    new-path SYNs the left anchor sends and every segment each end host receives."""

    def __init__(self) -> None:
        self.cs: ChainSession = chain_session(1)
        self.drv = drv = self.cs.driver
        self.c, self.s = self.cs.client, self.cs.server
        self.new_syns: list[Segment] = []
        self.synacks_from_s: list[tuple[float, Segment]] = []
        self.host_rx: dict[str, list[Segment]] = {self.c.ip: [], self.s.ip: []}
        send_data = drv._send_data

        def data(seg: Segment) -> None:
            syn, ack = _is_syn(seg), bool(seg.flags & TcpFlags.ACK)
            if syn and not ack and seg.payload and seg.tuple.dst_ip == self.s.ip:
                self.new_syns.append(seg)
            if syn and ack and seg.tuple.src_ip == self.s.ip:
                self.synacks_from_s.append((drv.now, seg))
            send_data(seg)

        drv._send_data = data  # type: ignore[method-assign]
        for h in (self.c, self.s):
            app = h.app
            assert app is not None

            def rx(seg: Segment, h: Host = h, app: object = app) -> None:
                self.host_rx[h.ip].append(seg)
                app(seg)  # type: ignore[operator]

            h.app = rx
        for i in range(60):
            write(self.cs, 0.05 + 0.01 * i, b"c" * 200)
            drv.engine.at(0.05 + 0.01 * i, lambda _: self._server_write())

    def _server_write(self) -> None:
        if self.cs.s_ep is not None:
            self.cs.s_ep.write(b"s" * 200)

    def reconfigure(self) -> None:
        ev = Reconfigure(self.cs.session, self.s.ip, (), request_tag=7)
        self.drv.engine.at(0.1, lambda e: self.drv.handle(self.c, e), ev)

    def right_phase(self) -> RightPhase | None:
        ras = list(self.s.agent.rights.values())
        return ras[0].phase if ras else None

    def syns_at(self, host: Host, since: int) -> list[Segment]:
        return [x for x in self.host_rx[host.ip][since:] if _is_syn(x)]


def test_late_new_path_syn_after_the_fold_is_not_delivered_to_the_server() -> None:
    rig = Rig()
    rig.reconfigure()
    rig.drv.run(2.0)
    assert [k for _h, k, _t in rig.cs.outcomes()] == ["reconfig.completed"]
    assert not rig.s.agent.rights and rig.new_syns  # the right anchor folded
    seen = len(rig.host_rx[rig.s.ip])
    copies = list(rig.new_syns)
    for copy in copies:  # the copies that trailed behind arrive now
        rig.drv._send_data(copy)
    rig.drv.run(2.5)
    assert rig.syns_at(rig.s, seen) == []  # before the fix: the SYN reached the server host
    stale = [o for o in rig.s.observations if o.kind == "setup.stale_syn"]
    assert len(stale) == len(copies)
    assert not rig.drv.violations, rig.drv.violations
    assert rig.cs.received == b"c" * 200 * 60


def test_late_synack_after_the_left_fold_does_not_reach_the_client() -> None:
    """A SYN-ACK the right anchor sent while still in SYN_RCVD can reach the left device
    after the left anchor folded (its packet-out waits behind a loaded P4Runtime server while
    the ackAck takes the control channel): the folded IN entry stays NEW, so the data plane
    punts it and the agent absorbs it instead of handing a SYN-ACK to the client host."""
    rig = Rig()
    rig.reconfigure()
    rig.drv.run(2.0)
    assert [k for _h, k, _t in rig.cs.outcomes()] == ["reconfig.completed"]
    assert not rig.c.agent.lefts and rig.synacks_from_s
    seen = len(rig.host_rx[rig.c.ip])
    for _t, copy in list(rig.synacks_from_s):
        rig.drv._send_data(copy)
    rig.drv.run(2.5)
    assert rig.syns_at(rig.c, seen) == []  # before the fix: the SYN-ACK reached the client
    assert not rig.drv.violations, rig.drv.violations
    assert rig.cs.received == b"c" * 200 * 60


def test_switched_right_anchor_does_not_answer_a_late_new_path_syn() -> None:
    rig = Rig()
    s_agent: Agent = rig.s.agent
    handle = rig.drv.handle

    def hold_rcheck(host: Host, event: object) -> None:  # keep S switched (not drained)
        if host is rig.s and isinstance(event, SlotSnapshot):
            purpose = s_agent.tokens.get(event.token, ("",))[0]
            if purpose == "rcheck" or event.token == 0:
                event = replace(event, cut=None, ack_hi=None, rcvd_ack_hi=None)
        handle(host, event)  # type: ignore[arg-type]

    rig.drv.handle = hold_rcheck  # type: ignore[method-assign]
    rig.reconfigure()
    while rig.right_phase() is not RightPhase.SWITCHED:
        assert rig.drv.now < 2.0, "the right anchor never switched"
        rig.drv.run(rig.drv.now + 0.002)
    answered = len(rig.synacks_from_s)
    seen_c = len(rig.host_rx[rig.c.ip])
    rig.drv._send_data(rig.new_syns[-1])
    rig.drv.run(rig.drv.now + 0.05)
    assert rig.right_phase() is RightPhase.SWITCHED
    assert len(rig.synacks_from_s) == answered  # before the fix: a SYN-ACK again
    assert rig.syns_at(rig.c, seen_c) == []


def test_left_commit_whose_ack_arrives_after_the_right_anchor_timed_out_keeps_the_session() -> None:
    """The right anchor gives up (anchor_timeout after the SYN) while the left anchor's ack
    is still on its way (a loaded controller sends it seconds late): the left anchor has
    committed and its host's data flows on the new path. The right anchor's new-path IN
    entry is retired, not removed, so that data still reaches the server host rewritten to
    the session; before, it reached the host with the new subsession's tuple (a RST)."""
    rig = Rig()
    codec = ControlCodec(rig.s.agent.config.key)
    late = rig.s.agent.config.anchor_timeout + 0.5
    send_control = rig.drv._send_control

    def control(a: object) -> None:
        m = codec.decode(a.data, check_replay=False)  # type: ignore[attr-defined]
        if m.type is MsgType.ACK and a.dst_ip == rig.s.ip:  # type: ignore[attr-defined]
            rig.drv.engine.after(late, lambda _: send_control(a), None)  # type: ignore[arg-type]
            return
        send_control(a)  # type: ignore[arg-type]

    rig.drv._send_control = control  # type: ignore[method-assign]
    rig.reconfigure()
    rig.drv.run(late + 1.5)
    obs = [o.kind for o in rig.s.observations]
    assert "reconfig.right_timeout" in obs and not rig.s.agent.rights
    session = rig.cs.session
    wrong = [x.tuple for x in rig.host_rx[rig.s.ip] if x.tuple != session]
    assert wrong == []  # before the fix: the new subsession's tuple
    assert rig.cs.received == b"c" * 200 * 60
    assert not rig.drv.violations, rig.drv.violations


def test_cancelling_left_anchor_keeps_its_new_path_entry_until_the_cancel_is_acknowledged() -> None:
    """The right anchor answers new-path SYN copies until the cancelLock reaches it, and a
    loaded controller sends those SYN-ACKs seconds late: the left anchor's new-path IN
    entry stays (not yet retired, so not collected after ``retired_timeout``) until the
    ackCancel, which leaves the right anchor after all of them; then it is retired."""
    rig = Rig()
    codec = ControlCodec(rig.c.agent.config.key)
    held: list[object] = []
    send_control, handle = rig.drv._send_control, rig.drv.handle

    def control(a: object) -> None:
        m = codec.decode(a.data, check_replay=False)  # type: ignore[attr-defined]
        if m.type is MsgType.ACK_CANCEL and not rig.release:
            held.append(a)
            return
        send_control(a)  # type: ignore[arg-type]

    def no_commit(host: Host, event: object) -> None:  # C's commit probe: "not yet"
        commit = isinstance(event, SlotSnapshot) and host.agent.tokens.get(event.token)
        if host is rig.c and commit and commit[0] == "commit":
            event = replace(event, ack_hi=None)  # type: ignore[type-var]
        handle(host, event)  # type: ignore[arg-type]

    rig.release = False  # type: ignore[attr-defined]
    rig.drv._send_control = control  # type: ignore[method-assign]
    rig.drv.handle = no_commit  # type: ignore[method-assign]
    rig.reconfigure()
    la = None
    while la is None or la.phase is not LeftPhase.CANCELLING:
        assert rig.drv.now < 4.0, "the left anchor never cancelled"
        rig.drv.run(rig.drv.now + 0.002)
        la = next(iter(rig.c.agent.lefts.values()), None)
    assert la.new_sub is not None
    key = EntryKey(Direction.IN, la.new_sub.reversed())
    side = la.side
    rig.drv.run(rig.drv.now + 0.3)
    assert held and key in side.installed
    assert key not in side.retired  # before the fix: retired (collected) at the cancel
    rig.release = True  # type: ignore[attr-defined]
    for a in held:
        send_control(a)  # type: ignore[arg-type]
    rig.drv.run(rig.drv.now + 0.1)
    assert not rig.c.agent.lefts and key in side.retired
    assert [k for _h, k, _t in rig.cs.outcomes()] == ["reconfig.cancelled"]


# -- a box host's agent, event by event ---------------------------------------------------

KEY = b"unit-test-key-0123456789abcdef!!"
C, M, S = "198.18.0.1", "198.18.1.1", "198.18.2.1"
SESSION = FiveTuple(C, 40000, S, 80)
OPTS = TcpOptions(mss=1460, wscale=7, sack_permitted=True, timestamp=(100, 0))


def _box_agent_with_chain_syn_delivered() -> tuple[Agent, Segment, Segment, ControlMessage]:
    """The box M's agent after the chain SYN of SESSION arrived: the agent and the SYN it
    handed to the box host, the chain SYN and its message."""
    a = Agent(AgentConfig((M,), KEY, PolicyTable(()), seed=7))
    codec = ControlCodec(KEY)
    msg = ControlMessage(MsgType.CHAIN, RequestId(C, 0), C, left_session=SESSION, hops=(S,))
    chain = Segment(FiveTuple(C, 21000, M, 80), 1000, 0, SYN_ONLY, 65535, OPTS, codec.encode(msg))
    acts = a.handle(PacketIn(PuntReason.SYN, Direction.IN, chain), 0.0)
    return a, next(x for x in acts if isinstance(x, SendPacket)).segment, chain, msg


def test_box_host_syn_again_before_its_out_entry_is_written_goes_on_as_chain_syn() -> None:
    """The box forwards the SYN twice; the device punts the second copy before the OUT
    entry the first one created is written (no entry key). It must leave as the chain SYN
    on the subsession again, never as a bare SYN of the session tuple (the responder's agent
    would hand that to its host as a SYN inside its live connection)."""
    a, to_box, _, _ = _box_agent_with_chain_syn_delivered()
    first = a.handle(PacketIn(PuntReason.SYN, Direction.OUT, to_box), 0.001)
    out1 = next(x for x in first if isinstance(x, SendPacket))
    again = a.handle(PacketIn(PuntReason.SYN, Direction.OUT, to_box, None), 0.5)
    sent = [x for x in again if isinstance(x, SendPacket)]
    assert len(sent) == 1 and sent[0].toward is Toward.NETWORK
    assert sent[0].segment.tuple == out1.segment.tuple != SESSION  # before the fix: SESSION
    assert ControlCodec(KEY).decode(sent[0].segment.payload).left_session == SESSION
    assert a.state().sides == 2


def test_box_host_syn_after_its_pending_record_expired_never_leaves_bare() -> None:
    """On a loaded control plane the box's copy of the chain SYN comes back after
    ``pending_timeout``: it must not leave as a bare SYN of the session tuple (seen in the
    e2e runs: every later copy leaked, the new path never formed and the server host got
    SYNs inside its connection); the upstream agent's next copy waits for the box again
    and continues the chain."""
    a, to_box, chain, msg = _box_agent_with_chain_syn_delivered()
    codec = ControlCodec(KEY)
    [hop] = a.records.values()
    a.handle(TimerFired(TimerKey.for_record(TimerKind.PENDING, hop.id)), 2.0)  # expired
    late = a.handle(PacketIn(PuntReason.SYN, Direction.OUT, to_box, None), 2.5)
    assert not [x for x in late if isinstance(x, SendPacket)]  # before: SESSION, bare
    assert [o for o in late if isinstance(o, Observe) and o.kind == "setup.unknown_tag"]
    again = replace(chain, payload=codec.encode(replace(msg, msg_id=2)))
    acts = a.handle(PacketIn(PuntReason.SYN, Direction.IN, again, hop.left.in_key), 3.0)
    to_box2 = next(x for x in acts if isinstance(x, SendPacket)).segment
    assert to_box2.options.dysco_tag is not None
    out = a.handle(PacketIn(PuntReason.SYN, Direction.OUT, to_box2, None), 3.1)
    sent = [x for x in out if isinstance(x, SendPacket)]
    assert len(sent) == 1 and sent[0].segment.tuple not in (SESSION, to_box2.tuple)
    assert codec.decode(sent[0].segment.payload, check_replay=False).left_session == SESSION
