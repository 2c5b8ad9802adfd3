"""Per-host agents: one controller runs one agent per host behind its device
(``ports.hosts[*].agent_id``), so the client and the server of one session may sit behind
the same device. Real gRPC to the project's P4Runtime server on the reference pipeline
(``tests/e2e_support.py``)::

    sw1: client 10.0.1.1 (agent 1), server 10.0.1.2 (agent 2)
    sw2: box1 10.0.2.1   sw3: box2 10.0.3.1   sw4: box3 10.0.4.1   (transparent boxes)

Policy at the client: port 80 -> [box1]. The client's agent inserts box2 before box1, the
controller of sw1 is restarted (each agent restored from its own store), then the client's
agent replaces [box2, box1] by box3 (the server's agent the right anchor); every byte
arrives intact both ways.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from controller.daemon import Daemon
from controller.mgmt import MgmtClient
from dysco_proto.sim.boxes import Transparent
from tests.e2e_support import AsyncClock, Device, Net, client_and_server, stream, until

CLIENT, SERVER, BOX1, BOX2, BOX3 = "10.0.1.1", "10.0.1.2", "10.0.2.1", "10.0.3.1", "10.0.4.1"
POLICY = f"policies:\n  - {{name: web, match: {{src: {CLIENT}, dport: 80}}, chain: [{BOX1}]}}\n"
SESSION = f"{CLIENT}:40000->{SERVER}:80"


def _call(d: Device, method: str, params: dict[str, Any]) -> Any:
    assert d.daemon is not None
    m = d.daemon.config.management
    return MgmtClient.from_files(m.socket, m.token_file, timeout=60).call(method, params)


def test_client_and_server_behind_one_device(tmp_path: Path) -> None:
    asyncio.run(asyncio.wait_for(_scenario(tmp_path), 120))


async def _scenario(tmp_path: Path) -> None:
    up = stream(b"client", 240_000)
    down = stream(b"server", 120_000)
    loop = asyncio.get_running_loop()
    net = Net(tmp_path, loop)
    sw1 = net.add_device("sw1", [("client", CLIENT), ("server", SERVER)])
    sw1.per_host = True
    sw2 = net.add_device("sw2", [("box1", BOX1)])
    sw3 = net.add_device("sw3", [("box2", BOX2)])
    sw4 = net.add_device("sw4", [("box3", BOX3)])
    for d in net.devices.values():
        net.start_server(d)
    try:
        for d in net.devices.values():
            await net.start_daemon(d, POLICY if d is sw1 else "")
        for d in net.devices.values():
            daemon = d.daemon
            assert daemon is not None
            await until(lambda: daemon.writer.pending == 0, 5, "static entries")  # noqa: B023
        d1 = sw1.daemon
        assert d1 is not None and sorted(d1.units) == [1, 2]
        assert d1.units[1].addresses == (CLIENT,) and d1.units[2].addresses == (SERVER,)
        assert d1.units[1].checkpoint_path != d1.units[2].checkpoint_path

        clock = AsyncClock(loop)
        violations: list[str] = []
        box1 = Transparent(BOX1, net.emitter(sw2, sw2.hosts[0]))
        box2 = Transparent(BOX2, net.emitter(sw3, sw3.hosts[0]))
        box3 = Transparent(BOX3, net.emitter(sw4, sw4.hosts[0]))
        sw2.apps[1], sw3.apps[1], sw4.apps[1] = box1, box2, box3
        client, server_eps = client_and_server(
            net, clock, violations, (sw1, 0, CLIENT), (sw1, 1, SERVER)
        )

        client.connect()
        await until(lambda: client.established and bool(server_eps), 10, "handshake")
        server = server_eps[0]
        await until(lambda: server.established, 10, "server established")
        client.write(up[:40_000])
        server.write(down[:20_000])
        await until(lambda: len(server.received) >= 40_000, 20, "first data")
        assert box1.forwarded > 0  # through the box behind the other device

        # each agent holds its side of the session, on slots of the one device-wide pool
        c_agent, s_agent = d1.units[1].agent, d1.units[2].agent
        assert [v.right is not None for v in c_agent.sessions()] == [True]
        assert [v.left is not None for v in s_agent.sessions()] == [True]
        slots1 = {e.slot for e in d1.units[1].shadow.values()}
        slots2 = {e.slot for e in d1.units[2].shadow.values()}
        assert slots1 and slots2 and not slots1 & slots2
        listing = await asyncio.to_thread(_call, sw1, "sessions", {})
        assert sorted((s["agent_id"], s["host"]) for s in listing) == [(1, CLIENT), (2, SERVER)]
        only = await asyncio.to_thread(_call, sw1, "sessions", {"agent": SERVER})
        assert [s["host"] for s in only] == [SERVER]
        status = await asyncio.to_thread(_call, sw1, "status", {})
        assert [a["agent_id"] for a in status["agents"]] == [1, 2] and status["sessions"] == 2

        sent = {"up": 40_000, "down": 20_000}

        async def pump(until_up: int) -> None:
            while sent["up"] < until_up:
                client.write(up[sent["up"] : sent["up"] + 5_000])
                sent["up"] += 5_000
                if sent["down"] < len(down) * sent["up"] // len(up):
                    server.write(down[sent["down"] : sent["down"] + 2_500])
                    sent["down"] += 2_500
                await asyncio.sleep(0.02)

        # insert box2 before box1, the client's agent as left anchor
        pumping = asyncio.create_task(pump(100_000))
        await asyncio.sleep(0.05)
        r = await asyncio.to_thread(
            _call,
            sw1,
            "reconfig",
            {"kind": "insert", "session": SESSION, "boxes": [BOX2], "agent": CLIENT,
             "timeout": 30},
        )  # fmt: skip
        assert r["total"] == 1 and r["results"][0]["outcome"] == "completed", r
        await pumping
        await until(lambda: box2.forwarded > 0, 10, "data through the inserted box")

        # restart sw1's controller: each agent comes back from its own store
        entries_before = {aid: dict(u.shadow) for aid, u in d1.units.items()}
        await d1.stop()
        sw1.daemon = None
        assert sw1.config_path is not None
        from controller.config import load_config

        d1 = sw1.daemon = Daemon(load_config(sw1.config_path))
        await d1.start(connect_timeout=10)
        await until(lambda: d1.writer.pending == 0 and d1.in_sync, 10, "restored")
        for aid, before in entries_before.items():
            assert d1.units[aid].shadow == before, aid
        assert d1.counters.restored_sessions == 2

        # after the restart, data still flowing: replace [box2, box1] by box3 (the server's
        # agent is the right anchor)
        pumping = asyncio.create_task(pump(len(up) - 20_000))  # the rest after it
        await asyncio.sleep(0.05)
        r = await asyncio.to_thread(
            _call,
            sw1,
            "reconfig",
            {"kind": "replace", "session": SESSION, "boxes": [BOX3], "agent": CLIENT,
             "right_anchor": SERVER, "timeout": 30},
        )  # fmt: skip
        assert r["total"] == 1 and r["results"][0]["outcome"] == "completed", r
        await pumping
        forwarded = box3.forwarded
        client.write(up[sent["up"] :])
        server.write(down[sent["down"] :])
        client.close()
        server.close()
        try:
            await until(
                lambda: len(server.received) == len(up) and len(client.received) == len(down),
                30,
                "all data",
            )
        except AssertionError:
            print("received", len(server.received), len(up), len(client.received), len(down))
            for d in net.devices.values():
                if d.daemon is not None:
                    for u in d.daemon.units.values():
                        print(d.name, u.agent_id, *u.shadow.values(), sep="\n  ")
                        print(d.name, u.agent_id, *u.agent.sessions(), sep="\n  ")
            raise
        assert bytes(server.received) == up
        assert bytes(client.received) == down
        assert box3.forwarded > forwarded  # the rest went through the box that replaced them
        await until(lambda: client.done and server.done, 10, "FIN both ways")
        assert not violations, violations
        for d in net.devices.values():
            assert d.daemon is not None and d.daemon.counters.handler_errors == 0, d.name
    finally:
        await net.stop()
