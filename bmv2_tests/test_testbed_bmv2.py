"""The demo scenario on the namespace testbed with bmv2 as the data plane: eight
``simple_switch_grpc`` (one per host, on the same veths the DPDK agents use), eight
controllers, haproxy and nftables boxes; a live session through [fw, nat, proxy], then insert
the monitor, remove the proxy, replace the firewall (``dysco demo --target bmv2``). Needs root
and bmv2; skips with one line otherwise."""

from __future__ import annotations

import pytest

from dysco_testbed.bed import missing_for

_SKIP = missing_for("bmv2")
pytestmark = [pytest.mark.root, pytest.mark.skipif(_SKIP is not None, reason=_SKIP or "")]


def test_demo_on_bmv2(monkeypatch: pytest.MonkeyPatch) -> None:
    from dysco_testbed.bed import Testbed, load_topology
    from dysco_testbed.demo import DEMO_RATE, demo_spec
    from dysco_testbed.net import leftovers
    from dysco_testbed.scenarios import run

    # debug traces, printed if the demo fails: a stuck session must leave its evidence in CI
    monkeypatch.setenv("DYSCO_TESTBED_LOG_LEVEL", "debug")
    bed = Testbed(load_topology(None), target="bmv2")
    with bed:
        r = run(bed, demo_spec(rate=DEMO_RATE["bmv2"]), log=print)
        if not r.to_dict()["passed"]:
            print(bed.log_tails())
    d = r.to_dict()
    outcomes = [x.outcomes for x in r.reconfigs]
    assert d["passed"], (d["problems"], outcomes, d["sessions_ok"], d["rst_seen"])
    assert outcomes == [{"completed": 1}] * 3
    assert d["bytes_verified"] == d["bytes_sent"] > 0
    left = leftovers(bed.rid)
    assert not left["namespaces"] and not left["interfaces"], left
