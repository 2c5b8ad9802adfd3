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

from typing import Any

import pytest

from dysco_proto.agent import Agent
from dysco_proto.entries import Direction
from dysco_proto.events import PacketIn, PuntReason, ReconfigKind, Reconfigure
from dysco_proto.packet import Segment, TcpFlags
from dysco_proto.sim.boxes import Transparent
from tests.proto.test_checkpoint import BOX1, CLIENT, SERVER, SESSION, Run, _build
from tests.proto.test_checkpoint import BOX2 as MON

FW2 = "10.1.0.5"
SERVER_WSCALE = 7  # the simulator's endpoints announce window scale 7


def _run(flow: str, lose: bool) -> dict[str, Any]:
    """``flow`` ``"insert"``: the monitor joins a new path (losing, with ``lose``, its IN
    SYN-ACK mirror of it), then anchors box1's replacement by fw2; ``"setup"``: box1 loses its
    IN SYN-ACK mirror of the session's own handshake, then anchors fw2's insertion before the
    server."""
    run = _build(extra_boxes=(FW2,))
    lost: list[PacketIn] = []
    loser = run.hosts[BOX1 if flow == "setup" else MON].agent
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

    def after(host: Any, event: Any, actions: list[Any]) -> None:
        for a in actions:
            seg = getattr(a, "segment", None)
            if seg is not None and seg.flags & TcpFlags.SYN and seg.flags & TcpFlags.ACK:
                synacks.append(seg)

    run.net.after_event = after
    run.client.connect()
    run.engine.run(0.5)
    assert run.client.established and run.server[0].established
    run.client.write(b"a" * 50_000)
    run.server[0].write(b"b" * 50_000)
    run.engine.run(1.5)
    losing[0] = False
    if flow == "setup":
        anchor, right, boxes, kind = BOX1, SERVER, (FW2,), ReconfigKind.INSERT
    else:
        # insert the monitor between the client and box1 (the client anchors; mirror lost)
        losing[0] = lose
        run.hosts[CLIENT].command(Reconfigure(SESSION, BOX1, (MON,), ReconfigKind.INSERT, 1))
        run.client.write(b"c" * 50_000)
        run.engine.run(4.0)
        losing[0] = False
        assert _completed(run, CLIENT) == 1
        # the monitor anchors the replacement of box1 by fw2 (conntrack as strict as Linux)
        anchor, right, boxes, kind = MON, SERVER, (FW2,), ReconfigKind.REPLACE
    synacks.clear()
    run.hosts[anchor].command(Reconfigure(SESSION, right, boxes, kind, 2))
    run.engine.run(10.0)  # done (a record without the SYN-ACK: its wait ends at 5 s)
    run.client.write(b"d" * (200_000 if flow == "insert" else 250_000))
    run.server[0].write(b"e" * 200_000)
    run.engine.run(16.0)
    fw2 = run.hosts[FW2].app
    assert isinstance(fw2, Transparent)
    return {
        "lost": lost,
        "anchor_done": _completed(run, anchor),
        "new_path_synacks": [s for s in synacks if s.tuple.dst_ip == FW2],
        "client_rcvd": len(run.client.received),
        "server_rcvd": len(run.server[0].received),
        "fw2_dropped": fw2.dropped,
        "violations": [o for o in run.observed if o[2] == "violation"],
    }


def _completed(run: Run, ip: str) -> int:
    return sum(1 for _t, h, k, _r in run.observed if h == ip and k == "reconfig.completed")


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
