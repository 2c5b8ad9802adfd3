"""End to end (docs/testbed.md): hosts of one session behind one device, one agent per host
(``dysco_testbed/scenarios/shared.yaml``): the client and the server behind one device with
the firewall behind another; the client and its first box behind one device; the proxy and
its server behind one device (adjacent hops: the pipeline's hairpin pass). Live
reconfigurations, every byte checked, no RST. Needs root and the DPDK agent; skips with one
line otherwise."""

from __future__ import annotations

from pathlib import Path

import pytest

from dysco_testbed.bed import missing_for

_SKIP = missing_for("dpdk")
pytestmark = [pytest.mark.root, pytest.mark.skipif(_SKIP is not None, reason=_SKIP or "")]

TOPOLOGY = Path(__file__).resolve().parents[2] / "dysco_testbed/scenarios/shared.yaml"


def _run(tb: object, name: str) -> dict[str, object]:
    from dysco_testbed.scenarios import failure_summary, run
    from dysco_testbed.suite import SHARED

    r = run(tb, SHARED[name](), log=lambda m: None)  # type: ignore[arg-type]
    d = r.to_dict()
    assert d["passed"], failure_summary(d)
    assert all(x.outcomes == {"completed": 1} for x in r.reconfigs), failure_summary(d)
    assert d["bytes_verified"] == d["bytes_sent"] > 0 and d["rst_seen"] == 0
    return d


def _agents(tb: object, host: str) -> list[int]:
    """The agent ids of the controller serving ``host`` (one per host behind its device)."""
    st = tb.mgmt(host, "status", {})  # type: ignore[attr-defined]
    return [a["agent_id"] for a in st["agents"]]


def test_client_and_server_behind_one_device(tb: object) -> None:
    assert _agents(tb, "client") == [1, 2, 3]  # client, server, proxy
    _run(tb, "apart")


def test_client_and_first_box_behind_one_device(tb: object) -> None:
    _run(tb, "first_box")


def test_proxy_and_server_behind_one_device(tb: object) -> None:
    _run(tb, "proxy")
