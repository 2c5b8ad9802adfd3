"""The anchors' phase table (``dysco_proto/phase_table.py``) and the agent checked against it.

Scenarios run real agents (C - M - S, C removes M: S is the right anchor; or M asks C with a
rightRequest) on the model driver, with faults: control messages of a type dropped, probe
answers held back (a snapshot that does not allow the step yet), messages injected
(duplicates, cancels, refusals), the session removed in a given phase. Every agent's
``handle`` goes through :class:`~dysco_proto.model.phase_link.PhaseRecorder`: each step must be
a row that starts in the request's phase, the phases after the call must be what the rows
give, and each row's visible actions must be among the call's actions. Each scenario names
the rows it must take; together with the simulator runs they take every row of the table.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import pytest

from dysco_proto.agent import Agent, Side
from dysco_proto.entries import Direction
from dysco_proto.events import (
    Event,
    PacketIn,
    PuntReason,
    Reconfigure,
    RemoveMe,
    SlotSnapshot,
    TimerFired,
)
from dysco_proto.model import phase_doc
from dysco_proto.model.driver import KEY, ChainSession, Host, chain_session, write
from dysco_proto.model.phase_link import PhaseRecorder, check_step, phases
from dysco_proto.packet import Segment, TcpFlags
from dysco_proto.phase_table import (
    TABLE,
    Guard,
    LeftPhase,
    RequesterPhase,
    RightPhase,
    Role,
    Row,
    Trigger,
    check_table,
    row_for,
)
from dysco_proto.ports import PortsExhausted
from dysco_proto.timers import TimerKey, TimerKind
from dysco_proto.wire import ControlCodec, ControlMessage, MsgType, NackReason, RequestId

T, G = Trigger, Guard
L, R, Q = Role.LEFT, Role.RIGHT, Role.REQUESTER
FAKE = "198.18.9.9"  # sender of injected messages (its own replay window at the receiver)
_ids = itertools.count(1)


class Rig:
    """C - M - S with every agent watched, message filters, snapshot holds and injections."""

    def __init__(self, rec: PhaseRecorder, server_data: bool = True) -> None:
        self.cs: ChainSession = chain_session(1)
        self.drv = drv = self.cs.driver
        self.c, self.m, self.s = self.cs.client, self.cs.boxes[0], self.cs.server
        self.codec = ControlCodec(KEY)
        self.drop: set[MsgType] = set()
        self.drop_new_syn = False
        self.hold: dict[str, set[str]] = {}  # host ip -> probe purposes answered "not yet"
        self.syns: list[Segment] = []  # new-path SYNs sent (to deliver again)
        for h in drv.hosts.values():
            rec.watch(h.agent, h.ip)
        send_control, send_data, handle = drv._send_control, drv._send_data, drv.handle

        def control(a: object) -> None:
            m = self.codec.decode(a.data, check_replay=False)  # type: ignore[attr-defined]
            if m.type not in self.drop:
                send_control(a)  # type: ignore[arg-type]

        def data(seg: Segment) -> None:
            syn = seg.flags & TcpFlags.SYN and not seg.flags & TcpFlags.ACK and seg.payload
            if syn and seg.tuple.dst_ip == self.s.ip:
                self.syns.append(seg)
                if self.drop_new_syn:
                    return
            send_data(seg)

        def on_event(host: Host, event: Event) -> None:
            if isinstance(event, SlotSnapshot) and host.ip in self.hold:
                purpose = host.agent.tokens.get(event.token, ("",))[0]
                if purpose in self.hold[host.ip] or (event.token == 0 and self.hold[host.ip]):
                    event = replace(event, cut=None, ack_hi=None, rcvd_ack_hi=None)
            handle(host, event)

        drv._send_control = control  # type: ignore[method-assign]
        drv._send_data = data  # type: ignore[method-assign]
        drv.handle = on_event  # type: ignore[method-assign]
        for i in range(40):
            write(self.cs, 0.05 + 0.01 * i, b"c" * 200)
        if server_data:
            for i in range(40):
                self.drv.engine.at(0.05 + 0.01 * i, lambda _: self._server_write())

    def _server_write(self) -> None:
        if self.cs.s_ep is not None:
            self.cs.s_ep.write(b"s" * 200)

    # --- driving ---------------------------------------------------------------------------

    def reconfigure(self, at: float = 0.1) -> None:
        """C removes M (right anchor S)."""
        ev = Reconfigure(self.cs.session, self.s.ip, (), request_tag=7)
        self.drv.engine.at(at, lambda e: self.drv.handle(self.c, e), ev)

    def remove_me(self, at: float = 0.1) -> None:
        """M asks C to remove it (rightRequest)."""
        ev = RemoveMe(self.cs.session, request_tag=8)
        self.drv.engine.at(at, lambda e: self.drv.handle(self.m, e), ev)

    def until(self, cond: Callable[[], bool], limit: float = 6.0) -> None:
        """Run until ``cond()`` holds (fails the test if it never does)."""
        while not cond():
            assert self.drv.now < limit, "the scenario never reached its state"
            self.drv.run(self.drv.now + 0.002)

    def run(self, until: float) -> None:
        self.drv.run(until)

    def left(self) -> LeftPhase | None:
        las = list(self.c.agent.lefts.values())
        return las[0].phase if las else None

    def right(self) -> RightPhase | None:
        ras = list(self.s.agent.rights.values())
        return ras[0].phase if ras else None

    def request(self) -> RequestId:
        las = list(self.c.agent.lefts.values())
        if las:
            return las[0].request
        return next(iter(self.s.agent.rights.values())).request

    # --- faults ----------------------------------------------------------------------------

    def inject(self, host: Host, msg: ControlMessage) -> None:
        """Deliver a crafted control message to ``host`` now."""
        data = self.codec.encode(replace(msg, sender=FAKE, msg_id=next(_ids)))
        from dysco_proto.events import ControlIn

        self.drv.handle(host, ControlIn(FAKE, host.ip, data))

    def lock_msg(self, mtype: MsgType, r: RequestId, sub: object, **kw: object) -> ControlMessage:
        return ControlMessage(
            mtype,
            r,
            FAKE,
            left_anchor=self.c.ip,
            right_anchor=self.s.ip,
            subsession=sub,  # type: ignore[arg-type]
            **kw,  # type: ignore[arg-type]
        )

    def c_side(self) -> Side:
        return next(iter(self.c.agent.right_by_stuple.values()))

    def s_side(self) -> Side:
        return next(iter(self.s.agent.left_by_stuple.values()))

    def remove_session(self, host: Host) -> None:
        """A RST at ``host``, then its close timer: the session (every side) is removed."""
        agent: Agent = host.agent
        for hop in list(agent.records.values()):
            side = hop.sides()[0]
            seg = Segment(side.stuple, 1, 0, TcpFlags.RST | TcpFlags.ACK, 0)
            self.drv.handle(host, PacketIn(PuntReason.RST_MIRROR, Direction.OUT, seg, side.out_key))
            self.drv.handle(host, TimerFired(TimerKey.for_record(TimerKind.CLOSE, hop.id)))
        assert not agent.records


# --- scenarios ------------------------------------------------------------------------------


@dataclass
class Scenario:
    name: str
    run: Callable[[Rig], None]
    rows: list[tuple[Role, str, Trigger, Guard]] = field(default_factory=list)
    server_data: bool = True


SCENARIOS: list[Scenario] = []


def scenario(*rows: tuple[Role, object, Trigger, Guard] | tuple[Role, object, Trigger]) -> Callable:
    def deco(fn: Callable[[Rig], None]) -> Callable[[Rig], None]:
        keys = []
        for row in rows:
            role, phase, trig = row[0], row[1], row[2]
            guard = row[3] if len(row) > 3 else Guard.ANY  # type: ignore[misc]
            keys.append((role, phase.value, trig, guard))  # type: ignore[attr-defined]
        SCENARIOS.append(Scenario(fn.__name__, fn, keys))  # type: ignore[arg-type]
        return fn

    return deco


@scenario(
    (L, LeftPhase.IDLE, T.RECONFIGURE),
    (L, LeftPhase.LOCKING, T.ACK_LOCK),
    (L, LeftPhase.PREPARING, T.SNAP_CUT),
    (L, LeftPhase.COMMITTING, T.SNAP_COMMIT),
    (L, LeftPhase.COMMITTED, T.ACK_ACK),
    (L, LeftPhase.SWITCHED, T.SNAP_CHECK),
    (R, RightPhase.IDLE, T.REQUEST_LOCK),
    (R, RightPhase.LOCKED, T.NEW_PATH_SYN),
    (R, RightPhase.PREPARING, T.SNAP_CUT),
    (R, RightPhase.SYN_RCVD, T.ACK_MSG),
    (R, RightPhase.SWITCHED, T.SNAP_CHECK),
)
def completes(rig: Rig) -> None:
    rig.reconfigure()
    rig.run(2.0)
    assert [k for _h, k, _t in rig.cs.outcomes()] == ["reconfig.completed"]


@scenario(
    (L, LeftPhase.PREPARING, T.SNAP_CUT, G.NOT_YET),
    (L, LeftPhase.PREPARING, T.TIMER_LPROBE),
    (L, LeftPhase.PREPARING, T.SESSION_REMOVED),
)
def left_removed_while_preparing(rig: Rig) -> None:
    rig.hold[rig.c.ip] = {"syn"}
    rig.reconfigure()
    rig.until(lambda: rig.left() is LeftPhase.PREPARING)
    rig.run(rig.drv.now + 0.1)
    rig.remove_session(rig.c)


@scenario(
    (L, LeftPhase.LOCKING, T.TIMER_LOCK, G.RETRY),
    (L, LeftPhase.LOCKING, T.TIMER_LOCK, G.GIVE_UP),
    (L, LeftPhase.CANCELLING, T.TIMER_CANCEL, G.RETRY),
    (L, LeftPhase.CANCELLING, T.TIMER_CANCEL, G.GIVE_UP),
)
def left_gives_up_locking_then_cancelling(rig: Rig) -> None:
    rig.drop |= {MsgType.REQUEST_LOCK, MsgType.ACK_CANCEL}
    rig.reconfigure()
    rig.run(8.0)
    assert [k for _h, k, _t in rig.cs.outcomes()] == ["reconfig.cancelled"]


@scenario((L, LeftPhase.LOCKING, T.SESSION_REMOVED))
def left_removed_while_locking(rig: Rig) -> None:
    rig.drop.add(MsgType.REQUEST_LOCK)
    rig.reconfigure()
    rig.until(lambda: rig.left() is LeftPhase.LOCKING)
    rig.remove_session(rig.c)


@scenario((L, LeftPhase.LOCKING, T.NACK_LOCK, G.ABANDONED))
def left_refused_as_abandoned(rig: Rig) -> None:
    rig.drop.add(MsgType.REQUEST_LOCK)
    rig.reconfigure()
    rig.until(lambda: rig.left() is LeftPhase.LOCKING)
    nack = rig.lock_msg(
        MsgType.NACK_LOCK, rig.request(), rig.c_side().sub, reason=NackReason.POLICY
    )
    rig.inject(rig.c, nack)
    assert rig.left() is None and rig.cs.outcomes() == []


@scenario(
    (L, LeftPhase.CANCELLING, T.NACK_LOCK),
    (L, LeftPhase.CANCELLING, T.NACK_LOCK, G.ABANDONED),
    (L, LeftPhase.CANCELLING, T.SESSION_REMOVED),
)
def left_refused_or_removed_while_cancelling(rig: Rig) -> None:
    rig.drop |= {MsgType.REQUEST_LOCK, MsgType.ACK_CANCEL}
    for i, reason in enumerate((NackReason.LOCKED, NackReason.POLICY, None)):
        rig.reconfigure(rig.drv.now + 0.01)
        rig.until(lambda: rig.left() is LeftPhase.CANCELLING, limit=6.0 * (i + 1))
        if reason is None:
            rig.remove_session(rig.c)
        else:
            nack = rig.lock_msg(MsgType.NACK_LOCK, rig.request(), rig.c_side().sub, reason=reason)
            rig.inject(rig.c, nack)
        assert rig.left() is None


@scenario((L, LeftPhase.LOCKING, T.ACK_LOCK, G.NO_PORT))
def left_without_a_port(rig: Rig) -> None:
    def exhausted(*_a: object) -> int:
        raise PortsExhausted("test")

    rig.c.agent.ports.allocate = exhausted  # type: ignore[method-assign]
    rig.reconfigure()
    rig.until(lambda: rig.left() is LeftPhase.CANCELLING)


@scenario(
    (L, LeftPhase.SYN_SENT, T.TIMER_SYN, G.RETRY),
    (L, LeftPhase.SYN_SENT, T.TIMER_SYN, G.GIVE_UP),
)
def left_new_path_syn_lost(rig: Rig) -> None:
    rig.c.agent.config = replace(rig.c.agent.config, hold_timeout=100.0)
    rig.drop_new_syn = True
    rig.reconfigure()
    rig.until(lambda: rig.left() is LeftPhase.CANCELLING)


@scenario(
    (L, LeftPhase.SYN_SENT, T.TIMER_SYN, G.HELD_TOO_LONG),
    (R, RightPhase.LOCKED, T.CANCEL_LOCK),
)
def left_holds_too_long_before_the_synack(rig: Rig) -> None:
    rig.c.agent.config = replace(rig.c.agent.config, syn_retries=1000)
    rig.drop_new_syn = True
    rig.reconfigure()
    rig.until(lambda: rig.left() is LeftPhase.CANCELLING)
    rig.run(rig.drv.now + 0.5)


@scenario((L, LeftPhase.SYN_SENT, T.SESSION_REMOVED), (R, RightPhase.LOCKED, T.SESSION_REMOVED))
def removed_while_the_syn_is_lost(rig: Rig) -> None:
    rig.drop_new_syn = True
    rig.reconfigure()
    rig.until(lambda: rig.left() is LeftPhase.SYN_SENT and rig.right() is RightPhase.LOCKED)
    rig.remove_session(rig.c)
    rig.remove_session(rig.s)


@scenario(
    (L, LeftPhase.COMMITTING, T.SNAP_COMMIT, G.NOT_YET),
    (L, LeftPhase.COMMITTING, T.TIMER_CPROBE),
    (L, LeftPhase.COMMITTING, T.TIMER_CPROBE, G.HELD_TOO_LONG),
    (R, RightPhase.SYN_RCVD, T.CANCEL_LOCK),
)
def left_commit_waits_too_long(rig: Rig) -> None:
    rig.hold[rig.c.ip] = {"commit"}
    rig.reconfigure()
    rig.until(lambda: rig.left() is LeftPhase.CANCELLING)
    rig.run(rig.drv.now + 0.5)


@scenario(
    (L, LeftPhase.COMMITTING, T.SNAP_COMMIT, G.HELD_TOO_LONG),
    (R, RightPhase.SYN_RCVD, T.CANCEL_LOCK),
)
def left_commit_answer_comes_back_too_late(rig: Rig) -> None:
    """The commit probe's answer arrives after hold_timeout (a loaded device's writer held
    the probe behind its writes): cancel, never commit late (docs/testbed.md, "Sessions lost
    under load")."""
    handle, late = rig.drv.handle, rig.c.agent.config.hold_timeout + 0.1

    def slow(host: Host, event: Event) -> None:
        if host is rig.c and isinstance(event, SlotSnapshot):
            purpose = host.agent.tokens.get(event.token, ("",))[0]
            if purpose == "commit":
                rig.drv.engine.after(late, lambda e: handle(host, e), event)
                return
        handle(host, event)

    rig.drv.handle = slow  # type: ignore[method-assign]
    rig.reconfigure()
    rig.until(lambda: rig.left() is LeftPhase.CANCELLING, limit=late + 4.0)
    rig.run(rig.drv.now + 0.5)
    assert rig.right() is None and [k for _h, k, _t in rig.cs.outcomes()] == ["reconfig.cancelled"]


@scenario((L, LeftPhase.COMMITTING, T.SESSION_REMOVED), (R, RightPhase.SYN_RCVD, T.SESSION_REMOVED))
def removed_while_committing(rig: Rig) -> None:
    rig.hold[rig.c.ip] = {"commit"}
    rig.reconfigure()
    rig.until(lambda: rig.left() is LeftPhase.COMMITTING and rig.right() is RightPhase.SYN_RCVD)
    rig.remove_session(rig.c)
    rig.remove_session(rig.s)


@scenario((L, LeftPhase.COMMITTED, T.TIMER_ACK), (L, LeftPhase.COMMITTED, T.SESSION_REMOVED))
def left_removed_while_committed(rig: Rig) -> None:
    rig.drop.add(MsgType.ACK_ACK)
    rig.reconfigure()
    rig.until(lambda: rig.left() is LeftPhase.COMMITTED)
    rig.run(rig.drv.now + 0.3)
    rig.remove_session(rig.c)


@scenario(
    (L, LeftPhase.SWITCHED, T.SNAP_CHECK, G.NOT_YET),
    (L, LeftPhase.SWITCHED, T.TIMER_PROBE),
    (L, LeftPhase.SWITCHED, T.SESSION_REMOVED),
    (R, RightPhase.SWITCHED, T.SNAP_CHECK, G.NOT_YET),
    (R, RightPhase.SWITCHED, T.TIMER_RPROBE),
    (R, RightPhase.SWITCHED, T.REQUEST_LOCK),
    (R, RightPhase.SWITCHED, T.NEW_PATH_SYN),
    (R, RightPhase.SWITCHED, T.CANCEL_LOCK),
    (R, RightPhase.SWITCHED, T.ACK_MSG),
    (R, RightPhase.SWITCHED, T.SESSION_REMOVED),
)
def switched_but_not_drained(rig: Rig) -> None:
    rig.hold[rig.c.ip] = {"check"}
    rig.hold[rig.s.ip] = {"rcheck"}
    rig.reconfigure()
    rig.until(lambda: rig.left() is LeftPhase.SWITCHED and rig.right() is RightPhase.SWITCHED)
    rig.run(rig.drv.now + 0.2)
    r, sub = rig.request(), rig.s_side().sub
    rig.inject(rig.s, rig.lock_msg(MsgType.REQUEST_LOCK, r, sub))
    rig.inject(rig.s, rig.lock_msg(MsgType.CANCEL_LOCK, r, sub))
    rig.drv._send_data(rig.syns[-1])  # the new-path SYN again
    cut = rig.c.agent.lefts[r].cut
    rig.inject(rig.s, ControlMessage(MsgType.ACK, r, FAKE, left_anchor=rig.c.ip, cutoff=cut))
    rig.run(rig.drv.now + 0.01)
    assert rig.right() is RightPhase.SWITCHED
    rig.remove_session(rig.c)
    rig.remove_session(rig.s)


@scenario(
    (R, RightPhase.PREPARING, T.TIMER_RSPROBE),
    (R, RightPhase.PREPARING, T.REQUEST_LOCK),
    (R, RightPhase.PREPARING, T.TIMER_RANCHOR),
)
def right_times_out_preparing(rig: Rig) -> None:
    rig.hold[rig.s.ip] = {"rsyn"}
    rig.drop.add(MsgType.CANCEL_LOCK)
    rig.reconfigure()
    rig.until(lambda: rig.right() is RightPhase.PREPARING)
    rig.run(rig.drv.now + 0.1)
    rig.inject(rig.s, rig.lock_msg(MsgType.REQUEST_LOCK, rig.request(), rig.s_side().sub))
    rig.until(lambda: rig.right() is None)


@scenario((R, RightPhase.PREPARING, T.CANCEL_LOCK))
def right_cancelled_preparing(rig: Rig) -> None:
    rig.hold[rig.s.ip] = {"rsyn"}
    rig.reconfigure()
    rig.until(lambda: rig.right() is RightPhase.PREPARING)
    rig.until(lambda: rig.right() is None)  # the left anchor holds too long and cancels


@scenario((R, RightPhase.PREPARING, T.SESSION_REMOVED))
def right_removed_preparing(rig: Rig) -> None:
    rig.hold[rig.s.ip] = {"rsyn"}
    rig.reconfigure()
    rig.until(lambda: rig.right() is RightPhase.PREPARING)
    rig.remove_session(rig.s)


@scenario((R, RightPhase.LOCKED, T.TIMER_RANCHOR))
def right_times_out_locked(rig: Rig) -> None:
    rig.drop_new_syn = True  # the new-path SYN never comes, nor the left anchor's cancel
    rig.drop.add(MsgType.CANCEL_LOCK)
    rig.reconfigure()
    rig.until(lambda: rig.right() is RightPhase.LOCKED)
    rig.until(lambda: rig.right() is None)


@scenario(
    (R, RightPhase.SYN_RCVD, T.REQUEST_LOCK),
    (R, RightPhase.SYN_RCVD, T.TIMER_RANCHOR),
    (R, RightPhase.IDLE, T.REQUEST_LOCK, G.BUSY),
)
def right_times_out_waiting_for_the_ack(rig: Rig) -> None:
    rig.drop.add(MsgType.ACK)
    rig.reconfigure()
    rig.until(lambda: rig.right() is RightPhase.SYN_RCVD)
    r, sub = rig.request(), rig.s_side().sub
    rig.inject(rig.s, rig.lock_msg(MsgType.REQUEST_LOCK, r, sub))
    other = RequestId(rig.c.ip, r.number + 1)
    rig.inject(rig.s, rig.lock_msg(MsgType.REQUEST_LOCK, other, sub))
    rig.until(lambda: rig.right() is None)


@scenario(
    (Q, RequesterPhase.IDLE, T.REMOVE_ME),
    (Q, RequesterPhase.WAITING, T.TIMER_RR, G.RETRY),
    (Q, RequesterPhase.WAITING, T.TIMER_RR, G.GIVE_UP),
)
def requester_gives_up(rig: Rig) -> None:
    rig.drop.add(MsgType.RIGHT_REQUEST)
    rig.remove_me()
    rig.run(8.0)
    assert [k for _h, k, _t in rig.cs.outcomes()] == ["reconfig.cancelled"]


@scenario(
    (Q, RequesterPhase.WAITING, T.NACK_LOCK),
    (Q, RequesterPhase.WAITING, T.SESSION_REMOVED),
)
def requester_refused_from_the_right_or_removed(rig: Rig) -> None:
    rig.drop.add(MsgType.RIGHT_REQUEST)
    for removed in (False, True):
        rig.remove_me(rig.drv.now + 0.01)
        rig.until(lambda: bool(rig.m.agent.right_requests))
        if removed:
            rig.remove_session(rig.m)
        else:
            [rr] = rig.m.agent.right_requests.values()
            # refused by its left neighbour
            nack = rig.lock_msg(MsgType.NACK_LOCK, rr.request, rr.side.sub, reason=NackReason.BUSY)
            rig.inject(rig.m, nack)
        assert not rig.m.agent.right_requests


@scenario(
    (L, LeftPhase.IDLE, T.RIGHT_REQUEST),
    (Q, RequesterPhase.WAITING, T.REQUEST_LOCK),
)
def requester_taken_up(rig: Rig) -> None:
    rig.remove_me()
    rig.run(2.0)
    assert [k for _h, k, _t in rig.cs.outcomes()] == ["reconfig.completed"]


# --- tests ----------------------------------------------------------------------------------


def test_table_is_consistent() -> None:
    check_table()
    assert len({row.key for row in TABLE}) == len(TABLE)


def test_mutated_table_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    import dysco_proto.phase_table as pt

    table = pt.TABLE

    def without(*keys: tuple[Role, str, Trigger, Guard]) -> tuple[Row, ...]:
        return tuple(row for row in table if row.key not in keys)

    cases: list[tuple[tuple[Row, ...], str]] = [
        ((*table, table[0]), "duplicate"),
        (without((L, "committed", T.SESSION_REMOVED, G.ANY)), "no row for a removed session"),
        (without((L, "committing", T.SNAP_COMMIT, G.ANY)), "unreachable phases"),
        ((*table, Row(R, RightPhase.DONE, T.ACK_MSG, G.RETRY, (), RightPhase.LOCKED)), "leaves"),
        ((*table, Row(L, LeftPhase.IDLE, T.ACK_MSG, G.ANY, (), RightPhase.LOCKED)), "another"),
    ]
    for mutated, message in cases:
        monkeypatch.setattr(pt, "TABLE", mutated)
        with pytest.raises(ValueError, match=message):
            pt.check_table()


@pytest.fixture(scope="module")
def coverage() -> PhaseRecorder:
    return PhaseRecorder(KEY)


@pytest.mark.parametrize("sc", SCENARIOS, ids=[s.name for s in SCENARIOS])
def test_scenario_takes_its_rows_and_only_rows(sc: Scenario, coverage: PhaseRecorder) -> None:
    rec = PhaseRecorder(KEY)
    sc.run(Rig(rec, sc.server_data))
    assert not rec.divergences, "\n".join(str(d) for d in rec.divergences[:10])
    taken = {row.key for row in rec.covered}
    missing = [k for k in sc.rows if k not in taken]
    assert not missing, f"rows not taken: {missing}"
    coverage.covered.update(rec.covered)


def test_the_simulator_follows_the_table(coverage: PhaseRecorder) -> None:
    """The simulator's random workload (losses, duplicates, reordering, failures, proxies)."""
    from dysco_proto.sim.runner import SIM_KEY, Simulation, default_agent
    from dysco_proto.sim.scenario import SimParams

    rec = PhaseRecorder(SIM_KEY)

    def factory(spec, policies, index, params):  # type: ignore[no-untyped-def]
        return rec.watch(default_agent(spec, policies, index, params))

    for seed, p in ((1, 0.0), (2, 0.1)):
        params = SimParams(sessions=20, reconfigs=100, seed=seed, loss=p, dup=p, reorder=p)
        report = Simulation(params, agent_factory=factory).run()
        assert not report.violations, report.violations[:3]
    assert rec.steps > 1000
    assert not rec.divergences, "\n".join(str(d) for d in rec.divergences[:10])
    coverage.covered.update(rec.covered)


def test_every_row_is_taken(coverage: PhaseRecorder) -> None:
    """Runs after the scenarios and the simulator (file order): together, every row."""
    missing = [row.key for row in TABLE if row not in coverage.covered]
    assert not missing, f"{len(missing)} rows never taken: {missing}"


def test_check_catches_a_phase_change_outside_the_table() -> None:
    """The checker is not vacuous: a step the rows do not explain is reported."""
    r = RequestId("198.18.0.1", 5)
    row = row_for(L, LeftPhase.LOCKING, T.ACK_LOCK)
    from dysco_proto.model.phase_link import Emitted

    before = {(L, r): "locking"}
    # the agent went to SYN_SENT although the only row it took leads to PREPARING
    out = check_step(
        "a", Reconfigure(None, ""), before, {(L, r): "syn_sent"}, [(r, row)], Emitted()
    )  # type: ignore[arg-type]
    assert any("rows give preparing" in d.what for d in out)
    assert any("no action for" in d.what for d in out)  # nothing was emitted
    # and a phase change with no row at all
    out = check_step("a", Reconfigure(None, ""), before, {(L, r): "committing"}, [], Emitted())  # type: ignore[arg-type]
    assert out and "locking -> committing" in out[0].what


def test_agent_bug_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    """An agent that skips the table (goes to SWITCHED straight from COMMITTING) is caught."""
    import dysco_proto.agent.left as left_mod

    original = left_mod.LeftAnchorMixin._left_commit

    def skip(self, la):  # type: ignore[no-untyped-def]
        original(self, la)
        la.phase = LeftPhase.SWITCHED  # a phase change the table does not have

    monkeypatch.setattr(left_mod.LeftAnchorMixin, "_left_commit", skip)
    rec = PhaseRecorder(KEY)
    rig = Rig(rec)
    rig.reconfigure()
    rig.run(1.0)
    assert any("rows give committed" in d.what for d in rec.divergences)


def test_phases_view() -> None:
    rec = PhaseRecorder(KEY)
    rig = Rig(rec)
    rig.drop.add(MsgType.REQUEST_LOCK)
    rig.reconfigure()
    rig.until(lambda: rig.left() is LeftPhase.LOCKING)
    assert phases(rig.c.agent) == {(L, rig.request()): "locking"}


def test_doc_phase_table_is_generated_and_fresh() -> None:
    text = phase_doc.DOC.read_text()
    assert phase_doc.update(text) == text, "run python -m dysco_proto.model.phase_doc"
    for role in Role:
        assert "\n".join(phase_doc.diagram(role)) in text
    assert text.count("\n| left |") == sum(row.role is L for row in TABLE)


def test_doc_generator_check_mode(tmp_path: object) -> None:
    from pathlib import Path

    doc = Path(str(tmp_path)) / "d.md"
    doc.write_text(f"x\n{phase_doc.BEGIN}\nold\n{phase_doc.END}\ny\n")
    assert phase_doc.main(["--check", "--doc", str(doc)]) == 1
    assert phase_doc.main(["--doc", str(doc)]) == 0
    assert phase_doc.main(["--check", "--doc", str(doc)]) == 0
    doc.write_text("no markers")
    assert phase_doc.main(["--check", "--doc", str(doc)]) == 2
