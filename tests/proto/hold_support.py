"""Model-driver scaffolding shared by the tests of what follows a long hold
(``test_freeze_after_hold``, ``test_live_box_not_evicted``): C - B1 - S, one host sending
steadily, request 1 (the client removes B1) held by commit probes answered "not yet", then
request 2 issued the moment request 1 has ended."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from dysco_proto.events import Event, Reconfigure, SlotSnapshot
from dysco_proto.model.driver import ChainSession, Host
from dysco_proto.sim.tcp import TcpEndpoint


def pump(cs: ChainSession, ep: Callable[[], TcpEndpoint | None], sent: bytearray, n: int) -> None:
    """From 0.06 s, ``n`` writes of 200 bytes every 2 ms by the endpoint ``ep()`` (known only
    once the handshake is done), recorded in ``sent``."""

    def start(_: object) -> None:
        end = ep()
        assert end is not None
        for i in range(n):

            def write(_: object, i: int = i) -> None:
                data = bytes([65 + i % 26]) * 200
                sent.extend(data)
                end.write(data)

            cs.driver.engine.at(0.06 + 0.002 * i, write)

    cs.driver.engine.at(0.055, start)


def hold_then(
    cs: ChainSession,
    then: Reconfigure,
    forced: int | None = None,
    before: Callable[[], None] | None = None,
) -> int:
    """Request 1 at 0.2 s (the client removes B1) whose commit probes are answered "not yet"
    (``forced`` times, or every time): the hold goes on. ``then`` is issued at the client
    (after ``before()``) as soon as request 1 ended. Returns request 1's number."""
    drv, client, server = cs.driver, cs.client, cs.server
    first: list[int] = []
    count = [0]
    handle = drv.handle

    def slow_commit(h: Host, event: Event) -> None:
        if isinstance(event, SlotSnapshot) and h is client and first:
            purpose, r = h.agent.tokens.get(event.token, ("", None))
            stall = forced is None or count[0] < forced
            if purpose == "commit" and r is not None and r.number == first[0] and stall:
                count[0] += 1
                event = replace(event, ack_hi=None)  # "not yet": the hold goes on
        handle(h, event)

    drv.handle = slow_commit  # type: ignore[method-assign,assignment]
    drv.engine.at(0.2, lambda _: drv.handle(client, Reconfigure(cs.session, server.ip, ())))
    drv.run(0.2001)
    first.append(next(iter(client.agent.lefts)).number)

    def when_free(_: object) -> None:
        if client.agent.lefts:
            drv.engine.after(0.001, when_free, None)
            return
        if before is not None:
            before()
        drv.handle(client, then)

    drv.engine.at(0.21, when_free)
    return first[0]
