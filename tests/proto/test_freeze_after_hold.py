"""A reconfiguration right after a hold does not freeze over the bytes that hold dropped.

Open finding A of the DPDK soak (docs/testbed.md, issue 12): a remove or insert of ``mon``
was cancelled (``new-path-timeout``) because its cutoff, frozen at the host's ``sent_hi``,
included bytes the previous reconfiguration's hold had dropped (they went on no path). The
anchors waited for the peer's host to acknowledge them, i.e. for the host's retransmission,
whose timer the holds had backed off beyond ``hold_timeout``. Captured on the testbed: the
client's last data before the stall at 204.51 s, the right anchor waiting for the server to
acknowledge them, the client's retransmission only at 213.40 s (its timer backed off to
5.6 s), the request cancelled at 213.45 s.

Here on the model driver (real agents, the reference data path, simulated TCP with
exponential back-off): C - B1 - S, the client sends steadily; request 1 (remove B1) holds
the client's data until it is cancelled (its commit probes answered "not yet", a loaded
device), so the client's retransmissions are dropped and its timer backs off; request 2
(insert B1) starts as soon as request 1 ends. Before the fix request 2 froze at once,
waited for the backed-off retransmission past ``hold_timeout`` and was cancelled too, and
the session had delivered 14,600 of 300,000 bytes after 6 s.
"""

from __future__ import annotations

from dataclasses import replace

from dysco_proto.actions import Action, Probe
from dysco_proto.events import Event, Reconfigure, SlotSnapshot
from dysco_proto.model.driver import ChainSession, Host, chain_session, write

HOLD_TIMEOUT = 0.5  # the client's; request 1's forced waits outlast it
FORCED = 30  # commit probes of request 1 answered "not yet"


class Probes:
    """Driver observer: the client's probes as (purpose, request number, freeze)."""

    def __init__(self, client: Host) -> None:
        self.client = client
        self.log: list[tuple[str, int, bool]] = []

    def before(self, host: Host, event: Event) -> None:
        pass

    def after(self, host: Host, event: Event, actions: list[Action]) -> None:
        if host is not self.client:
            return
        for a in actions:
            if isinstance(a, Probe):
                purpose, r = host.agent.tokens.get(a.token, ("", None))
                if r is not None:
                    self.log.append((purpose, r.number, a.freeze))


def _run() -> tuple[ChainSession, Probes, int]:
    cs = chain_session(1)
    drv = cs.driver
    client, box = cs.client, cs.boxes[0]
    client.agent.config = replace(client.agent.config, hold_timeout=HOLD_TIMEOUT)
    cs.c_ep.rto_max = 6.4  # Linux backs off far beyond the simulator's default 1.6 s
    probes = Probes(client)
    drv.observer = probes
    for i in range(1500):
        write(cs, 0.06 + 0.002 * i, bytes([65 + i % 26]) * 200)

    first: list[int] = []
    forced = 0
    handle = drv.handle

    def slow_commit(h: Host, event: Event) -> None:
        nonlocal forced
        if isinstance(event, SlotSnapshot) and h is client and first and forced < FORCED:
            purpose, r = h.agent.tokens.get(event.token, ("", None))
            if purpose == "commit" and r is not None and r.number == first[0]:
                forced += 1
                event = replace(event, ack_hi=None)  # "not yet": the hold goes on
        handle(h, event)

    drv.handle = slow_commit  # type: ignore[method-assign]
    drv.engine.at(0.2, lambda _: drv.handle(client, Reconfigure(cs.session, cs.server.ip, ())))
    drv.run(0.2001)
    first.append(next(iter(client.agent.lefts)).number)

    def when_free(_: object) -> None:
        if client.agent.lefts:
            drv.engine.after(0.001, when_free, None)
            return
        drv.handle(client, Reconfigure(cs.session, cs.server.ip, (box.ip,), request_tag=2))

    drv.engine.at(0.21, when_free)
    drv.run(6.0)
    return cs, probes, first[0]


def test_the_next_request_waits_for_the_dropped_bytes_then_completes() -> None:
    cs, probes, first = _run()
    kinds = {tag: kind for ip, kind, tag in cs.outcomes() if ip == cs.client.ip}
    assert kinds[0] == "reconfig.cancelled"  # request 1: held past hold_timeout (forced)
    assert kinds[2] == "reconfig.completed"  # before the fix: cancelled, new-path-timeout
    assert not cs.driver.violations
    assert bytes(cs.received) == bytes(cs.sent)  # before the fix: 14,600 of 300,000 bytes
    # request 2 probed without freezing while the bytes request 1 dropped were unacked,
    # then froze; request 1 (no hold before it) froze at once
    assert next(f for p, n, f in probes.log if p == "syn" and n == first) is True
    second = [f for p, n, f in probes.log if p == "syn" and n == (first + 1) % 2**32]
    assert second[0] is False
    assert second[-1] is True
