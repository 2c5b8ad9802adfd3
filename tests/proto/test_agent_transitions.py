"""Unit tests of the agent's transitions, event by event (no network, no simulator)."""

from __future__ import annotations

import itertools
from dataclasses import replace

from dysco_proto.actions import (
    Action,
    InstallEntry,
    Observe,
    Outcome,
    Probe,
    ReconfigFinished,
    RemoveEntry,
    SendControl,
    SendPacket,
    StartTimer,
    Toward,
)
from dysco_proto.agent import Agent, AgentConfig
from dysco_proto.entries import Direction, EntryKey
from dysco_proto.events import (
    ControlIn,
    PacketIn,
    PuntReason,
    ReconfigKind,
    Reconfigure,
    SlotSnapshot,
    TimerFired,
)
from dysco_proto.lock import LockStatus
from dysco_proto.packet import FiveTuple, Segment, TcpFlags, TcpOptions
from dysco_proto.policy import Policy, PolicyTable
from dysco_proto.timers import TimerKey, TimerKind
from dysco_proto.wire import ControlCodec, ControlMessage, MsgType, NackReason, RequestId

KEY = b"unit-test-key-0123456789abcdef!!"
C, M, N, S = "198.18.0.1", "198.18.1.1", "198.18.1.2", "198.18.2.1"
SESSION = FiveTuple(C, 40000, S, 80)
SYN_OPTS = TcpOptions(mss=1460, wscale=7, sack_permitted=True, timestamp=(100, 0))
_ids = itertools.count(1)


def peer_codec() -> ControlCodec:
    return ControlCodec(KEY)


def msg_bytes(msg: ControlMessage) -> bytes:
    return peer_codec().encode(replace(msg, msg_id=next(_ids)))


def of(actions: list[Action], kind: type) -> list:
    return [a for a in actions if isinstance(a, kind)]


def controls(actions: list[Action]) -> list[ControlMessage]:
    codec = peer_codec()
    return [codec.decode(a.data, check_replay=False) for a in of(actions, SendControl)]


def observed(actions: list[Action], prefix: str) -> list[Observe]:
    """Observations and reconfiguration outcomes (as observations) whose kind has ``prefix``."""
    obs = [
        a if isinstance(a, Observe) else a.as_observe()
        for a in of(actions, Observe | ReconfigFinished)
    ]
    return [o for o in obs if o.kind.startswith(prefix)]


def syn(t: FiveTuple, payload: bytes = b"", options: TcpOptions = SYN_OPTS) -> Segment:
    return Segment(t, 1000, 0, TcpFlags.SYN, 65535, options, payload)


def agent(addr: str, policies: tuple[Policy, ...] = ()) -> Agent:
    return Agent(AgentConfig((addr,), KEY, PolicyTable(policies), seed=7))


def chain_syn(src: str, dst: str, hops: tuple[str, ...], sport: int = 21000) -> Segment:
    msg = ControlMessage(MsgType.CHAIN, RequestId(src, 0), src, left_session=SESSION, hops=hops)
    return syn(FiveTuple(src, sport, dst, 80), msg_bytes(msg))


def middle_agent() -> tuple[Agent, FiveTuple, FiveTuple]:
    """An agent at M with a session C -> M -> S set up; returns (agent, left sub, right sub)."""
    a = agent(M)
    left_sub = FiveTuple(C, 21000, M, 80)
    acts = a.handle(PacketIn(PuntReason.SYN, Direction.IN, chain_syn(C, M, (S,))), 0.0)
    delivered = of(acts, SendPacket)[0].segment
    acts = a.handle(PacketIn(PuntReason.SYN, Direction.OUT, delivered), 0.001)
    out = of(acts, SendPacket)[0].segment
    return a, left_sub, out.tuple


# --------------------------------------------------------------------------------- setup


def test_initiator_installs_then_sends_chain_syn() -> None:
    a = agent(C, (Policy("p", (M, N)),))
    acts = a.handle(PacketIn(PuntReason.SYN, Direction.OUT, syn(SESSION)), 0.0)
    kinds = [type(x).__name__ for x in acts if not isinstance(x, Observe)]
    assert kinds == ["InstallEntry", "InstallEntry", "SendPacket"]
    out = of(acts, SendPacket)[0]
    assert out.toward is Toward.NETWORK
    assert out.segment.tuple.src_ip == C and out.segment.tuple.dst_ip == M
    assert out.segment.options.dysco_tag is None
    msg = peer_codec().decode(out.segment.payload)
    assert msg.type is MsgType.CHAIN and msg.hops == (N, S) and msg.left_session == SESSION
    keys = {x.entry.key for x in of(acts, InstallEntry)}
    assert EntryKey(Direction.OUT, SESSION) in keys
    assert EntryKey(Direction.IN, out.segment.tuple.reversed()) in keys


def test_no_policy_reinjects_unchanged_and_keeps_nothing() -> None:
    a = agent(C)
    acts = a.handle(PacketIn(PuntReason.SYN, Direction.OUT, syn(SESSION)), 0.0)
    assert of(acts, SendPacket)[0].segment == syn(SESSION)
    assert a.state().sessions == 0 and not a.state().entries


def test_host_syn_retransmission_reuses_subsession() -> None:
    a = agent(C, (Policy("p", (M,)),))
    first = of(a.handle(PacketIn(PuntReason.SYN, Direction.OUT, syn(SESSION)), 0.0), SendPacket)
    key = EntryKey(Direction.OUT, SESSION)
    again = a.handle(PacketIn(PuntReason.SYN, Direction.OUT, syn(SESSION), key), 0.5)
    assert not of(again, InstallEntry)
    assert of(again, SendPacket)[0].segment.tuple == first[0].segment.tuple
    assert a.state().sessions == 1


def test_middlebox_tags_syn_and_continues_by_tag_after_nat() -> None:
    a = agent(M)
    acts = a.handle(PacketIn(PuntReason.SYN, Direction.IN, chain_syn(C, M, (S,))), 0.0)
    delivered = of(acts, SendPacket)[0]
    assert delivered.toward is Toward.HOST and delivered.segment.tuple == SESSION
    assert delivered.segment.payload == b"" and delivered.segment.options.dysco_tag is not None
    natted = replace(delivered.segment, tuple=FiveTuple(M, 50000, S, 80))
    acts = a.handle(PacketIn(PuntReason.SYN, Direction.OUT, natted), 0.001)
    out = of(acts, SendPacket)[0].segment
    assert out.tuple.src_ip == M and out.tuple.dst_ip == S and out.options.dysco_tag is None
    msg = peer_codec().decode(out.payload)
    assert msg.hops == () and msg.left_session == FiveTuple(M, 50000, S, 80)
    assert a.state().pending == 0 and a.state().sides == 2


def test_no_tag_when_option_space_is_full() -> None:
    a = agent(M)
    full = TcpOptions(
        mss=1460,
        wscale=7,
        sack_permitted=True,
        timestamp=(1, 0),
        sack_blocks=((1, 2), (3, 4), (5, 6)),
    )
    seg = replace(chain_syn(C, M, (S,)), options=full)
    acts = a.handle(PacketIn(PuntReason.SYN, Direction.IN, seg), 0.0)
    assert of(acts, SendPacket)[0].segment.options.dysco_tag is None
    assert observed(acts, "setup.no_tag_space")


def test_responder_delivers_plain_syn() -> None:
    a = agent(S)
    acts = a.handle(PacketIn(PuntReason.SYN, Direction.IN, chain_syn(M, S, ())), 0.0)
    out = of(acts, SendPacket)[0]
    assert out.toward is Toward.HOST and out.segment.options.dysco_tag is None
    assert a.state().pending == 0


def test_forged_chain_is_rejected() -> None:
    a = agent(M)
    msg = ControlMessage(MsgType.CHAIN, RequestId(C, 0), C, left_session=SESSION, hops=(S,))
    bad = ControlCodec(b"another-deployment-key-000000000").encode(replace(msg, msg_id=1))
    acts = a.handle(PacketIn(PuntReason.SYN, Direction.IN, syn(FiveTuple(C, 1, M, 80), bad)), 0)
    assert observed(acts, "control.rejected") and not of(acts, InstallEntry)


def test_fin_both_ways_then_close_timer_removes_everything() -> None:
    a, left_sub, _right = middle_agent()
    out_left = EntryKey(Direction.OUT, SESSION.reversed())
    in_left = EntryKey(Direction.IN, left_sub)
    fin = Segment(SESSION, 2000, 5000, TcpFlags.FIN | TcpFlags.ACK)
    a.handle(PacketIn(PuntReason.FIN_MIRROR, Direction.IN, fin, in_left), 1.0)
    rfin = Segment(SESSION.reversed(), 5000, 2001, TcpFlags.FIN | TcpFlags.ACK)
    acts = a.handle(PacketIn(PuntReason.FIN_MIRROR, Direction.OUT, rfin, out_left), 1.1)
    timer = of(acts, StartTimer)[0]
    # the close timer first checks that each side's last bytes (FIN included) are
    # acknowledged: here one side's FIN is not yet, so the session stays and is checked again
    probes = of(a.handle(TimerFired(timer.timer_id), 1.6), Probe)
    assert len(probes) == 2
    replies = [SlotSnapshot(p.slot, 2001, None, 2001, None, None, p.token) for p in probes]
    replies[1] = replace(replies[1], rcvd_ack_hi=2000)
    acts = [x for r in replies for x in a.handle(r, 1.61)]
    assert not of(acts, RemoveEntry) and of(acts, StartTimer)
    probes = of(a.handle(TimerFired(timer.timer_id), 2.2), Probe)
    acts = [
        x
        for p in probes
        for x in a.handle(SlotSnapshot(p.slot, 2001, 2001, 2001, None, None, p.token), 2.21)
    ]
    # everything acknowledged: the entries linger (a lost last ACK makes the peer send its
    # FIN again, which must still be rewritten), then go
    linger = of(acts, StartTimer)
    assert not of(acts, RemoveEntry) and [t.delay for t in linger] == [a.config.close_linger]
    assert a.state().sessions == 1
    late_fin = a.handle(PacketIn(PuntReason.FIN_MIRROR, Direction.OUT, rfin, out_left), 2.5)
    assert not of(late_fin, RemoveEntry)
    # a FIN during the linger: its sender lacks the ACK and will send it again, backing off
    # (seen on the rack: a retransmission 2.8 s after the first linger began drew a RST), so
    # the linger starts again, a full close_linger each time (TCP's TIME_WAIT)
    linger_l = a.config.close_linger
    assert [(t.timer_id, t.delay) for t in of(late_fin, StartTimer)] == [
        (linger[0].timer_id, linger_l)
    ]
    delays = [
        t.delay
        for i in range(4)
        for t in of(
            a.handle(PacketIn(PuntReason.FIN_MIRROR, Direction.OUT, rfin, out_left), 3 + i),
            StartTimer,
        )
    ]
    assert delays == [linger_l] * 4
    acts = a.handle(TimerFired(linger[0].timer_id), 2.21 + a.config.close_linger)
    assert len(of(acts, RemoveEntry)) == 4
    st = a.state()
    assert (st.sessions, st.sides, len(st.entries), st.ports_in_use) == (0, 0, 0, 0)


def test_close_waits_until_the_host_acknowledged_the_peers_fin() -> None:
    """A right anchor has one side: its slot's sent_hi / rcvd_ack_hi cover only what its host
    sent. Seen on the rack (e2e 8): the server had acknowledged the client's data only up to
    a hole (its FIN carried ack 1544 and SACKed the client's FIN), the server's agent removed
    the session anyway once the server's own FIN was acknowledged, and the client's
    retransmission of the hole reached the server raw and drew a RST. The host's acks (the
    slot's ack_hi) must cover the FIN it was sent before the session's entries go."""
    a = agent(S)
    a.handle(PacketIn(PuntReason.SYN, Direction.IN, chain_syn(M, S, ())), 0.0)
    in_key = EntryKey(Direction.IN, FiveTuple(M, 21000, S, 80))
    out_key = EntryKey(Direction.OUT, SESSION.reversed())
    assert {k for k in a.state().entries} >= {in_key, out_key}
    fin = Segment(SESSION, 2000, 5000, TcpFlags.FIN | TcpFlags.ACK)  # as the host receives it
    a.handle(PacketIn(PuntReason.FIN_MIRROR, Direction.IN, fin, in_key), 1.0)
    hfin = Segment(SESSION.reversed(), 5000, 1544, TcpFlags.FIN | TcpFlags.ACK)
    [timer] = of(a.handle(PacketIn(PuntReason.FIN_MIRROR, Direction.OUT, hfin, out_key), 1.1),
                 StartTimer)  # fmt: skip
    # the host's FIN is acknowledged, but the host has acknowledged only up to 1544
    [p] = of(a.handle(TimerFired(timer.timer_id), 1.6), Probe)
    acts = a.handle(SlotSnapshot(p.slot, 5001, 1544, 5001, None, None, p.token), 1.61)
    assert not of(acts, RemoveEntry)
    assert [t.delay for t in of(acts, StartTimer)] == [a.config.close_timeout]
    # still not past the FIN (the hole is filled, the FIN itself not yet acknowledged)
    [p] = of(a.handle(TimerFired(timer.timer_id), 2.2), Probe)
    acts = a.handle(SlotSnapshot(p.slot, 5001, 2000, 5001, None, None, p.token), 2.21)
    assert [t.delay for t in of(acts, StartTimer)] == [2 * a.config.close_timeout]  # backs off
    # the host acknowledged the FIN: the entries linger, then go
    [p] = of(a.handle(TimerFired(timer.timer_id), 2.8), Probe)
    acts = a.handle(SlotSnapshot(p.slot, 5001, 2001, 5001, None, None, p.token), 2.81)
    assert not of(acts, RemoveEntry)
    assert [t.delay for t in of(acts, StartTimer)] == [a.config.close_linger]
    acts = a.handle(TimerFired(timer.timer_id), 2.81 + a.config.close_linger)
    assert {x.key for x in of(acts, RemoveEntry)} == {in_key, out_key}
    assert a.state().sessions == 0


# --------------------------------------------------------------------------------- locks


def request_lock(r: RequestId, sub: FiveTuple, right_anchor: str = S) -> ControlIn:
    msg = ControlMessage(
        MsgType.REQUEST_LOCK,
        r,
        sub.src_ip,
        left_anchor=r.anchor,
        right_anchor=right_anchor,
        subsession=sub,
    )
    return ControlIn(sub.src_ip, sub.dst_ip, msg_bytes(msg))


def from_right(mtype: MsgType, r: RequestId, sub: FiveTuple, **kw: object) -> ControlIn:
    msg = replace(
        ControlMessage(mtype, r, sub.dst_ip, left_anchor=r.anchor, right_anchor=S, subsession=sub),
        **kw,
    )
    return ControlIn(sub.dst_ip, sub.src_ip, msg_bytes(msg))


R1, R2, R3 = RequestId(C, 1), RequestId(C, 2), RequestId("198.18.0.9", 3)


def test_request_forwarded_with_accumulated_delta() -> None:
    a, left, right = middle_agent()
    [fwd] = controls(a.handle(request_lock(R1, left, right_anchor="198.18.9.9"), 1.0))
    assert fwd.type is MsgType.REQUEST_LOCK and fwd.subsession == right
    assert a.state().locks[right] == ("pending", R1)


def test_contending_request_is_held_then_nacked_when_first_is_granted() -> None:
    a, left, right = middle_agent()
    a.handle(request_lock(R1, left), 1.0)
    assert controls(a.handle(request_lock(R2, left), 1.001)) == []  # held, not refused
    out = controls(a.handle(from_right(MsgType.ACK_LOCK, R1, right), 1.002))
    assert {(m.type, m.request) for m in out} == {
        (MsgType.NACK_LOCK, R2),
        (MsgType.ACK_LOCK, R1),
    }
    assert all(m.subsession == left for m in out)
    assert a.state().locks[right] == ("locked", R1)


def test_held_request_is_forwarded_when_first_fails() -> None:
    a, left, right = middle_agent()
    a.handle(request_lock(R1, left), 1.0)
    a.handle(request_lock(R2, left), 1.001)
    nack = from_right(MsgType.NACK_LOCK, R1, right, reason=NackReason.LOCKED)
    out = controls(a.handle(nack, 1.002))
    assert [(m.type, m.request) for m in out] == [
        (MsgType.NACK_LOCK, R1),
        (MsgType.REQUEST_LOCK, R2),
    ]
    assert a.state().locks[right] == ("pending", R2)


def test_locked_subsession_refuses_other_requests_and_forwards_retransmissions() -> None:
    a, left, right = middle_agent()
    a.handle(request_lock(R1, left), 1.0)
    a.handle(from_right(MsgType.ACK_LOCK, R1, right), 1.001)
    [nack] = controls(a.handle(request_lock(R3, left), 1.002))
    assert nack.type is MsgType.NACK_LOCK and nack.reason is NackReason.LOCKED
    [again] = controls(a.handle(request_lock(R1, left), 1.003))
    assert again.type is MsgType.REQUEST_LOCK and again.request == R1


def test_stale_ack_is_dropped() -> None:
    a, _left, right = middle_agent()
    acts = a.handle(from_right(MsgType.ACK_LOCK, R1, right), 1.0)
    assert controls(acts) == [] and observed(acts, "lock.stale")
    assert a.state().locks[right] == ("unlocked", None)


def test_cancel_unlocks_and_is_forwarded() -> None:
    a, left, right = middle_agent()
    a.handle(request_lock(R1, left), 1.0)
    a.handle(from_right(MsgType.ACK_LOCK, R1, right), 1.001)
    cancel = ControlMessage(
        MsgType.CANCEL_LOCK, R1, C, left_anchor=C, right_anchor=S, subsession=left
    )
    [fwd] = controls(a.handle(ControlIn(C, M, msg_bytes(cancel)), 1.002))
    assert fwd.type is MsgType.CANCEL_LOCK and fwd.subsession == right
    assert a.state().locks[right] == ("unlocked", None)


def test_right_anchor_acks_repeats_and_refuses_when_busy() -> None:
    a, left, _right = middle_agent()
    [ack] = controls(a.handle(request_lock(R1, left, right_anchor=M), 1.0))
    assert ack.type is MsgType.ACK_LOCK and ack.subsession == left
    [ack2] = controls(a.handle(request_lock(R1, left, right_anchor=M), 1.01))
    assert ack2.type is MsgType.ACK_LOCK and ack2.request == R1
    [nack] = controls(a.handle(request_lock(R2, left, right_anchor=M), 1.02))
    assert nack.type is MsgType.NACK_LOCK and nack.reason is NackReason.BUSY


def test_end_of_chain_that_is_not_the_anchor_refuses() -> None:
    a = agent(S)
    a.handle(PacketIn(PuntReason.SYN, Direction.IN, chain_syn(M, S, ())), 0.0)
    sub = FiveTuple(M, 21000, S, 80)
    [nack] = controls(a.handle(request_lock(R1, sub, right_anchor="198.18.7.7"), 1.0))
    assert nack.type is MsgType.NACK_LOCK and nack.reason is NackReason.NOT_FOUND


def test_control_garbage_is_observed_not_raised() -> None:
    a, _l, _r = middle_agent()
    for data in (b"", b"\xd1\x5c", b"x" * 600, bytes(80)):
        acts = a.handle(ControlIn(C, M, data), 1.0)
        assert observed(acts, "control.rejected")


def test_replayed_control_message_is_rejected() -> None:
    a, left, _right = middle_agent()
    ev = request_lock(R1, left)
    a.handle(ev, 1.0)
    acts = a.handle(ev, 1.01)
    assert observed(acts, "control.rejected") and controls(acts) == []


# --------------------------------------------------------------------------------- left anchor


def synack_mirror(a: Agent, session: FiveTuple, sub: FiveTuple, now: float) -> None:
    """The session's SYN-ACK reaching the initiator's host (its IN mirror, host view)."""
    synack = Segment(session.reversed(), 5000, 1001, TcpFlags.SYN | TcpFlags.ACK, 65535, SYN_OPTS)
    a.handle(PacketIn(PuntReason.SYNACK_MIRROR, Direction.IN, synack,
                      EntryKey(Direction.IN, sub.reversed())), now)  # fmt: skip


def initiator_with_session(synack: bool = True) -> tuple[Agent, FiveTuple]:
    a = agent(C, (Policy("p", (M,)),))
    acts = a.handle(PacketIn(PuntReason.SYN, Direction.OUT, syn(SESSION)), 0.0)
    sub = of(acts, SendPacket)[0].segment.tuple
    if synack:
        synack_mirror(a, SESSION, sub, 0.01)
    return a, sub


def test_freeze_waits_for_the_sessions_synack() -> None:
    """A request made before the SYN-ACK's mirror arrived (during the handshake, or a mirror
    on its way): the left anchor probes without freezing until the record holds the SYN-ACK
    (its options go into the new path's SYN), then freezes; the SYN says what it learnt."""
    a, sub = initiator_with_session(synack=False)
    [req] = controls(a.handle(Reconfigure(SESSION, S, (), request_tag=3), 1.0))
    acts = a.handle(from_right(MsgType.ACK_LOCK, req.request, sub), 1.1)
    [probe] = of(acts, Probe)
    assert probe.freeze is False
    snap = SlotSnapshot(probe.slot, 1001, None, None, None, None, probe.token)
    acts = a.handle(snap, 1.11)
    assert not of(acts, SendPacket)
    [timer] = [t for t in of(acts, StartTimer) if t.timer_id.kind is TimerKind.LPROBE]
    synack_mirror(a, SESSION, sub, 1.2)
    [probe] = of(a.handle(TimerFired(timer.timer_id), 1.3), Probe)
    assert probe.freeze is True
    snap = SlotSnapshot(probe.slot, 1001, 5001, 1001, None, 1001, probe.token)
    [syn] = [p.segment for p in of(a.handle(snap, 1.31), SendPacket)]
    assert syn.flags is TcpFlags.SYN and syn.options.wscale == SYN_OPTS.wscale
    msg = peer_codec().decode(syn.payload, check_replay=False)
    assert msg.handshake is not None and msg.handshake.wscale_peer == SYN_OPTS.wscale


def test_synack_never_mirrored_goes_on_after_the_deadline_observed_once() -> None:
    """The SYN-ACK's mirror lost for good: past ``anchor_timeout``/2 the left anchor freezes
    with what its record holds, and says so once (``reconfig.handshake_unknown``), not once
    per check of the wait."""
    a, sub = initiator_with_session(synack=False)
    [req] = controls(a.handle(Reconfigure(SESSION, S, (), request_tag=3), 1.0))
    acts = a.handle(from_right(MsgType.ACK_LOCK, req.request, sub), 1.1)
    [probe] = of(acts, Probe)
    past = 1.1 + a.config.anchor_timeout / 2 + 0.01
    seen = []
    for _ in range(4):  # answers without a cutoff, then re-polls, until one freezes
        snap = SlotSnapshot(probe.slot, 1001, None, None, None, None, probe.token)
        acts = a.handle(snap, past)
        seen += observed(acts, "reconfig.handshake_unknown")
        [timer] = [t for t in of(acts, StartTimer) if t.timer_id.kind is TimerKind.LPROBE]
        acts = a.handle(TimerFired(timer.timer_id), past)
        seen += observed(acts, "reconfig.handshake_unknown")
        [probe] = of(acts, Probe)
        if probe.freeze:
            break
    assert probe.freeze is True
    assert len(seen) == 1


def test_reconfigure_unknown_session_is_refused() -> None:
    a = agent(C)
    acts = a.handle(Reconfigure(SESSION, S, (), request_tag=5), 0.0)
    [o] = observed(acts, "reconfig.refused")
    assert o.fields["tag"] == 5


def test_nack_ends_request_as_refused_and_frees_side() -> None:
    a, sub = initiator_with_session()
    [req] = controls(a.handle(Reconfigure(SESSION, S, (), request_tag=9), 1.0))
    assert req.type is MsgType.REQUEST_LOCK and req.subsession == sub
    acts = a.handle(from_right(MsgType.NACK_LOCK, req.request, sub, reason=NackReason.LOCKED), 1.1)
    [o] = observed(acts, "reconfig.refused")
    assert o.fields["tag"] == 9
    assert a.state().locks[sub] == (LockStatus.UNLOCKED.value, None)
    assert a.state().active_reconfigs == 0


def test_lock_timeout_cancels_then_ack_cancel_reports_cancelled() -> None:
    a, sub = initiator_with_session()
    [req] = controls(a.handle(Reconfigure(SESSION, S, (), request_tag=3), 1.0))
    timer = TimerKey.for_request(TimerKind.LOCK, req.request)
    sent: list[ControlMessage] = []
    for i in range(a.config.max_retries + 1):
        sent += controls(a.handle(TimerFired(timer), 2.0 + i))
    assert sum(m.type is MsgType.REQUEST_LOCK for m in sent) == a.config.max_retries
    assert sent[-1].type is MsgType.CANCEL_LOCK
    ack = from_right(MsgType.ACK_CANCEL, req.request, sub)
    [o] = observed(a.handle(ack, 20.0), "reconfig.cancelled")
    assert o.fields["tag"] == 3 and a.state().active_reconfigs == 0


def test_right_request_starts_a_request_with_its_id_once() -> None:
    a, sub = initiator_with_session()
    rid = RequestId(M, 77)
    rr = ControlMessage(
        MsgType.RIGHT_REQUEST, rid, M, left_anchor=C, right_anchor=S, subsession=sub, tag=4
    )
    [req] = controls(a.handle(ControlIn(M, C, msg_bytes(rr)), 1.0))
    assert req.type is MsgType.REQUEST_LOCK and req.request == rid and req.right_anchor == S
    assert controls(a.handle(ControlIn(M, C, msg_bytes(rr)), 1.01)) == []


def test_second_reconfigure_on_busy_side_is_refused() -> None:
    a, _sub = initiator_with_session()
    a.handle(Reconfigure(SESSION, S, (), request_tag=1), 1.0)
    [o] = observed(a.handle(Reconfigure(SESSION, S, (), request_tag=2), 1.0), "reconfig.refused")
    assert o.fields["reason"] == "busy"


def test_box_reinserted_into_same_session_evicts_stale_old_path() -> None:
    a, _left, _right = middle_agent()
    # The box was removed from the session (its old-path state lingers until idle), then is
    # inserted again: a new-path SYN for the same session tuple on another subsession.
    seg = chain_syn("198.18.0.5", M, (S,), sport=22000)
    acts = a.handle(PacketIn(PuntReason.SYN, Direction.IN, seg), 2.0)
    assert of(acts, RemoveEntry), "the stale hop's entries are removed"
    assert of(acts, InstallEntry) and of(acts, SendPacket)[0].toward is Toward.HOST
    assert a.state().sessions == 1
    [view] = a.sessions()
    assert view.left is not None and view.left.subsession == seg.tuple


def test_busy_hop_is_not_evicted() -> None:
    a, left, _right = middle_agent()
    a.handle(request_lock(R1, left, right_anchor=M), 1.0)  # M is right anchor: left side busy
    acts = a.handle(
        PacketIn(PuntReason.SYN, Direction.IN, chain_syn("198.18.0.5", M, (S,), sport=22000)),
        1.1,
    )
    assert observed(acts, "setup.conflict") and not of(acts, InstallEntry)


# ------------------------------------------------------------------ right anchor choice, timers


def test_default_right_anchor_is_the_next_hop_or_the_one_after() -> None:
    """Insert: the new boxes go before the next hop; remove: the next box is spliced out, the
    hop after it (from the chain sent at set-up) anchors; unknown: None."""
    a, sub = initiator_with_session()  # C -> M -> S
    assert a.default_right_anchor(SESSION, ReconfigKind.INSERT) == M
    assert a.default_right_anchor(SESSION, ReconfigKind.REMOVE) == S
    other = FiveTuple(C, 40001, S, 80)
    assert a.default_right_anchor(other, ReconfigKind.INSERT) is None
    direct = agent(C, (Policy("p", ()),))  # no box: nothing after the next hop
    direct.handle(PacketIn(PuntReason.SYN, Direction.OUT, syn(SESSION)), 0.0)
    assert direct.default_right_anchor(SESSION, ReconfigKind.INSERT) == S
    assert direct.default_right_anchor(SESSION, ReconfigKind.REMOVE) is None
    assert sub.dst_ip == M


def test_timer_keys_have_a_stable_text_form() -> None:
    r = RequestId("198.18.0.1", 42)
    for key in (
        TimerKey.for_request(TimerKind.CPROBE, r),
        TimerKey.for_record(TimerKind.CLOSE, 7),
        TimerKey.for_request(TimerKind.DONE, r),
    ):
        assert TimerKey.parse(str(key)) == key
    assert str(TimerKey.for_request(TimerKind.CPROBE, r)) == "cprobe:198.18.0.1/42"
    for bad in ("", "nope:1", "close:x", "lock:42", "lock:/3", "cprobe:a/b"):
        assert TimerKey.parse(bad) is None


def test_reconfiguration_outcome_is_typed() -> None:
    a, _sub = initiator_with_session()
    acts = a.handle(Reconfigure(FiveTuple(C, 1, S, 80), S, (), request_tag=5), 0.0)
    [fin] = of(acts, ReconfigFinished)
    assert (fin.tag, fin.outcome, fin.reason, fin.request) == (
        5,
        Outcome.REFUSED,
        "no-session",
        None,
    )
    assert fin.as_observe().kind == "reconfig.refused" and a.counters["reconfig.refused"] == 1


def test_retransmission_timeout_follows_the_measured_answer_time() -> None:
    """A lock exchange answered after 2 s (a loaded control plane): the next request waits
    about that long before it retransmits, instead of every ``rto`` (RFC 6298), so a slow
    control plane is not flooded with copies; answers never make it shorter than ``rto``."""
    a, sub = initiator_with_session()
    rto = a.config.rto

    def lock_delay(acts: list[Action]) -> float:
        [t] = [x for x in of(acts, StartTimer) if x.timer_id.kind is TimerKind.LOCK]
        return t.delay

    acts = a.handle(Reconfigure(SESSION, S, (), request_tag=1), 1.0)
    [req] = controls(acts)
    assert lock_delay(acts) == rto  # nothing measured yet
    a.handle(from_right(MsgType.ACK_LOCK, req.request, sub), 3.0)  # answered after 2 s
    other = replace(SESSION, src_port=40001)  # a second session, reconfigured next
    acts = a.handle(PacketIn(PuntReason.SYN, Direction.OUT, syn(other)), 4.0)
    synack_mirror(a, other, of(acts, SendPacket)[0].segment.tuple, 4.01)
    acts = a.handle(Reconfigure(other, S, (), request_tag=2), 10.0)
    assert lock_delay(acts) == 2.0 + 4 * 1.0  # SRTT + 4 RTTVAR after one 2 s sample
