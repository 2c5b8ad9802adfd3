"""An anchor whose probe is answered "not yet" polls again soon, then less often.

The three waits of a reconfiguration on an end host (the left anchor's cutoff, ``LPROBE``; its
commit, ``CPROBE``; the right anchor's cutoff, ``RSPROBE``) wait for the host to send or to
acknowledge, which may happen a moment after the answer: the re-probe delay starts at
``rto / 16`` and doubles per "not yet" in a row up to ``rto`` (before: ``rto`` every time,
up to 0.1 s lost per answer on the testbed). These tests drive real agents on the model
driver and force the first answers of one wait to be "not yet".
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from dysco_proto.agent import Agent, AgentConfig
from dysco_proto.events import Reconfigure, SlotSnapshot
from dysco_proto.model.driver import chain_session, write
from dysco_proto.timers import TimerKind
from tests.proto.probe_support import TimerArms, tamper_answers

NOT_YET = 6  # answers forced to "not yet": enough to reach the cap (rto/16 .. rto, rto)


def _blank(purpose: str, snap: SlotSnapshot) -> SlotSnapshot:
    if purpose == "syn":  # the left anchor's host has sent nothing through the entry yet
        return replace(snap, cut=None)
    return replace(snap, ack_hi=None)  # nothing acknowledged yet ("commit", "rsyn")


@pytest.mark.parametrize(
    ("kind", "purpose", "at_client"),
    [
        (TimerKind.LPROBE, "syn", True),
        (TimerKind.CPROBE, "commit", True),
        (TimerKind.RSPROBE, "rsyn", False),
    ],
)
def test_not_yet_answers_are_polled_again_with_a_doubling_delay(
    kind: TimerKind, purpose: str, at_client: bool
) -> None:
    cs = chain_session(1)
    drv = cs.driver
    host = cs.client if at_client else cs.server
    arms = TimerArms(kind)
    drv.observer = arms
    forced = tamper_answers(drv, host, purpose, NOT_YET, lambda snap: _blank(purpose, snap))
    for i in range(40):
        write(cs, 0.05 + 0.01 * i, b"c" * 200)
    ev = Reconfigure(cs.session, cs.server.ip, (), request_tag=7)
    drv.engine.at(0.1, lambda e: drv.handle(cs.client, e), ev)
    drv.run(3.0)

    rto = host.agent.config.rto
    assert forced() == NOT_YET
    assert arms.delays == [rto / 16, rto / 8, rto / 4, rto / 2, rto, rto]
    assert [k for _h, k, _t in cs.outcomes()] == ["reconfig.completed"]
    assert cs.received == b"c" * 200 * 40
    assert not drv.violations, drv.violations


def test_repoll_delay_follows_the_configured_start_and_caps_at_rto() -> None:
    cfg = AgentConfig(("198.18.0.1",), b"k" * 32, rto=0.1, repoll_first=0.004)
    delays = [Agent(cfg)._repoll(n) for n in range(7)]
    assert delays == [0.004, 0.008, 0.016, 0.032, 0.064, 0.1, 0.1]
    assert Agent(cfg)._repoll(10_000) == 0.1  # no overflow however long the wait
