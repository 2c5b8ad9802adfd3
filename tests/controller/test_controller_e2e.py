"""Four controllers over real gRPC against the reference pipeline: a chained session set up by
policy, moved data, two concurrent reconfigurations from different left anchors with a lossy
peer channel, outcomes through the management API, every byte delivered intact.

Topology (one device and one controller each; ``tests/e2e_support.py`` wires them)::

    sw1: client 10.0.1.1, box3 10.0.1.3 (NAT, spare)   sw2: box1 10.0.2.1 (transparent)
    sw3: box2 10.0.3.1 (transparent)                    sw4: server 10.0.4.1

Policy at sw1: port 80 -> [box1, box2]. Then, concurrently: the client's controller removes
box1 (right anchor box2) and box2's controller inserts box3 before the server. Final path:
client -> box2 -> box3 -> server.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from controller.cli import main as cli_main
from controller.mgmt import MgmtClient
from controller.peers import Impairments
from dysco_proto.actions import Outcome
from dysco_proto.sim.boxes import Nat, Transparent
from tests.e2e_support import AsyncClock, Device, Net, client_and_server, stream, until

CLIENT, BOX3, BOX1, BOX2, SERVER = "10.0.1.1", "10.0.1.3", "10.0.2.1", "10.0.3.1", "10.0.4.1"
POLICY = f"policies:\n  - {{name: web, match: {{dport: 80}}, chain: [{BOX1}, {BOX2}]}}\n"
SESSION = f"{CLIENT}:40000->{SERVER}:80"


def _mgmt(d: Device) -> MgmtClient:
    assert d.daemon is not None
    m = d.daemon.config.management
    return MgmtClient.from_files(m.socket, m.token_file, timeout=60)


def test_chain_reconfigured_concurrently_with_lossy_peers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(asyncio.wait_for(chain_scenario(lambda loop: Net(tmp_path, loop), capsys), 90))


async def chain_scenario(
    make_net: Callable[[asyncio.AbstractEventLoop], Net], capsys: pytest.CaptureFixture[str]
) -> None:
    """The scenario of this module on the devices ``make_net`` builds (the reference model
    here, real bmv2 switches in ``bmv2_tests/test_controller_bmv2.py``)."""
    up = stream(b"client", 300_000)
    down = stream(b"server", 120_000)
    loop = asyncio.get_running_loop()
    net = make_net(loop)
    sw1 = net.add_device("sw1", [("client", CLIENT), ("box3", BOX3)])
    sw2 = net.add_device("sw2", [("box1", BOX1)])
    sw3 = net.add_device("sw3", [("box2", BOX2)])
    sw4 = net.add_device("sw4", [("server", SERVER)])
    for d in net.devices.values():
        net.start_server(d)
    try:
        for i, d in enumerate(net.devices.values()):
            await net.start_daemon(
                d,
                POLICY if d is sw1 else "",
                Impairments(loss=0.2, dup=0.05, reorder=0.05, seed=i + 1),
            )
        for d in net.devices.values():
            daemon = d.daemon
            assert daemon is not None
            writer = daemon.writer
            await until(lambda: writer.pending == 0, 5, "static entries")  # noqa: B023

        observed: list[tuple[str, str, dict[str, Any]]] = []
        for d in net.devices.values():
            assert d.daemon is not None
            d.daemon.observers.append(
                lambda k, f, n=d.name: observed.append((n, k, f))  # type: ignore[misc]
            )
        clock = AsyncClock(loop)
        violations: list[str] = []
        # hosts
        box1 = Transparent(BOX1, net.emitter(sw2, sw2.hosts[0]))
        box2 = Transparent(BOX2, net.emitter(sw3, sw3.hosts[0]))
        box3 = Nat(BOX3, net.emitter(sw1, sw1.hosts[1]))
        sw2.apps[1], sw3.apps[1], sw1.apps[3] = box1, box2, box3
        client, server_eps = client_and_server(
            net, clock, violations, (sw1, 0, CLIENT), (sw4, 0, SERVER), client_isn=0xFFFF_F000
        )  # the client's ISN wraps during the transfer

        # set-up by policy, then some data both ways on the original chain
        client.connect()
        await until(lambda: client.established and bool(server_eps), 10, "handshake")
        server = server_eps[0]
        await until(lambda: server.established, 10, "server established")
        client.write(up[:60_000])
        server.write(down[:30_000])
        await until(lambda: len(server.received) >= 60_000, 20, "first data")
        assert bytes(server.received) == up[:60_000]
        assert box1.forwarded > 0 and box2.forwarded > 0

        # keep data flowing while the chain changes
        async def pump() -> None:
            for off in range(60_000, len(up), 6_000):
                client.write(up[off : off + 6_000])
                k = off // 4
                if k < len(down):
                    server.write(down[max(30_000, k) : k + 1_500])
                await asyncio.sleep(0.02)

        pumping = asyncio.create_task(pump())
        await asyncio.sleep(0.1)
        remove = asyncio.to_thread(
            _mgmt(sw1).call,
            "reconfig",
            {"kind": "remove", "session": SESSION, "right_anchor": BOX2, "timeout": 30},
        )
        insert = asyncio.to_thread(
            _mgmt(sw3).call,
            "reconfig",
            {"kind": "insert", "session": SESSION, "boxes": [BOX3], "timeout": 30},
        )
        r_remove, r_insert = await asyncio.gather(remove, insert)
        if any(r["results"][0]["outcome"] != "completed" for r in (r_remove, r_insert)):
            for d in net.devices.values():
                assert d.daemon is not None
                print(d.name, d.daemon.agent.reconfigs(), d.daemon.counter_dict())
                print(d.name, [o for o in observed if o[0] == d.name][-40:])
        for r in (r_remove, r_insert):
            assert r["total"] == 1 and r["results"][0]["outcome"] == "completed", r
        await pumping
        server.write(down[len(up) // 4 :] if len(up) // 4 < len(down) else b"")
        client.close()
        server.close()
        await until(
            lambda: len(server.received) == len(up) and len(client.received) == len(down),
            30,
            "all data",
        )
        assert bytes(server.received) == up
        assert bytes(client.received) == down
        await until(lambda: client.done and server.done, 10, "FIN both ways")
        assert not violations, violations
        assert box3.forwarded > 0  # the new path carried data

        # the chain as the controllers report it (management API through the CLI)
        def cli(*args: str) -> tuple[int, Any]:
            rc = cli_main(list(args))
            out, _err = capsys.readouterr()
            return rc, json.loads(out) if out.strip() else None

        assert sw1.daemon is not None and sw3.daemon is not None
        rc, sessions = await loop.run_in_executor(
            None, cli, "sessions", "--json", "--config", str(sw1.config_path)
        )
        assert rc == 0
        mine = [s for s in sessions if s["session"] == SESSION]
        if mine:  # may already be gone after the FINs (close timer)
            assert mine[0]["right_peer"] == BOX2
        counters = sw1.daemon.counter_dict()
        assert counters["handler_errors"] == 0
        assert counters["reconfig_outcomes"].get("completed") == 1
        assert sw3.daemon.counters.reconfig_outcomes.get("completed") == 1
        outcomes = {o.value for o in Outcome}  # not the right anchors' observations
        for d in net.devices.values():
            if d.daemon is not None:
                assert set(d.daemon.counters.reconfig_outcomes) <= outcomes, d.name
        sample = sw1.daemon.metrics.registry.get_sample_value
        assert sample("dysco_reconfigs_total", {"device": "sw1", "outcome": "completed"}) == 1
        assert sample("dysco_reconfig_seconds_count", {"device": "sw1"}) == 1
        total_lost = sum(
            d.daemon.peers.stats.dropped_injected
            for d in net.devices.values()
            if d.daemon is not None
        )
        assert total_lost > 0  # the peer channel did lose messages
        # teardown: the controllers on the final path remove the session after the close
        # timer; box1's (spliced out, it saw no FIN) keeps it until its entries go idle
        on_path = [sw1, sw3, sw4]
        await until(
            lambda: all(d.daemon is not None and not d.daemon.shadow for d in on_path),
            10,
            "entries removed after close",
        )
        assert sw2.daemon is not None and len(sw2.daemon.agent.records) == 1
        for d in net.devices.values():
            assert d.daemon is not None and d.daemon.counters.handler_errors == 0
            assert d.daemon.counters.untranslatable_packet_ins == 0, d.daemon.counters
    finally:
        await net.stop()
