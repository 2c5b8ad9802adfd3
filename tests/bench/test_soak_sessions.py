"""``dysco bench soak`` on a small size against the DPDK agent (the figures are for the
benchmark): every session set up (its chain SYN left the device), every requested
reconfiguration completed through the daemon as left anchor, nothing left on the device after
the teardown; and bad input is one clear line."""

from __future__ import annotations

import json

import pytest

from dysco_bench import soak_sessions
from dysco_bench.controller_bench import BenchError
from tests.dpdk_support import require_agent


def test_soak_small_on_the_dpdk_agent(capsys: pytest.CaptureFixture[str]) -> None:
    require_agent()
    from controller.cli import main

    rc = main(["bench", "soak", "--sessions", "200", "--reconfigure", "0.1", "--json"])
    out = json.loads(capsys.readouterr().out)
    assert rc == 0, out
    assert out["sessions"] == 200 and out["setup_failed"] == 0
    assert out["sessions_held"] == 200 and out["agent_sessions"] == 200
    # every held session has its OUT and IN entry on the device
    assert out["device_session_entries_held"] == 400
    assert out["reconfigs_requested"] == 20
    assert out["reconfigs_completed"] == 20, out["reconfigs_not_completed"]
    assert out["reconfig_outcomes"] == {"completed": 20}
    # each reconfiguration sent its new path's SYN out of the network port, and the far side
    # took the lock and the ack of each
    assert out["new_path_syns_seen"] >= 20
    assert out["far_side_answers"]["request_lock"] >= 20 and out["far_side_answers"]["ack"] >= 20
    assert out["far_side_errors"] == []
    assert out["leaked_entries"] == 0
    assert out["agent_sessions_after"] == 0 and out["controller_entries_after"] == 0
    assert out["slots_capacity"] == 65535
    assert out["controller_rss_mb"] > 0 and out["device_bytes_per_session"] > 0
    assert out["command"].startswith("dysco bench soak --sessions 200")
    assert out["passed"] is True


def test_soak_bad_input_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    from controller.cli import main

    with pytest.raises(BenchError, match="at least 1"):
        soak_sessions.run(0)
    with pytest.raises(BenchError, match="fraction"):
        soak_sessions.run(10, 1.5)
    assert main(["bench", "soak", "--sessions", "10", "--reconfigure", "2"]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "fraction" in err
