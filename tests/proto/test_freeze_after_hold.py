"""A reconfiguration right after a hold does not freeze over the bytes that hold dropped.

Open finding A of the DPDK soak (docs/testbed.md, issue 12): a remove or insert of ``mon``
was cancelled (``new-path-timeout``) because a cutoff, frozen at a host's ``sent_hi``,
included bytes the previous reconfiguration's hold had dropped (they went on no path). The
anchors then waited for the peer's host to acknowledge them, i.e. for the host's
retransmission, whose timer the holds had backed off beyond ``hold_timeout``. Captured on the
testbed: the client's last data at 204.51 s went into a hold, the next request's right anchor
waited for the server to acknowledge it, the client's retransmission came at 213.40 s (its
timer backed off to 5.6 s), and the request was cancelled at 213.45 s.

Here on the model driver (real agents, the reference data path, simulated TCP with
exponential back-off): C - B1 - S; one host sends steadily; request 1 removes B1 and holds
long (its commit probes answered "not yet", as on a loaded device), so that host's
retransmissions are dropped and its timer backs off; request 2 inserts B1 again as soon as
request 1 ended, under a short ``hold_timeout``. The client sending: the left anchor's own
hole (the soak's inserts); the server sending: the right anchor's (the soak's removes, the
left anchor waiting in COMMITTING). Before the change request 2 was cancelled in both.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from dysco_proto.actions import Action, Probe
from dysco_proto.events import Event, Reconfigure
from dysco_proto.model.driver import Host, chain_session
from dysco_proto.sim.tcp import TcpEndpoint
from tests.proto.hold_support import hold_then, pump

FORCED = 53  # commit probes of request 1 answered "not yet" (about 1.2 s of hold)
ANCHOR_TIMEOUT = 4.0  # the drain waits at most half of it


class Probes:
    """Driver observer: the probes of the agents as (host, purpose, request number, freeze)."""

    def __init__(self) -> None:
        self.log: list[tuple[str, str, int, bool]] = []

    def before(self, host: Host, event: Event) -> None:
        pass

    def after(self, host: Host, event: Event, actions: list[Action]) -> None:
        for a in actions:
            if isinstance(a, Probe):
                purpose, r = host.agent.tokens.get(a.token, ("", None))
                if r is not None:
                    self.log.append((host.ip, purpose, r.number, a.freeze))


def _run(sender: str) -> tuple[dict[int, str], bytes, bytes, list[str], Probes, int]:
    cs = chain_session(1)
    drv = cs.driver
    client, server, box = cs.client, cs.server, cs.boxes[0]
    for h in (client, server, box):
        h.agent.config = replace(h.agent.config, anchor_timeout=ANCHOR_TIMEOUT)
    probes = Probes()
    drv.observer = probes
    sent, got = bytearray(), bytearray()
    if sender == "server":
        cs.c_ep.on_data = got.extend

    def endpoint() -> TcpEndpoint | None:
        ep = cs.c_ep if sender == "client" else cs.s_ep
        if ep is not None:
            ep.rto_max = 6.4  # Linux backs off far beyond the simulator's default 1.6 s
        return ep

    pump(cs, endpoint, sent, 2500)

    def short_hold() -> None:
        client.agent.config = replace(client.agent.config, hold_timeout=0.5)

    insert = Reconfigure(cs.session, server.ip, (box.ip,), request_tag=2)
    first = hold_then(cs, insert, forced=FORCED, before=short_hold)
    drv.run(8.0)
    kinds = {tag: kind for ip, kind, tag in cs.outcomes() if ip == client.ip}
    received = bytes(cs.received if sender == "client" else got)
    return kinds, bytes(sent), received, drv.violations, probes, first


@pytest.mark.parametrize("sender", ["client", "server"])
def test_the_next_request_waits_for_the_dropped_bytes_then_completes(sender: str) -> None:
    kinds, sent, received, violations, probes, first = _run(sender)
    assert kinds[0] == "reconfig.completed"  # request 1 (remove B1), after a long hold
    assert kinds[2] == "reconfig.completed"  # before the change: cancelled, new-path-timeout
    assert not violations
    assert received == sent
    second = (first + 1) % 2**32
    if sender == "client":
        # the left anchor probed without freezing first (its host's bytes not yet acked)
        syn = [f for _, p, n, f in probes.log if p == "syn" and n == second]
        assert syn[0] is False and syn[-1] is True
        assert next(f for _, p, n, f in probes.log if p == "syn" and n == first) is True
    else:
        # the right anchor probed its host's bytes before its ackLock ("rlock")
        assert any(p == "rlock" and n == second for _, p, n, _f in probes.log)
