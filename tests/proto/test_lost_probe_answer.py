"""An anchor whose probe's answer is lost probes again.

A probe's answer is a packet-in, and a device drops packet-ins when its CPU queue is full (the
rack's e2e 8 on bmv2: a hundred reconfigurations at once). The probe may have taken effect all
the same: a freeze fixed the cutoff, so from there on the side's data goes to the held new path.
Before, only an answer armed the next probe, so a lost answer of the left anchor's freeze held
its host's data for good (15 of 100 sessions never finished), and one of its commit probe or of
the right anchor's freeze held it until a timeout. Each such probe now arms a watch that probes
again (``Agent._watched_probe``). These tests drive real agents on the model driver and drop
the first answer of one kind of probe.
"""

from __future__ import annotations

import itertools

import pytest

from dysco_proto.events import Reconfigure
from dysco_proto.model.driver import chain_session, write
from dysco_proto.timers import TimerKind
from tests.proto.probe_support import TimerArms, tamper_answers


@pytest.mark.parametrize(
    ("kind", "purpose", "at_client", "lost"),
    [
        (TimerKind.LPROBE, "syn", True, 1),
        (TimerKind.LPROBE, "syn", True, 3),
        (TimerKind.CPROBE, "commit", True, 1),
        (TimerKind.RSPROBE, "rsyn", False, 1),
    ],
)
def test_a_lost_probe_answer_is_probed_again_and_the_reconfiguration_completes(
    kind: TimerKind, purpose: str, at_client: bool, lost: int
) -> None:
    cs = chain_session(1)
    drv = cs.driver
    host = cs.client if at_client else cs.server
    watches = TimerArms(kind, host, answers=False)  # each probe's watch, armed as it is sent
    drv.observer = watches
    dropped = tamper_answers(drv, host, purpose, lost, lambda snap: None)
    for i in range(40):
        write(cs, 0.05 + 0.01 * i, b"c" * 200)
    ev = Reconfigure(cs.session, cs.server.ip, (), request_tag=7)
    drv.engine.at(0.1, lambda e: drv.handle(cs.client, e), ev)
    drv.run(5.0)

    assert dropped() == lost
    assert [k for _h, k, _t in cs.outcomes()] == ["reconfig.completed"]
    said = [o for o in host.observations if o.kind == "reconfig.probe_unanswered"]
    assert [o.fields["purpose"] for o in said] == [purpose] * lost
    assert cs.received == b"c" * 200 * 40  # nothing the hold took was lost
    assert not drv.violations, drv.violations
    # the first probe's watch, then one per probe sent again, each waiting twice as long
    assert len(watches.delays) == lost + 1
    assert all(b == 2 * a for a, b in itertools.pairwise(watches.delays))
