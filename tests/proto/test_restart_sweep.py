"""An agent restarted (from its checkpoint, timers lost) at any moment of a live
reconfiguration keeps the session (docs/controller.md, Restart): on the simulator, a session
client -> box1 -> box2 -> server has box2 removed (left anchor client, right anchor box1);
the client, box1 or box2 is restarted every 0.5 ms through the first 30 ms of it (20 ms
until a right anchor after a hold drained its host's bytes before its ackLock moved the
commit later). Every
byte arrives both ways, FIN teardown completes, no TCP violation; the reconfiguration
completes, is cancelled, or (dropped by a restarted left anchor before it committed) times
out at the other agents. Before reconfigurations past the point where the other
anchor may act on them were resumed (checkpoint.LEFT_RESUMED / RIGHT_RESUMED) rather than
dropped, restarts of the client while committing or of box1 after answering the new-path
SYN left the session unable to close."""

from __future__ import annotations

import json

import pytest

from dysco_proto.agent import Agent
from dysco_proto.checkpoint import export_state, restore_state
from dysco_proto.events import ReconfigKind, Reconfigure
from tests.proto.test_checkpoint import BOX1, BOX2, CLIENT, SESSION, Run, _agent, _build, _phase1

C2S = 256 * 200 + len(b"during-insert") * 1000 + len(b"after") * 3000
S2C = 30_000 + 10_000


def _restart(run: Run, ip: str, seed: int) -> None:
    host = run.hosts[ip]
    assert isinstance(host.agent, Agent)
    data = json.loads(json.dumps(export_state(host.agent)))
    fresh = _agent(ip, seed)
    actions = restore_state(fresh, data)
    host.agent = fresh
    host.timers.clear()  # the old process's timers are gone
    run.net.execute(host, actions)


@pytest.mark.parametrize(("ip", "seed"), [(CLIENT, 1), (BOX1, 2), (BOX2, 3)])
def test_restart_at_any_moment_of_a_reconfiguration_keeps_the_session(ip: str, seed: int) -> None:
    outcomes = set()
    for k in range(60):
        run = _build()
        _phase1(run)
        t0 = run.engine.now
        run.hosts[CLIENT].command(Reconfigure(SESSION, BOX1, (), ReconfigKind.REMOVE, 2))
        run.client.write(b"after" * 3000)
        run.server[0].write(b"t" * 10_000)
        run.engine.run(t0 + k * 0.0005)
        _restart(run, ip, seed)
        run.engine.run(t0 + 6.0)
        run.client.close()
        run.server[0].close()
        run.engine.run(t0 + 16.0)
        at = f"{ip} restarted {k * 0.5} ms into the removal"
        assert len(run.server[0].received) == C2S and len(run.client.received) == S2C, at
        assert run.client.done and run.server[0].done, at
        assert not [o for o in run.observed if o[2] == "violation"], at
        ends = [o[2] for o in run.observed if o[0] >= t0 and o[1] == CLIENT]
        end = next(
            (e for e in reversed(ends) if e in ("reconfig.completed", "reconfig.cancelled")), None
        )
        outcomes.add(end)  # None: the restarted left anchor dropped it before committing
    assert "reconfig.completed" in outcomes  # the sweep reaches past the commit
