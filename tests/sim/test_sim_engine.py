"""Engine, network plumbing and determinism of the simulator (with stand-in agents)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dysco_proto.actions import (
    Action,
    CancelTimer,
    InstallEntry,
    Observe,
    Probe,
    RemoveEntry,
    SendControl,
    StartTimer,
)
from dysco_proto.entries import ZERO, Direction, EntryKey, MappingEntry
from dysco_proto.events import ControlIn, Event, SlotSnapshot, TimerFired
from dysco_proto.packet import FiveTuple
from dysco_proto.sim.engine import Engine
from dysco_proto.sim.network import ChannelParams, Network
from dysco_proto.sim.runner import Simulation
from dysco_proto.sim.scenario import SimParams, build_scenario
from dysco_proto.timers import TimerKey, TimerKind
from tests.sim_fakes import FakeAgent, FakeDataPath, fake_agent, fake_datapath

ROOT = Path(__file__).resolve().parents[2]

T1 = TimerKey.for_record(TimerKind.CLOSE, 1)
T2 = TimerKey.for_record(TimerKind.CLOSE, 2)


def test_engine_orders_by_time_then_fifo() -> None:
    e = Engine()
    seen: list[str] = []
    e.at(2.0, seen.append, "c")
    e.at(1.0, seen.append, "a")
    e.at(1.0, seen.append, "b")
    e.after(0.5, seen.append, "first")
    e.run(10.0)
    assert seen == ["first", "a", "b", "c"]
    assert e.now == 2.0 and e.events == 4


def test_engine_run_until_and_stop() -> None:
    e = Engine()
    seen: list[float] = []

    def tick(_: object) -> None:
        seen.append(e.now)
        if len(seen) == 5:
            e.stop()
        e.after(1.0, tick)

    e.at(0.0, tick)
    e.run(2.5)
    assert seen == [0.0, 1.0, 2.0] and e.now == 2.5
    e.run(100.0)
    assert len(seen) == 5


class ScriptedAgent(FakeAgent):
    """Answers each event with a scripted list of actions."""

    def __init__(self, ip: str, script: dict[type, list[Action]]) -> None:
        super().__init__(ip)
        self.script = script

    def handle(self, event: Event, now: float) -> list[Action]:
        self.events.append((now, event))
        return list(self.script.get(type(event), []))


def _two_hosts(
    channel: ChannelParams, a_script: dict[type, list[Action]]
) -> tuple[Network, ScriptedAgent, FakeAgent, FakeDataPath]:
    import random

    net = Network(Engine(), random.Random(5), channel=channel)
    a = ScriptedAgent("198.18.0.1", a_script)
    b = FakeAgent("198.18.0.2")
    dp = FakeDataPath()
    net.add_host("198.18.0.1", a, dp)
    net.add_host("198.18.0.2", b, FakeDataPath())
    return net, a, b, dp


def test_control_channel_loss_and_duplication() -> None:
    msgs = [SendControl("198.18.0.1", "198.18.0.2", bytes([i % 256])) for i in range(2000)]
    net, _a, b, _ = _two_hosts(ChannelParams(loss=0.1, dup=0.05, reorder=0.2), {})
    net.execute(net.hosts["198.18.0.1"], msgs)
    net.engine.run(10.0)
    st = net.stats
    got = [ev for _, ev in b.events if isinstance(ev, ControlIn)]
    assert st.control_sent == 2000
    assert 120 < st.control_lost < 280 and 50 < st.control_duplicated < 150
    assert len(got) == 2000 - st.control_lost + st.control_duplicated == st.control_delivered
    assert all(ev.src_ip == "198.18.0.1" and ev.dst_ip == "198.18.0.2" for ev in got)
    order = [ev.data[0] for ev in got]
    assert order != sorted(order)  # some were reordered
    # without impairments: all delivered, in order, after exactly one latency
    net2, _, b2, _ = _two_hosts(ChannelParams(), {})
    net2.execute(net2.hosts["198.18.0.1"], msgs[:10])
    net2.engine.run(1.0)
    assert [ev.data for _, ev in b2.events] == [m.data for m in msgs[:10]]
    assert {t for t, _ in b2.events} == {0.001}


def test_timers_restart_cancel_probe_and_entries() -> None:
    key = EntryKey(Direction.OUT, FiveTuple("198.18.0.1", 1, "198.18.0.2", 2))
    entry = MappingEntry(key, FiveTuple("198.18.0.1", 3, "198.18.0.2", 4), ZERO, slot=1)
    script: dict[type, list[Action]] = {
        ControlIn: [
            StartTimer(T1, 0.5),
            StartTimer(T2, 0.1),
            StartTimer(T1, 1.0),  # restart replaces the first
            CancelTimer(T2),
            InstallEntry(entry),
            Probe(1, 42, True, 3),
            Observe("x.y", {"k": 1}),
        ],
        TimerFired: [RemoveEntry(key)],
    }
    net, a, _, dp = _two_hosts(ChannelParams(), script)
    observed: list[str] = []
    net.on_observe = lambda host, obs: observed.append(f"{host.ip} {obs.kind}")
    net.hosts["198.18.0.1"].command(ControlIn("198.18.0.2", "198.18.0.1", b"go"))
    assert key in dp.entries and dp.probes == [(1, 42, True, 3)]
    net.engine.run(5.0)
    kinds = [(round(t, 3), type(ev).__name__) for t, ev in a.events]
    assert kinds == [(0.0, "ControlIn"), (0.0, "SlotSnapshot"), (1.0, "TimerFired")]
    snap = a.events[1][1]
    assert isinstance(snap, SlotSnapshot) and snap.token == 42 and snap.cut == 1
    assert isinstance(a.events[2][1], TimerFired) and a.events[2][1].timer_id == T1
    assert key not in dp.entries
    assert observed == ["198.18.0.1 x.y"]


def test_failed_host_drops_everything() -> None:
    net, _a, b, _ = _two_hosts(ChannelParams(), {})
    net.hosts["198.18.0.2"].failed = True
    net.execute(net.hosts["198.18.0.1"], [SendControl("198.18.0.1", "198.18.0.2", b"x")])
    net.engine.run(1.0)
    assert not b.events and net.stats.dropped_failed == 1


def _fake_run(seed: int) -> dict[str, object]:
    # no offset boxes or proxies: the stand-ins send everything straight to the server
    params = SimParams(
        sessions=12, reconfigs=30, loss=0.1, dup=0.1, reorder=0.2, seed=seed, offset=0, proxy=0
    )
    sim = Simulation(params, agent_factory=fake_agent, datapath_factory=fake_datapath)
    d = sim.run().to_dict()
    d.pop("wall_seconds")
    return d


def test_same_seed_same_report_with_stand_ins() -> None:
    a, b = _fake_run(3), _fake_run(3)
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)
    c = _fake_run(4)
    assert json.dumps(a, sort_keys=True) != json.dumps(c, sort_keys=True)
    # the stand-ins carry the sessions end to end and refuse every request
    assert a["violations"] == [] and a["bytes_delivered"] == a["bytes_sent"]
    assert a["reconfigs_requested"] == 30 == a["reconfigs_refused"]


def test_scenario_is_deterministic_and_well_formed() -> None:
    p = SimParams(sessions=50, reconfigs=300, seed=11)
    s1, s2 = build_scenario(p), build_scenario(p)
    assert s1.sessions == s2.sessions and s1.slots == s2.slots
    assert sum(2 if sl.pair else 1 for sl in s1.slots) == 300
    kinds = {h.ip: h.kind for h in s1.hosts}
    for s in s1.sessions:
        assert len(set(s.chain)) == len(s.chain)
        assert all(kinds[ip] != "proxy" for ip in s.chain[:-1])  # a proxy is always last
        assert all(kinds[ip] not in ("dead", "client", "server") for ip in s.chain)
    assert len({(s.server, s.server_port) for s in s1.sessions}) == 50


@pytest.mark.slow
def test_real_agent_determinism_across_hash_seeds() -> None:
    """Same parameters in two fresh interpreters with different hash seeds: same JSON."""
    outs = []
    for hashseed in ("1", "2"):
        env = dict(os.environ, PYTHONHASHSEED=hashseed)
        proc = subprocess.run(
            [
                sys.executable,
                "-c",
                "import sys; from controller.cli import main; sys.exit(main(sys.argv[1:]))",
                "sim",
                "--sessions",
                "10",
                "--reconfigs",
                "40",
                "--loss",
                "0.05",
                "--dup",
                "0.02",
                "--reorder",
                "0.1",
                "--seed",
                "5",
                "--json",
            ],
            capture_output=True,
            text=True,
            cwd=ROOT,
            env=env,
            timeout=120,
        )
        assert proc.stdout, proc.stderr
        d = json.loads(proc.stdout)
        d.pop("wall_seconds")
        outs.append(json.dumps(d, sort_keys=True))
    assert outs[0] == outs[1]
