"""A closed session's late retransmissions still find its entries (issue 12, rack e2e 8).

On the loaded bmv2 rack a segment can be lost after the mirror that saw it (a FIN forwarded by
the monitor's host never reached the client; the client's last ACK never reached the monitor),
and the senders' retransmission timers back off to seconds. Two agent rules removed the
session before TCP itself would have stopped: the close check gave up after a fixed number of
tries (20 x 0.5 s) although the host's FIN was still unacknowledged, and a session whose last
bytes were acknowledged at this agent lingered only 2 s, less than the peer's next
retransmission after the last ACK was lost further on. Either way the retransmission reached a
host with the subsession's tuple (unrewritten) and drew a RST (docs/testbed.md, Rack).

Each test runs client -> box1 -> server on the simulator, drops segments on one link for a
while (as the loaded switch did, after the hop's mirror), and checks that every segment a
host received carried the session's tuple; then that the state still goes, bounded."""

from __future__ import annotations

from typing import Any

from dysco_proto.actions import Probe, SendPacket, StartTimer
from dysco_proto.agent import Agent, AgentConfig
from dysco_proto.entries import Direction, EntryKey
from dysco_proto.events import PacketIn, PuntReason, SlotSnapshot, TimerFired
from dysco_proto.packet import FiveTuple, Segment, TcpFlags, TcpOptions
from dysco_proto.wire import ControlCodec, ControlMessage, MsgType, RequestId
from tests.proto.test_checkpoint import BOX1, CLIENT, SERVER, SESSION, Run, _build


def _watch(run: Run) -> list[tuple[float, str, Segment]]:
    """Every segment a host's application received with a tuple other than the session's
    (a packet the data plane did not rewrite: a real host answers it with a RST)."""
    raw: list[tuple[float, str, Segment]] = []
    for ip in (CLIENT, BOX1, SERVER):
        host = run.hosts[ip]
        inner = host.app.deliver

        def deliver(seg: Segment, _inner: Any = inner, _ip: str = ip) -> None:
            if seg.tuple not in (SESSION, SESSION.reversed()):
                raw.append((run.engine.now, _ip, seg))
            _inner(seg)

        host.app.deliver = deliver  # type: ignore[method-assign]
    return raw


def _drop(run: Run, to: str, src: str, start: float, end: float) -> list[Segment]:
    """Drop every data segment from ``src`` to ``to`` sent in [start, end) (after the sending
    host's data path, so that hop's mirrors saw it)."""
    dropped: list[Segment] = []
    inner = run.net.send_data

    def send_data(seg: Segment) -> None:
        t = run.engine.now
        if seg.tuple.dst_ip == to and seg.tuple.src_ip == src and start <= t < end:
            dropped.append(seg)
            return
        inner(seg)

    run.net.send_data = send_data  # type: ignore[method-assign]
    return dropped


def _for(run: Run, seconds: float) -> None:
    run.engine.run(run.engine.now + seconds)


def _open(run: Run, rto_max: float) -> None:
    run.client.rto_max = rto_max  # Linux backs off to 120 s; the loaded rack saw 4-13 s
    run.client.connect()
    _for(run, 0.5)
    assert run.client.established and run.server[0].established
    run.server[0].rto_max = rto_max
    for ep in (run.client, run.server[0]):
        ep.max_retries = 15  # Linux tcp_retries2
    run.client.write(b"c" * 20_000)
    run.server[0].write(b"s" * 20_000)
    _for(run, 1.5)


def _records(run: Run) -> list[int]:
    return [len(run.hosts[ip].agent.records) for ip in (CLIENT, BOX1, SERVER)]  # type: ignore[attr-defined]


def test_unacknowledged_fin_keeps_the_entries_past_the_old_close_tries() -> None:
    """The server's FIN (and everything after it) forwarded by box1's host is lost on the way
    to the client for 15 s; the server retransmits it, backing off. Before: box1's and the
    client's agents gave up after 20 checks (10 s) and the retransmission that got through
    reached box1's host raw (the rack's `198.18.3.6.9002 > 198.18.3.1.x [R]`)."""
    run = _build()
    raw = _watch(run)
    _open(run, rto_max=1.6)
    t0 = run.engine.now
    lost = _drop(run, CLIENT, BOX1, t0, t0 + 15.0)
    run.client.close()
    _for(run, 0.1)
    run.server[0].close()
    _for(run, 20.0)
    assert lost and any(s.flags & 1 for s in lost)  # the server's FIN was among them
    assert raw == [], raw[:3]
    assert run.client.done and run.server[0].done
    assert bytes(run.client.received) == b"s" * 20_000
    # the state goes once every byte is acknowledged and the linger is over
    _for(run, AgentConfig.close_linger + 10.0)
    assert _records(run) == [0, 0, 0]


def test_last_ack_lost_after_the_mirror_finds_the_entries_lingering() -> None:
    """The client closed first and its FIN was acknowledged; then the client's acks of the
    server's last data and FIN are lost between box1's host and the server (after box1's
    mirror) for 9 s. The client's and box1's agents saw everything acknowledged and lingered;
    the server's retransmission came ~8 s later (its timer backed off). Before: the linger was
    2 s (longer only after a FIN seen while lingering) and the retransmission reached the
    client's host raw (the rack's `198.18.3.1.x > 198.18.3.6.9002 [R]`). Now the entries stay
    as long as the client's own TIME_WAIT would answer it."""
    run = _build()
    raw = _watch(run)
    _open(run, rto_max=8.0)
    run.client.close()
    _for(run, 1.0)
    t0 = run.engine.now
    lost = _drop(run, SERVER, BOX1, t0, t0 + 9.0)
    run.server[0].write(b"t" * 3_000)
    run.server[0].close()
    _for(run, 30.0)
    assert lost  # the client's acks of the server's last bytes
    assert raw == [], raw[:3]
    assert run.client.done and run.server[0].done
    _for(run, AgentConfig.close_linger + 10.0)
    assert _records(run) == [0, 0, 0]


def test_close_hold_bounds_a_session_whose_fin_is_never_acknowledged() -> None:
    """A peer that never acknowledges (its host gone): the session is held while nothing
    moves for close_hold, then removed and counted (``session.close_gave_up``)."""
    run = _build()
    _open(run, rto_max=1.6)
    t0 = run.engine.now
    _drop(run, CLIENT, BOX1, t0, t0 + 10_000.0)
    run.client.close()
    run.server[0].close()
    _for(run, 30.0)
    box = run.hosts[BOX1].agent
    assert isinstance(box, Agent)
    assert len(box.records) == 1  # its host's FIN towards the client is unacknowledged
    _for(run, AgentConfig.close_hold + 60.0)  # the senders' retries end; then close_hold
    assert _records(run)[1] == 0
    assert box.counters.get("session.close_gave_up") == 1


# ------------------------------------------------------------ bounded lingering (one agent)

C, M, S = "198.18.0.1", "198.18.1.1", "198.18.2.1"
KEY = b"unit-test-key-0123456789abcdef!!"
OPTS = TcpOptions(mss=1460, wscale=7, sack_permitted=True, timestamp=(100, 0))


def _responder(**cfg: Any) -> Agent:
    return Agent(AgentConfig((S,), KEY, seed=7, **cfg))


def _open_at_responder(a: Agent, i: int, now: float) -> tuple[EntryKey, EntryKey, FiveTuple]:
    """Session ``i`` (C:40000+i -> S:80) arriving over M by its chain SYN; its keys."""
    session = FiveTuple(C, 40000 + i, S, 80)
    msg = ControlMessage(MsgType.CHAIN, RequestId(M, 0), M, left_session=session, hops=(),
                         msg_id=1000 + i)  # fmt: skip
    sub = FiveTuple(M, 21000 + i, S, 80)
    seg = Segment(sub, 1000, 0, TcpFlags.SYN, 65535, OPTS, ControlCodec(KEY).encode(msg))
    acts = a.handle(PacketIn(PuntReason.SYN, Direction.IN, seg), now)
    assert [x for x in acts if isinstance(x, SendPacket)], acts
    return EntryKey(Direction.IN, sub), EntryKey(Direction.OUT, session.reversed()), session


def _close_at_responder(a: Agent, i: int, now: float) -> None:
    """Both FINs of session ``i``, then a close check answered "all acknowledged"."""
    in_key, out_key, session = _keys(i)
    fin = Segment(session, 2000, 5000, TcpFlags.FIN | TcpFlags.ACK)
    a.handle(PacketIn(PuntReason.FIN_MIRROR, Direction.IN, fin, in_key), now)
    hfin = Segment(session.reversed(), 5000, 2001, TcpFlags.FIN | TcpFlags.ACK)
    acts = a.handle(PacketIn(PuntReason.FIN_MIRROR, Direction.OUT, hfin, out_key), now)
    [timer] = [x for x in acts if isinstance(x, StartTimer)]
    [probe] = [x for x in a.handle(TimerFired(timer.timer_id), now + 0.5) if isinstance(x, Probe)]
    acts = a.handle(SlotSnapshot(probe.slot, 5001, 2001, 5001, None, None, probe.token), now + 0.6)
    assert [x.delay for x in acts if isinstance(x, StartTimer)] == [a.config.close_linger]


def _keys(i: int) -> tuple[EntryKey, EntryKey, FiveTuple]:
    session = FiveTuple(C, 40000 + i, S, 80)
    sub = FiveTuple(M, 21000 + i, S, 80)
    return EntryKey(Direction.IN, sub), EntryKey(Direction.OUT, session.reversed()), session


def test_lingering_sessions_are_bounded() -> None:
    """Beyond ``max_lingering`` lingering sessions the one that started lingering first goes
    at once, counted (``session.linger_evicted``): a long linger stays bounded."""
    a = _responder(max_lingering=2)
    for i in range(3):
        _open_at_responder(a, i, float(i))
    for i in range(3):
        _close_at_responder(a, i, 10.0 + i)
    assert a.state().sessions == 2 and a.counters.get("session.linger_evicted") == 1
    assert _keys(0)[0] not in a.state().entries and _keys(2)[0] in a.state().entries


def test_a_new_session_takes_the_slot_of_a_lingering_one() -> None:
    """Every register slot held (two here): a lingering session gives its slot to a new
    session instead of the new one being refused (``setup.slots_exhausted``)."""
    a = _responder(slot_limit=3)  # slots 1 and 2
    for i in range(2):
        _open_at_responder(a, i, float(i))
    _close_at_responder(a, 0, 5.0)
    _open_at_responder(a, 2, 7.0)
    assert a.counters.get("setup.slots_exhausted") is None
    assert a.counters.get("session.linger_evicted") == 1 and a.state().sessions == 2


def test_a_new_connection_on_a_lingering_tuple_replaces_it() -> None:
    """The host opens a new connection on the tuple of a closed session that still lingers
    (another ISN: not a retransmitted SYN): a new chain on a new subsession, the old record
    gone (as a SYN ends TIME_WAIT), instead of the old chain SYN sent again."""
    from dysco_proto.policy import Policy, PolicyTable

    a = Agent(AgentConfig((C,), KEY, PolicyTable([Policy("p", (M,))]), seed=7))
    session = FiveTuple(C, 40000, S, 80)
    syn = Segment(session, 1000, 0, TcpFlags.SYN, 65535, OPTS)
    acts = a.handle(PacketIn(PuntReason.SYN, Direction.OUT, syn), 0.0)
    first = next(x for x in acts if isinstance(x, SendPacket)).segment.tuple
    in_key, out_key = EntryKey(Direction.IN, first.reversed()), EntryKey(Direction.OUT, session)
    fin = Segment(session, 2000, 5000, TcpFlags.FIN | TcpFlags.ACK)
    a.handle(PacketIn(PuntReason.FIN_MIRROR, Direction.OUT, fin, out_key), 1.0)
    rfin = Segment(session.reversed(), 5000, 2001, TcpFlags.FIN | TcpFlags.ACK)
    [timer] = [x for x in a.handle(PacketIn(PuntReason.FIN_MIRROR, Direction.IN, rfin, in_key), 1.0)
               if isinstance(x, StartTimer)]  # fmt: skip
    [probe] = [x for x in a.handle(TimerFired(timer.timer_id), 1.5) if isinstance(x, Probe)]
    a.handle(SlotSnapshot(probe.slot, 2001, 5001, 2001, None, None, probe.token), 1.6)
    assert a.records[next(iter(a.records))].lingering
    new_syn = Segment(session, 9000, 0, TcpFlags.SYN, 65535, OPTS)  # another ISN
    acts = a.handle(PacketIn(PuntReason.SYN, Direction.OUT, new_syn, out_key), 5.0)
    [new] = [x.segment.tuple for x in acts if isinstance(x, SendPacket)]
    assert new != first and a.state().sessions == 1
    assert a.counters.get("session.new") == 2


def test_a_chain_syn_copy_before_the_entry_is_installed_is_a_retransmission() -> None:
    """The left neighbour's chain SYN sent again reaches the responder's agent before the
    device holds the IN entry the first copy installed (punted without an entry key, as on
    the loaded rack). It is delivered again; the side stays. Before: the copy evicted the
    fresh side as a stale one and re-created it, and the peer's ACK and data arriving between
    the entries' removal and re-installation reached the server raw (26 RSTs in one run)."""
    a = _responder()
    _open_at_responder(a, 0, 0.0)
    session = FiveTuple(C, 40000, S, 80)
    msg = ControlMessage(MsgType.CHAIN, RequestId(M, 0), M, left_session=session, hops=(),
                         msg_id=5000)  # fmt: skip
    sub = FiveTuple(M, 21000, S, 80)
    seg = Segment(sub, 1000, 0, TcpFlags.SYN, 65535, OPTS, ControlCodec(KEY).encode(msg))
    acts = a.handle(PacketIn(PuntReason.SYN, Direction.IN, seg), 0.1)  # no entry key
    assert not [x for x in acts if type(x).__name__ == "RemoveEntry"], acts
    [out] = [x for x in acts if isinstance(x, SendPacket)]
    assert out.segment.tuple == session and a.state().sessions == 1
