"""End to end: real TCP sessions through real middleboxes (haproxy, nftables) in network
namespaces, on the DPDK agent, reconfigured live (docs/testbed.md). Needs root; each test skips
with one line otherwise."""

from __future__ import annotations

import pytest

from dysco_testbed.bed import missing_for

_SKIP = missing_for("dpdk")
pytestmark = [pytest.mark.root, pytest.mark.skipif(_SKIP is not None, reason=_SKIP or "")]


def _run(tb: object, name: str) -> object:
    from dysco_testbed.scenarios import run
    from dysco_testbed.suite import SUITE, restore

    r = run(tb, SUITE[name](), log=lambda m: None)  # type: ignore[arg-type]
    restore(tb)  # type: ignore[arg-type]
    return r


def _why(d: dict[str, object]) -> str:
    from dysco_testbed.scenarios import failure_summary

    return failure_summary(d)  # type: ignore[arg-type]


def _check(r: object) -> None:
    d = r.to_dict()  # type: ignore[attr-defined]
    assert d["passed"], _why(d)


def test_1_to_4_setup_insert_remove_proxy_replace(tb: object) -> None:
    r = _run(tb, "demo")
    _check(r)
    assert [x.outcomes for x in r.reconfigs] == [{"completed": 1}] * 3  # type: ignore[attr-defined]


def test_5_bytebox_remove_and_reinsert(tb: object) -> None:
    _check(_run(tb, "bytebox"))


def test_6_overlapping_requests_one_refused(tb: object) -> None:
    _check(_run(tb, "overlap"))


def test_7_new_path_box_killed_cancels(tb: object) -> None:
    _check(_run(tb, "box_dies"))


def test_8_hundred_sessions_one_selector(tb: object) -> None:
    r = _run(tb, "many")
    _check(r)
    assert r.reconfigs[0].outcomes == {"completed": 100}  # type: ignore[attr-defined]


def test_10_controller_restart(tb: object) -> None:
    r = _run(tb, "restart")
    d = r.to_dict()  # type: ignore[attr-defined]
    # the sessions keep flowing through a restarted controller's device ...
    assert d["sessions_ok"] == d["sessions"] and d["rst_seen"] == 0 and not d["problems"], _why(d)
    assert d.get("controller_restart_s") is not None, _why(d)
    # ... and stay manageable: the restored agent reconfigures them
    _check(r)


def test_9_two_controllers_control_loss() -> None:
    from dysco_testbed.bed import Testbed, load_topology
    from dysco_testbed.scenarios import run
    from dysco_testbed.suite import spec_lossy

    with Testbed(load_topology(None), peer_loss=0.05) as bed:
        r = run(bed, spec_lossy(), log=lambda m: None)
    _check(r)


def test_cleanup_after_killed_run() -> None:
    """A run whose process died leaves things behind; cleanup removes them, a new run works."""
    from dysco_testbed.bed import Testbed, load_topology
    from dysco_testbed.net import cleanup, leftovers

    bed = Testbed(load_topology(None))
    bed.up()  # no teardown: as if the process had been killed
    assert leftovers(bed.rid)["namespaces"]
    cleanup(bed.rid)  # what `dysco testbed cleanup --run-id` does (not other runs' testbeds)
    assert leftovers(bed.rid) == {"namespaces": [], "interfaces": []}
    assert all(p.poll() is not None for p in bed.procs)
