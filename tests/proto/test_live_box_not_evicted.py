"""A box that is still on a session's path is never evicted as a remnant.

Open finding A of the DPDK soak (docs/testbed.md, issue 12), its second half: a remove of
``mon`` was cancelled, the soak's next step (insert ``mon``) started a moment later while
``mon`` was still on the live path, and the new-path SYN reached ``mon``'s agent, which took
the session's live record for the remnant of an earlier removal and removed it with its
entries (``_evict_stale`` only looked for a reconfiguration anchored there). The path's
packets then reached ``mon``'s host with the subsession's tuple, its stack answered with RSTs,
and the next agent rewrote them to the session: the client saw the "server" reset it.

Now (1) a left anchor refuses an insert of its own next hop (``box-on-path``), and (2) an
agent never evicts a record whose lock the arriving new-path SYN's request holds: that box
is on the request's old path. Model driver: real agents, the reference data path, simulated
TCP; before the change both runs below lost the session's bytes.
"""

from __future__ import annotations

from dataclasses import replace

from dysco_proto.events import Reconfigure
from dysco_proto.model.driver import Host, chain_session, write
from tests.proto.hold_support import hold_then, pump


def _replaced(h: Host) -> bool:
    return any(
        o.kind == "session.removed" and o.fields.get("reason") == "replaced" for o in h.observations
    )


def test_insert_of_the_next_hop_after_a_cancelled_remove_is_refused() -> None:
    cs = chain_session(1)
    drv = cs.driver
    client, server, box = cs.client, cs.server, cs.boxes[0]
    client.agent.config = replace(client.agent.config, hold_timeout=0.5)
    sent, got = bytearray(), bytearray()
    cs.c_ep.on_data = got.extend
    pump(cs, lambda: cs.s_ep, sent, 1500)
    # request 1 holds past hold_timeout (cancelled); then the client inserts B1 again
    hold_then(cs, Reconfigure(cs.session, server.ip, (box.ip,), request_tag=2))
    drv.run(6.0)
    outcomes = {tag: kind for ip, kind, tag in cs.outcomes() if ip == client.ip}
    assert outcomes[0] == "reconfig.cancelled"  # the remove (forced)
    assert outcomes[2] == "reconfig.refused"
    refusal = next(o for o in client.observations if o.fields.get("tag") == 2)
    assert refusal.fields["reason"] == "box-on-path"
    assert not _replaced(box)  # before: its live record evicted
    assert not drv.violations
    assert bytes(got) == bytes(sent)  # before: 46,600 of 300,000 bytes after 6 s


def test_a_new_path_syn_does_not_evict_the_box_on_its_old_path() -> None:
    """C - B1 - B2 - S, C asks for the new path C - B2 - S: the SYN reaches B2, which is on
    the request's old path (its lock holds the request). The request cannot be built (it is
    cancelled after its SYN retries), but the session keeps its path."""
    cs = chain_session(2)
    drv = cs.driver
    b2 = cs.boxes[1]
    for i in range(1000):
        write(cs, 0.06 + 0.002 * i, bytes([65 + i % 26]) * 200)
    reconf = Reconfigure(cs.session, cs.server.ip, (b2.ip,), request_tag=7)
    drv.engine.at(0.3, lambda _: drv.handle(cs.client, reconf))
    drv.run(6.0)
    assert ("198.18.0.1", "reconfig.cancelled", 7) in cs.outcomes()
    assert any(o.kind == "setup.conflict" for o in b2.observations)
    assert not _replaced(b2)  # before: evicted, 24,600 of 200,000 bytes after 6 s
    assert not drv.violations
    assert bytes(cs.received) == bytes(cs.sent)
