"""A session whose agent saw only one of its FINs is watched, not kept until idle (issue 12).

On the loaded bmv2 rack the client's agent got the mirror of its host's FIN but not the one
of the server's FIN (mirrors are best-effort copies): the close check never started there
and the session held its register slot, and was picked by reconfiguration selectors, until
its entries' idle timeout (300 s on the rack, 3,600 s by default). Now the agent watches a
half-closed session: it probes the sides soon after the first FIN (the baseline), then every
``close_hold``, and removes the session when nothing moved since the previous check
(``session.half_close_gave_up``). A half-closed session still carrying data one way moves
and stays; the second FIN's mirror arriving late starts the normal close.

client -> box1 -> server on the simulator (tests/proto/test_checkpoint.py's run)."""

from __future__ import annotations

import json
from typing import Any

from dysco_proto.actions import Probe, StartTimer
from dysco_proto.agent import Agent, AgentConfig
from dysco_proto.checkpoint import export_state, restore_state
from dysco_proto.entries import Direction
from dysco_proto.events import Event, PacketIn, PuntReason, SlotSnapshot, TimerFired
from dysco_proto.packet import Segment, TcpFlags
from dysco_proto.sim.network import Host
from dysco_proto.timers import TimerKind
from tests.proto.test_checkpoint import BOX1, CLIENT, SERVER, Run, _agent, _build
from tests.proto.test_close_after_loss import (
    _for,
    _open_at_responder,
    _records,
    _responder,
    _watch,
)

HOLD = AgentConfig.close_hold


def _lose_server_fin_mirror(run: Run, until: float = float("inf")) -> list[tuple[Host, Event]]:
    """The client's agent does not get the mirror of the server's FIN (an IN FIN_MIRROR)
    before ``until``; the lost events are returned (to deliver late)."""
    lost: list[tuple[Host, Event]] = []
    inner = run.net.handle

    def handle(host: Host, event: Event) -> None:
        if (
            host.ip == CLIENT
            and isinstance(event, PacketIn)
            and event.reason is PuntReason.FIN_MIRROR
            and event.direction is Direction.IN
            and run.engine.now < until
        ):
            lost.append((host, event))
            return
        inner(host, event)

    run.net.handle = handle  # type: ignore[method-assign]
    return lost


def _removed(run: Run) -> list[tuple[float, str, str, str]]:
    return [o for o in run.observed if o[2] == "session.removed"]


def _client_agent(run: Run) -> Agent:
    agent = run.hosts[CLIENT].agent
    assert isinstance(agent, Agent)
    return agent


def _open(run: Run) -> None:
    run.client.connect()
    _for(run, 0.5)
    assert run.client.established and run.server[0].established
    run.client.write(b"c" * 20_000)
    run.server[0].write(b"s" * 20_000)
    _for(run, 1.5)


def _close_both(run: Run, settle: float) -> None:
    """The client closes, the server 0.1 s later; then ``settle`` seconds pass."""
    run.client.close()
    _for(run, 0.1)
    run.server[0].close()
    _for(run, settle)


def test_a_lost_fin_mirror_does_not_keep_the_session_until_idle() -> None:
    """The client's agent never gets the mirror of the server's FIN. Before: the session
    stayed live there (not closing) until its entries' idle timeout. Now it goes about
    close_hold after the client's FIN (baseline check, then one check finding nothing
    moved); the other agents close it normally; every byte arrives, nothing raw."""
    run = _build()
    raw = _watch(run)
    lost = _lose_server_fin_mirror(run)
    _open(run)
    t_fin = run.engine.now
    _close_both(run, settle=5.0)
    assert lost, "the server's FIN mirror was not lost at the client's agent"
    assert run.client.done and run.server[0].done
    assert bytes(run.client.received) == b"s" * 20_000
    assert bytes(run.server[0].received) == b"c" * 20_000
    agent = _client_agent(run)
    [rec] = agent.records.values()
    assert not rec.closing and rec.fin_lr and not rec.fin_rl
    _for(run, HOLD - 10.0)
    assert _records(run)[0] == 1  # not before close_hold
    _for(run, t_fin + 2 * HOLD + 1.0 - run.engine.now)  # at most one more check
    assert _records(run) == [0, 0, 0]
    assert agent.counters.get("session.half_close_gave_up") == 1
    assert (CLIENT, "half-close-hold") in [(o[1], o[3]) for o in _removed(run)]
    # the others closed normally: their close check and linger, no half-close give-up
    assert [o for o in run.observed if o[2] == "session.half_close_gave_up"] == [
        o for o in run.observed if o[2] == "session.half_close_gave_up" and o[1] == CLIENT
    ]
    assert {(o[1], o[3]) for o in _removed(run)} == {
        (CLIENT, "half-close-hold"),
        (BOX1, "closed"),
        (SERVER, "closed"),
    }
    assert raw == [], raw[:3]


def test_a_half_closed_session_carrying_data_stays() -> None:
    """The client shuts its direction (``shutdown(SHUT_WR)``); the server goes on sending for
    longer than 2 x close_hold. The session is never removed while its bytes move (at any
    agent); every byte arrives; the server's close then closes it normally."""
    run = _build()
    raw = _watch(run)
    _open(run)
    run.client.close()
    _for(run, 1.0)
    chunks = int(2.5 * HOLD / 10.0)
    for _ in range(chunks):
        run.server[0].write(b"t" * 500)
        _for(run, 10.0)
        assert _records(run) == [1, 1, 1]
    assert bytes(run.client.received) == b"s" * 20_000 + b"t" * 500 * chunks
    run.server[0].close()
    _for(run, 5.0)
    assert run.client.done and run.server[0].done
    assert all(r.closing for r in _client_agent(run).records.values())
    _for(run, AgentConfig.close_linger + 10.0)
    assert _records(run) == [0, 0, 0]
    assert not [o for o in run.observed if o[2] == "session.half_close_gave_up"]
    assert {o[3] for o in _removed(run)} == {"closed"}
    assert raw == [], raw[:3]


def test_a_late_second_fin_mirror_takes_the_normal_close() -> None:
    """The mirror of the server's FIN reaches the client's agent 60 s late (after the watch
    started and took its baseline): the normal close follows (closing, the close check,
    close_linger), not the half-close give-up."""
    run = _build()
    raw = _watch(run)
    _open(run)
    late = 60.0
    lost = _lose_server_fin_mirror(run, until=run.engine.now + late)
    _close_both(run, settle=late - 0.1)
    assert lost and run.client.done and run.server[0].done
    agent = _client_agent(run)
    [rec] = agent.records.values()
    assert not rec.closing and rec.close_seen  # watched: the baseline check was answered
    for host, event in lost:
        run.net.handle(host, event)
    assert rec.closing
    _for(run, 5.0)
    assert rec.lingering and _records(run)[0] == 1
    _for(run, AgentConfig.close_linger - 10.0)
    assert _records(run)[0] == 1  # still lingering
    _for(run, 20.0)
    assert _records(run) == [0, 0, 0]
    assert not [o for o in run.observed if o[2] == "session.half_close_gave_up"]
    assert {o[3] for o in _removed(run)} == {"closed"}
    assert bytes(run.client.received) == b"s" * 20_000
    assert raw == [], raw[:3]


def test_a_restored_half_closed_session_is_watched() -> None:
    """A checkpoint of a half-closed session (one FIN seen) restores its watch: the close
    timer is armed again, and the session goes once nothing moves."""
    run = _build()
    _lose_server_fin_mirror(run)
    _open(run)
    _close_both(run, settle=5.0)
    old = _client_agent(run)
    data: dict[str, Any] = json.loads(json.dumps(export_state(old)))
    fresh = _agent(CLIENT, 1)
    actions = restore_state(fresh, data)
    assert export_state(fresh) == data
    assert [a.timer_id.kind for a in actions if isinstance(a, StartTimer)] == [TimerKind.CLOSE]
    host = run.hosts[CLIENT]
    host.agent = fresh
    host.timers.clear()
    run.net.execute(host, actions)
    _for(run, 2 * HOLD + 1.0)
    assert _records(run) == [0, 0, 0]
    assert fresh.counters.get("session.half_close_gave_up") == 1


def test_a_fin_seen_again_is_a_sign_of_life() -> None:
    """At one agent, unit level: the peer's FIN only, its registers never move. The FIN
    seen again between two checks keeps the session one more close_hold; the next check
    finding nothing moved removes it."""
    a = _responder()
    in_key, _out_key, session = _open_at_responder(a, 0, 0.0)
    fin = Segment(session, 2000, 5000, TcpFlags.FIN | TcpFlags.ACK)
    snap = (5000, 2001, 5000)  # sent_hi, ack_hi, rcvd_ack_hi: the same at every check

    def check(now: float) -> list[float]:
        """Fire the close timer, answer its probe; the delays of the timers started."""
        [probe] = [x for x in a.handle(TimerFired(timer), now) if isinstance(x, Probe)]
        acts = a.handle(SlotSnapshot(probe.slot, *snap, None, None, probe.token), now)
        return [x.delay for x in acts if isinstance(x, StartTimer)]

    acts = a.handle(PacketIn(PuntReason.FIN_MIRROR, Direction.IN, fin, in_key), 1.0)
    [timer] = [x.timer_id for x in acts if isinstance(x, StartTimer)]
    assert check(1.5) == [HOLD]  # the baseline
    a.handle(PacketIn(PuntReason.FIN_MIRROR, Direction.IN, fin, in_key), 50.0)
    assert check(1.5 + HOLD) == [HOLD]  # the FIN again: still at it
    assert a.state().sessions == 1
    assert check(1.5 + 2 * HOLD) == []
    assert a.state().sessions == 0 and a.counters.get("session.half_close_gave_up") == 1


def test_a_lost_close_probe_answer_does_not_stop_the_close() -> None:
    """Both FINs seen; the answer to the client's agent's first close probe is lost (probe
    replies are packet-ins, which a loaded switch drops). Before: that agent waited for it
    with no timer armed and kept the session until idle. Now the check is repeated after the
    close back-off, and the session closes normally (lingers, then goes)."""
    run = _build()
    raw = _watch(run)
    _open(run)
    agent = _client_agent(run)
    lost: list[SlotSnapshot] = []
    inner = run.net.handle

    def handle(host: Host, event: Event) -> None:
        if (
            host.ip == CLIENT
            and isinstance(event, SlotSnapshot)
            and agent.tokens.get(event.token, ("",))[0] == "close"
            and not lost
        ):
            lost.append(event)
            return
        inner(host, event)

    run.net.handle = handle  # type: ignore[method-assign]
    _close_both(run, settle=10.0)
    assert lost, "no close probe answer was lost at the client's agent"
    assert run.client.done and run.server[0].done
    [rec] = agent.records.values()
    assert rec.closing and rec.lingering
    _for(run, AgentConfig.close_linger + 10.0)
    assert _records(run) == [0, 0, 0]
    assert {o[3] for o in _removed(run)} == {"closed"}
    assert raw == [], raw[:3]
