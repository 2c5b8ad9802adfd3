"""Fixtures shared by the end-to-end tests (real namespaces, middleboxes and targets)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(scope="module")
def tb(request: pytest.FixtureRequest) -> Iterator[object]:
    """One testbed per test module, built from the module's ``TOPOLOGY`` (a YAML path; the
    default topology when absent) on the topology's ``target``; afterwards no namespace or
    interface of it is left."""
    from dysco_testbed.bed import Testbed, load_topology
    from dysco_testbed.net import leftovers

    topo = load_topology(getattr(request.module, "TOPOLOGY", None))
    bed = Testbed(topo, target=str(topo.get("target") or "dpdk"))
    with bed:
        yield bed
    left = leftovers(bed.rid)
    assert not left["namespaces"] and not left["interfaces"], left


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed test that used a testbed reports the end of every device's controller log
    (warnings and each anchor's reconfiguration steps): CI keeps only a test's report, and the
    testbed's directory goes when the module ends."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    bed = getattr(item, "funcargs", {}).get("tb")
    if call.when == "call" and report.failed and hasattr(bed, "log_tails"):
        report.sections.append(("testbed controller logs", bed.log_tails(80)))
