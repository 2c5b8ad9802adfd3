"""No old-path pure ack after the old path's entries went idle (issue 12, rack e2e 8).

After a reconfiguration one anchor folds and retires its old-path IN entry, which is removed
once idle (``retired_timeout``). The other anchor stays in two-path mode until it sees its
completion (here its latch reports and completion probes' replies are lost for a while, as
packet-ins are on a loaded switch: best effort). Nothing flows meanwhile. Then its host sends
new data: it goes on the new path, and the data plane must not add an old-path pure ack for
acks the old path has already carried (``docs/pipeline.md`` 5.2, 5.3: the freeze seeds
``old_ack_hi`` with ``ack_hi``). Such an ack would reach the folded anchor's host raw, on the
subsession tuple, and a real stack answers it with a RST (80 RSTs in one rack run). The
simulator's stack counts it as a stray."""

from __future__ import annotations

from typing import Any

import pytest

from dysco_proto.agent import Agent
from dysco_proto.datapath import DataPath
from dysco_proto.entries import EntryKey
from dysco_proto.events import ReconfigKind, Reconfigure, SlotSnapshot
from dysco_proto.packet import Segment
from dysco_proto.sim.boxes import Transparent
from dysco_proto.sim.tcp import EndpointStack
from tests.proto.test_checkpoint import BOX1, BOX2, CLIENT, SERVER, SESSION, _build

RETIRED_TIMEOUT = 2.0  # the testbed's
T0 = 2.0  # the reconfiguration starts (everything sent so far is acknowledged)
QUIET = 2.5 * RETIRED_TIMEOUT  # no data: the folded anchor's retired entry goes idle
LOSS = QUIET + 2.0  # the lagging anchor's completion snapshots are lost until T0 + LOSS


class RetiringDataPath(DataPath):
    """The simulator's data path with the controller's two idle timeouts: a retired entry is
    reported idle after ``RETIRED_TIMEOUT``, a session's own entries never in this test."""

    def __init__(self, ip: str, agent: Agent) -> None:
        super().__init__([ip], idle_timeout=RETIRED_TIMEOUT)
        self.agent = agent

    def idle_entries(self, now: float) -> list[EntryKey]:
        return [k for k in super().idle_entries(now) if self.agent.is_retired(k)]


def _run(lagging: str, *, pure_acks: bool = False) -> dict[str, Any]:
    """Replace box1 by box2 (left anchor the client, right anchor the server); ``lagging``
    (an anchor) loses its latch reports and completion probes' replies for ``LOSS`` seconds,
    then its host writes after ``QUIET`` (with ``pure_acks``: first sends three pure acks,
    window updates or keepalives, which acknowledge nothing new)."""
    run = _build()
    for host in run.hosts.values():
        assert isinstance(host.agent, Agent)
        host.datapath = RetiringDataPath(host.ip, host.agent)
    engine = run.engine

    def idle_scan(_arg: object = None) -> None:
        run.net.idle_scan()
        engine.after(0.25, idle_scan)

    engine.after(0.25, idle_scan)
    lag = run.hosts[lagging].agent
    assert isinstance(lag, Agent)
    inner = lag.handle
    lost: list[float] = []

    def lossy_handle(ev: Any, now: float) -> list[Any]:
        if (
            isinstance(ev, SlotSnapshot)
            and T0 <= now < T0 + LOSS
            and (ev.token == 0 or lag.tokens.get(ev.token, ("", None))[0] in ("check", "rcheck"))
        ):
            lost.append(now)
            return []
        return inner(ev, now)

    lag.handle = lossy_handle  # type: ignore[method-assign,assignment]
    strays: dict[str, list[Segment]] = {CLIENT: [], SERVER: []}
    for ip, seen in strays.items():
        stack = run.hosts[ip].app
        assert isinstance(stack, EndpointStack)

        def deliver(seg: Segment, stack: EndpointStack = stack, seen: list[Segment] = seen) -> None:
            EndpointStack.deliver(stack, seg)
            if seg.tuple not in stack.endpoints:  # (a SYN to a listener creates one)
                seen.append(seg)

        stack.deliver = deliver  # type: ignore[method-assign]

    run.client.connect()
    engine.run(0.5)
    assert run.client.established and run.server[0].established
    run.client.write(b"a" * 20_000)
    run.server[0].write(b"b" * 20_000)
    engine.run(T0)
    run.hosts[CLIENT].command(Reconfigure(SESSION, SERVER, (BOX2,), ReconfigKind.REPLACE, 1))
    engine.run(T0 + QUIET)
    other = SERVER if lagging == CLIENT else CLIENT
    state = {
        "lagging_two_path": any(e.two_path for e in run.hosts[lagging].datapath.entries.values()),
        "other_two_path": any(e.two_path for e in run.hosts[other].datapath.entries.values()),
        "idle_removed": run.net.stats.idle_reports,
    }
    lagging_host = run.client if lagging == CLIENT else run.server[0]
    if pure_acks:
        for _ in range(3):
            lagging_host.send_ack()
            engine.run(engine.now + 0.2)
    lagging_host.write(b"c" * 30_000)
    engine.run(T0 + QUIET + 12.0)
    boxes = [run.hosts[b].app for b in (BOX1, BOX2)]
    assert all(isinstance(b, Transparent) for b in boxes)
    return state | {
        "lost": lost,
        "completed": [h for _t, h, k, _r in run.observed if k.endswith("completed")],
        "strays": strays[other] + strays[lagging],
        "client_rcvd": len(run.client.received),
        "server_rcvd": len(run.server[0].received),
        "box_dropped": sum(b.dropped for b in boxes if isinstance(b, Transparent)),
        "violations": [o for o in run.observed if o[2] == "violation"],
    }


@pytest.mark.parametrize("pure_acks", [False, True], ids=["data", "pure-acks-first"])
@pytest.mark.parametrize("lagging", [CLIENT, SERVER], ids=["left-lags", "right-lags"])
def test_no_old_path_ack_after_the_old_path_went_idle(lagging: str, pure_acks: bool) -> None:
    """``pure-acks-first``: the lagging host's window updates or keepalives, which acknowledge
    all of the folded peer's old-path data and nothing else, go on the new path
    (``docs/pipeline.md`` 5.2, ``peer_acked``); on the old path they reached the peer raw."""
    r = _run(lagging, pure_acks=pure_acks)
    # the scenario: the other anchor folded and its retired entry went idle while the lagging
    # one still steered on two paths
    assert r["lost"], "the lagging anchor must lose completion snapshots"
    assert r["lagging_two_path"] and not r["other_two_path"]
    assert r["idle_removed"] >= 1
    assert sorted(r["completed"]) == sorted([CLIENT, SERVER])  # both anchors end folded
    # nothing reached a host on a subsession tuple (a real stack answers with a RST)
    assert r["strays"] == [], [str(s) for s in r["strays"]]
    assert r["box_dropped"] == 0 and not r["violations"]
    sent_by_lagging = 30_000
    assert r["client_rcvd"] == 20_000 + (sent_by_lagging if lagging == SERVER else 0)
    assert r["server_rcvd"] == 20_000 + (sent_by_lagging if lagging == CLIENT else 0)
