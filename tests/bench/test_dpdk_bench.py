"""`dysco bench dataplane` runs end to end (small: 2,000 sessions, one short round) and
reports the keys of the results table in dpdk_agent/README.md, where the figures are."""

from __future__ import annotations

import os
import shutil

import pytest

from dysco_targets.contract import CONTRACT_P4INFO
from tests.dpdk_support import require_agent

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)"),
    pytest.mark.skipif(shutil.which("dpdk-testpmd") is None, reason="dpdk-testpmd not installed"),
    pytest.mark.skipif(not CONTRACT_P4INFO.exists(), reason="no compiled P4Info"),
]


def test_bench_dataplane_reports_the_keys() -> None:
    require_agent()
    from dysco_bench.dataplane_bench import run

    res = run(2000, seconds=1.0, repeat=1, capacity=100_000)
    for key in ("sessions", "agent_pps", "baseline_pps", "ratio", "bytes_per_session",
                "p4rt_write_entries_per_s"):  # fmt: skip
        assert key in res, key
    assert res["sessions"] == 2000
    assert res["agent_pps"] > 0 and res["baseline_pps"] > 0
    assert res["rounds"][0]["agent_hit_ratio"] > 0.99  # the traffic hits installed sessions
    # 256 before every session had its own register slot (32 bytes; 234.7 at 1,000,000)
    assert 0 < res["bytes_per_session"] <= 256 + 32
