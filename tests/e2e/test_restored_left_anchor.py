"""End to end (issue 12, docs/testbed.md): a restored left anchor puts a stateful firewall on
a new path. On the default DPDK testbed a live session client -> fw -> mon -> server carries
bytes both ways; the client's controller is killed (SIGKILL) and restarted 2 s in, then the
restored client replaces fw by fw2 (nftables, stock conntrack: ``nf_conntrack_tcp_be_liberal``
0). Every byte arrives, no RST is seen, fw2 counts no INVALID packet. Before the fix the
restored side had lost the peer's window scale (the SYN-ACK mirror that records it was never
committed to the store): fw2 called 61-188 segments INVALID and the client stalled. Needs root
and the DPDK agent; skips with one line otherwise."""

from __future__ import annotations

import pytest

from dysco_testbed.bed import missing_for

_SKIP = missing_for("dpdk")
pytestmark = [pytest.mark.root, pytest.mark.skipif(_SKIP is not None, reason=_SKIP or "")]


def test_restored_client_replaces_fw_by_fw2(tb: object) -> None:
    from dysco_testbed import middleboxes
    from dysco_testbed.scenarios import Spec, Step, run
    from dysco_testbed.suite import _restart, restore

    spec = Spec(
        "restored-left-anchor-replace",
        port=9100,  # chain [fw, mon]
        seconds=8.0,
        rate=1e6,
        during=_restart("client"),  # 2 s after the traffic started
        steps=[Step(5.0, "replace-fw-by-fw2-after-restart", "client", "replace", "mon", ["fw2"])],
    )
    r = run(tb, spec, log=lambda m: None)  # type: ignore[arg-type]
    restore(tb)  # type: ignore[arg-type]
    d = r.to_dict()
    hosts = tb.hosts  # type: ignore[attr-defined]
    invalid = {h: middleboxes.invalid_count(hosts[h].ns) for h in ("fw", "fw2")}
    steps = [(x.name, x.outcomes, x.elapsed_ms) for x in r.reconfigs]
    restarted = {k: d.get(k) for k in ("controller_restart_s", "sessions_after_restart")}
    why = (d["problems"], steps, d["sessions_ok"], d["rst_seen"], invalid, restarted)
    assert restarted["controller_restart_s"] is not None, why
    assert restarted["sessions_after_restart"] == 1, why  # the session was restored
    assert [x.outcomes for x in r.reconfigs] == [{"completed": 1}], why
    assert d["sessions_ok"] == d["sessions"] == 1 and d["rst_seen"] == 0, why
    assert d["bytes_verified"] == d["bytes_sent"] > 0, why
    assert invalid == {"fw": 0, "fw2": 0}, why
    assert d["passed"], why
