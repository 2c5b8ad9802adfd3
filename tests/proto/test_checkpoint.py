"""Agent checkpoint/restore (dysco_proto.checkpoint) on the simulator.

A chained session (client -> box1 -> server) is set up, carries data and is reconfigured once
(box2 inserted). Then every agent is exported to JSON and replaced by a fresh agent restored
from it (its pending timers lost, as in a controller restart). The run goes on: a second
reconfiguration (box2 removed) and the FIN teardown. A twin run without the restart must
produce exactly the same observations and bytes.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

from dysco_proto.actions import Action
from dysco_proto.agent import Agent, AgentConfig
from dysco_proto.checkpoint import CheckpointError, export_state, restore_state
from dysco_proto.datapath import DataPath
from dysco_proto.events import ReconfigKind, Reconfigure
from dysco_proto.packet import FiveTuple
from dysco_proto.policy import Policy, PolicyTable, PortRange
from dysco_proto.sim.boxes import Transparent
from dysco_proto.sim.engine import Engine
from dysco_proto.sim.network import Host, Network
from dysco_proto.sim.tcp import EndpointStack, TcpEndpoint

CLIENT, BOX1, BOX2, SERVER = "10.1.0.1", "10.1.0.2", "10.1.0.3", "10.1.0.4"
KEY = bytes(range(16))
SESSION = FiveTuple(CLIENT, 40000, SERVER, 80)


def _agent(ip: str, i: int) -> Agent:
    pol = (
        PolicyTable([Policy("p", chain=(BOX1,), dport=PortRange(80, 80))]) if ip == CLIENT else None
    )
    return Agent(
        AgentConfig(
            addresses=(ip,),
            key=KEY,
            policies=pol or PolicyTable(),
            seed=i,
            msg_id_base=i << 24,
        )
    )


@dataclass
class Run:
    engine: Engine
    net: Network
    hosts: dict[str, Host]
    client: TcpEndpoint
    server: list[TcpEndpoint]
    observed: list[tuple[float, str, str, str]]


def _build(extra_boxes: tuple[str, ...] = ()) -> Run:
    """Client, box1, box2 (stateful firewalls: strict conntrack), server, and ``extra_boxes``
    (more such boxes); the client's policy chains box1."""
    engine = Engine()
    observed: list[tuple[float, str, str, str]] = []
    net = Network(
        engine,
        random.Random(1),
        on_observe=lambda h, o: observed.append(
            (engine.now, h.ip, o.kind, str(o.fields.get("outcome", o.fields.get("reason", ""))))
        ),
    )
    hosts = {
        ip: net.add_host(ip, _agent(ip, i + 1), DataPath([ip]))
        for i, ip in enumerate((CLIENT, BOX1, BOX2, SERVER, *extra_boxes))
    }
    for box in (BOX1, BOX2, *extra_boxes):
        hosts[box].app = Transparent(box, hosts[box].emit)
    servers: list[TcpEndpoint] = []
    sstack = EndpointStack()

    def accept(syn: Any) -> TcpEndpoint:
        ep = TcpEndpoint(
            engine,
            local=(SERVER, 80),
            remote=(syn.tuple.src_ip, syn.tuple.src_port),
            isn=77,
            emit=hosts[SERVER].emit,
            violation=lambda m: observed.append((engine.now, SERVER, "violation", m)),
        )
        servers.append(ep)
        return ep

    sstack.listen(80, accept)
    hosts[SERVER].app = sstack
    client = TcpEndpoint(
        engine,
        local=(CLIENT, 40000),
        remote=(SERVER, 80),
        isn=0xFFFF_FF00,
        emit=hosts[CLIENT].emit,
        violation=lambda m: observed.append((engine.now, CLIENT, "violation", m)),
    )
    cstack = EndpointStack()
    cstack.add(client)
    hosts[CLIENT].app = cstack
    return Run(engine, net, hosts, client, servers, observed)


def record_actions(agent: Agent) -> list[Action]:
    """Every action ``agent`` returns from now on (its ``handle`` wrapped)."""
    out: list[Action] = []
    inner = agent.handle

    def handle(ev: Any, now: float) -> list[Action]:
        got = inner(ev, now)
        out.extend(got)
        return got

    agent.handle = handle  # type: ignore[method-assign]
    return out


def _phase1(run: Run) -> None:
    """Set-up, data, one completed insertion; ends quiescent (no reconfiguration in flight)."""
    run.client.connect()
    run.engine.run(0.5)
    assert run.client.established and run.server[0].established
    run.client.write(bytes(range(256)) * 200)
    run.server[0].write(b"s" * 30_000)
    run.engine.run(1.0)
    run.hosts[CLIENT].command(Reconfigure(SESSION, BOX1, (BOX2,), ReconfigKind.INSERT, 1))
    run.client.write(b"during-insert" * 1000)
    run.engine.run(3.0)
    assert any(k == "reconfig.completed" for _t, _h, k, _r in run.observed)


def _phase2(run: Run) -> None:
    """A second reconfiguration (remove box2), more data, FIN teardown."""
    run.hosts[CLIENT].command(Reconfigure(SESSION, BOX1, (), ReconfigKind.REMOVE, 2))
    run.client.write(b"after" * 3000)
    run.server[0].write(b"t" * 10_000)
    run.engine.run(6.0)
    run.client.close()
    run.server[0].close()
    run.engine.run(10.0 + AgentConfig.close_linger)  # closed sessions linger (TIME_WAIT)


def _restart_all(run: Run) -> list[dict[str, Any]]:
    """Replace every agent by one restored from its JSON checkpoint (timers lost)."""
    snaps = []
    for i, ip in enumerate((CLIENT, BOX1, BOX2, SERVER)):
        host = run.hosts[ip]
        assert isinstance(host.agent, Agent)
        data = json.loads(json.dumps(export_state(host.agent)))
        snaps.append(data)
        fresh = _agent(ip, i + 1)
        actions = restore_state(fresh, data)
        assert export_state(fresh) == data  # restore is faithful
        host.agent = fresh
        host.timers.clear()  # the old process's timers are gone
        run.net.execute(host, actions)
    return snaps


def _outcome(run: Run, since: float) -> tuple[Any, ...]:
    return (
        [o for o in run.observed if o[0] >= since],
        bytes(run.client.received),
        bytes(run.server[0].received),
        run.client.done,
        run.server[0].done,
        [len(h.datapath.entries) for h in run.hosts.values()],  # type: ignore[attr-defined]
        [len(h.agent.records) for h in run.hosts.values()],  # type: ignore[attr-defined]
    )


def test_restored_agents_continue_identically() -> None:
    twin, restarted = _build(), _build()
    _phase1(twin)
    _phase1(restarted)
    t = restarted.engine.now
    snaps = _restart_all(restarted)
    assert any(s["hops"] for s in snaps) and not any(s["dropped_reconfigs"] for s in snaps)
    _phase2(twin)
    _phase2(restarted)
    got, want = _outcome(restarted, t), _outcome(twin, t)
    assert got == want
    kinds = [k for _t, h, k, _r in got[0] if h == CLIENT]
    assert kinds.count("reconfig.completed") == 1  # the removal, after the restart
    assert got[3] and got[4]  # FIN both ways
    assert not [o for o in got[0] if o[2] == "violation"]
    # torn down on the final path; box2 (spliced out, it saw no FIN) waits for idle entries
    assert got[6] == [0, 0, 1, 0] and got[5][:2] == [0, 0] and got[5][3] == 0


def test_restore_refuses_foreign_or_used_agents() -> None:
    run = _build()
    _phase1(run)
    agent = run.hosts[BOX1].agent
    assert isinstance(agent, Agent)
    data = export_state(agent)
    try:
        restore_state(_agent(BOX2, 9), data)
    except CheckpointError:
        pass
    else:
        raise AssertionError("restored another address's checkpoint")
    try:
        restore_state(agent, data)
    except CheckpointError:
        pass
    else:
        raise AssertionError("restored into a used agent")


def test_in_flight_reconfiguration_is_dropped_and_reverted() -> None:
    run = _build()
    _phase1(run)
    run.hosts[CLIENT].command(Reconfigure(SESSION, BOX1, (), ReconfigKind.REMOVE, 2))
    run.engine.run(run.engine.now + 0.0005)  # lock requested, nothing committed yet
    host = run.hosts[CLIENT]
    assert isinstance(host.agent, Agent) and host.agent.lefts
    data = json.loads(json.dumps(export_state(host.agent)))
    assert data["dropped_reconfigs"]
    fresh = _agent(CLIENT, 1)
    actions = restore_state(fresh, data)
    side = fresh.right_by_stuple[SESSION]
    assert side.busy is None and side.lock.free
    host.agent = fresh
    host.timers.clear()
    run.net.execute(host, actions)
    run.client.write(b"x" * 5000)
    run.engine.run(run.engine.now + 5)  # the peers time out and release their locks
    assert len(run.server[0].received) == len(run.client._sbuf)
    run.hosts[CLIENT].command(Reconfigure(SESSION, BOX1, (), ReconfigKind.REMOVE, 3))
    run.engine.run(run.engine.now + 3)
    assert [o for o in run.observed if o[2] == "reconfig.completed"][-1][1] == CLIENT


def test_a_sides_fin_end_survives_a_restart() -> None:
    """The end of the peer's FIN a side's close check waits for (its host's ack of it) is
    kept: a restored agent does not close a session whose host has not acknowledged it."""
    run = _build()
    _phase1(run)
    agent = run.hosts[BOX1].agent
    assert isinstance(agent, Agent)
    side = next(s for rec in agent.records.values() for s in rec.sides())
    side.fin_in_end = 0xFFFF_FFF0
    data = json.loads(json.dumps(export_state(agent)))
    fresh = _agent(BOX1, 2)
    restore_state(fresh, data)
    got = [s.fin_in_end for rec in fresh.records.values() for s in rec.sides()]
    assert 0xFFFF_FFF0 in got and export_state(fresh) == data
