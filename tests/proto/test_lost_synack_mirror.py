"""A box inserted on a new path whose SYN-ACK mirror never reached its agent can still anchor
the next reconfiguration with this session's handshake (issue 14, the rack demo's stall).

A mirror is a best-effort copy: bmv2 drops it when the CPU port's queue is full (64 packets,
and the split / unsupported-options punts of a reconfiguration in flight fill it), a hardware
switch when its mirror buffer is. On the rack testbed the monitor inserted next to the client
lost the mirror of the new path's SYN-ACK, then anchored the firewall's replacement: its new-path
SYN said "no window scaling" for the server (the record it would have learnt from that mirror),
the right anchor's SYN-ACK repeated it, and the replacement firewall's conntrack called the
scaled windows that followed out of window and dropped every segment (the client never
finished, no RST). The new path's SYN-ACK is the right anchor's answer to the handshake the SYN
carries (``_ra_send_synack``), so a box on the new path knows its options from the SYN."""

from __future__ import annotations

import random
from typing import Any

import pytest

from dysco_proto.agent import Agent, AgentConfig
from dysco_proto.datapath import DataPath
from dysco_proto.entries import Direction
from dysco_proto.events import PacketIn, PuntReason, ReconfigKind, Reconfigure
from dysco_proto.packet import FiveTuple, Segment, TcpFlags
from dysco_proto.policy import Policy, PolicyTable, PortRange
from dysco_proto.sim.boxes import Transparent
from dysco_proto.sim.engine import Engine
from dysco_proto.sim.network import Network
from dysco_proto.sim.tcp import EndpointStack, TcpEndpoint

CLIENT, BOX1, MON, FW2, SERVER = "10.1.0.1", "10.1.0.2", "10.1.0.3", "10.1.0.5", "10.1.0.4"
KEY = bytes(range(16))
SESSION = FiveTuple(CLIENT, 40000, SERVER, 80)
SERVER_WSCALE = 7  # the simulator's endpoints announce window scale 7


def _agent(ip: str, i: int) -> Agent:
    pol = PolicyTable([Policy("p", chain=(BOX1,), dport=PortRange(80, 80))])
    return Agent(
        AgentConfig(
            addresses=(ip,),
            key=KEY,
            policies=pol if ip == CLIENT else PolicyTable(),
            seed=i,
            msg_id_base=i << 24,
        )
    )


def _run(flow: str, lose: bool) -> dict[str, Any]:
    """``flow`` ``"insert"``: the monitor joins a new path (losing, with ``lose``, its IN
    SYN-ACK mirror of it), then anchors box1's replacement by fw2; ``"setup"``: box1 loses its
    IN SYN-ACK mirror of the session's own handshake, then anchors fw2's insertion before the
    server."""
    engine = Engine()
    observed: list[tuple[str, str]] = []
    net = Network(engine, random.Random(1), on_observe=lambda h, o: observed.append((h.ip, o.kind)))
    ips = (CLIENT, BOX1, MON, FW2, SERVER)
    hosts = {ip: net.add_host(ip, _agent(ip, i + 1), DataPath([ip])) for i, ip in enumerate(ips)}
    boxes = {ip: Transparent(ip, hosts[ip].emit) for ip in (BOX1, MON, FW2)}
    for ip, box in boxes.items():
        hosts[ip].app = box
    servers: list[TcpEndpoint] = []
    sstack = EndpointStack()

    def accept(syn: Any) -> TcpEndpoint:
        ep = TcpEndpoint(
            engine,
            local=(SERVER, 80),
            remote=(syn.tuple.src_ip, syn.tuple.src_port),
            isn=77,
            emit=hosts[SERVER].emit,
            violation=lambda m: observed.append((SERVER, "violation")),
        )
        servers.append(ep)
        return ep

    sstack.listen(80, accept)
    hosts[SERVER].app = sstack
    client = TcpEndpoint(
        engine,
        local=(CLIENT, 40000),
        remote=(SERVER, 80),
        isn=1000,
        emit=hosts[CLIENT].emit,
        violation=lambda m: observed.append((CLIENT, "violation")),
    )
    cstack = EndpointStack()
    cstack.add(client)
    hosts[CLIENT].app = cstack

    lost: list[PacketIn] = []
    loser = hosts[BOX1 if flow == "setup" else MON].agent
    assert isinstance(loser, Agent)
    inner = loser.handle
    losing = [lose]

    def lossy_handle(ev: Any, now: float) -> list[Any]:
        if (
            losing[0]
            and isinstance(ev, PacketIn)
            and ev.reason is PuntReason.SYNACK_MIRROR
            and ev.direction is Direction.IN
        ):
            lost.append(ev)  # the copy the switch dropped; the SYN-ACK itself went on
            return []
        return inner(ev, now)

    loser.handle = lossy_handle  # type: ignore[method-assign]
    synacks: list[Segment] = []
    net_after = net.after_event

    def after(host: Any, event: Any, actions: list[Any]) -> None:
        for a in actions:
            seg = getattr(a, "segment", None)
            if seg is not None and seg.flags & TcpFlags.SYN and seg.flags & TcpFlags.ACK:
                synacks.append(seg)
        if net_after is not None:
            net_after(host, event, actions)

    net.after_event = after

    client.connect()
    engine.run(0.5)
    assert client.established and servers[0].established
    client.write(b"a" * 50_000)
    servers[0].write(b"b" * 50_000)
    engine.run(1.5)
    if flow == "setup":
        losing[0] = False
        synacks.clear()
        hosts[BOX1].command(Reconfigure(SESSION, SERVER, (FW2,), ReconfigKind.INSERT, 1))
        client.write(b"d" * 250_000)
        servers[0].write(b"e" * 200_000)
        engine.run(12.0)
        return _result(observed, BOX1, lost, synacks, client, servers[0], boxes)
    # insert the monitor between the client and box1 (the client anchors)
    hosts[CLIENT].command(Reconfigure(SESSION, BOX1, (MON,), ReconfigKind.INSERT, 1))
    client.write(b"c" * 50_000)
    engine.run(4.0)
    assert [k for h, k in observed if h == CLIENT].count("reconfig.completed") == 1
    # the monitor anchors the replacement of box1 by fw2 (a conntrack as strict as Linux)
    synacks.clear()
    hosts[MON].command(Reconfigure(SESSION, SERVER, (FW2,), ReconfigKind.REPLACE, 2))
    client.write(b"d" * 200_000)
    servers[0].write(b"e" * 200_000)
    engine.run(12.0)
    return _result(observed, MON, lost, synacks, client, servers[0], boxes)


def _result(
    observed: list[tuple[str, str]],
    anchor: str,
    lost: list[PacketIn],
    synacks: list[Segment],
    client: TcpEndpoint,
    server: TcpEndpoint,
    boxes: dict[str, Transparent],
) -> dict[str, Any]:
    return {
        "lost": lost,
        "anchor_done": [k for h, k in observed if h == anchor].count("reconfig.completed"),
        "new_path_synacks": [s for s in synacks if s.tuple.dst_ip == FW2],
        "client_rcvd": len(client.received),
        "server_rcvd": len(server.received),
        "fw2_dropped": boxes[FW2].dropped,
        "violations": [h for h, k in observed if k == "violation"],
    }


@pytest.mark.parametrize("flow", ["insert", "setup"])
def test_lost_synack_mirror_keeps_the_handshake(flow: str) -> None:
    ref, got = _run(flow, lose=False), _run(flow, lose=True)
    assert got["lost"], "the scenario must lose a SYN-ACK mirror"
    for r in (ref, got):
        assert r["anchor_done"] == 1
        (synack,) = r["new_path_synacks"]
        assert synack.options.wscale == SERVER_WSCALE
        assert r["fw2_dropped"] == 0 and not r["violations"]
        assert r["client_rcvd"] == 250_000 and r["server_rcvd"] == 300_000
