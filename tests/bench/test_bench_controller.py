"""``dysco bench controller`` runs end to end on a small size (the figures themselves are for
the benchmark, not for tests): entries written, sessions set up through a daemon against a
server in its own process, every result field present."""

from __future__ import annotations

from typing import Any

import pytest

from dysco_bench import controller_bench as cb
from dysco_bench.controller_bench import run_bench
from dysco_bench.session_profile import floor_bound
from tests.dpdk_support import require_agent


def test_bench_controller_small_run() -> None:
    out = run_bench(entries=300, batch=100, sessions=30, target="refmodel", rounds=1)
    assert out["target"] == "refmodel"
    # one round per encoding (proto, raw, python), three batches each
    assert out["entries"] == 300 and out["write_batches"] == 9
    assert [r["encoding"] for r in out["entries_rounds"]] == ["proto", "raw", "python"]
    assert out["entries_per_s"] > 0 and out["entries_per_s_proto"] > 0
    assert out["entries_per_s_python"] > 0 and out["encoder"] in ("c", "python")
    assert out["translate_entries_per_s"] > 0 and out["translate_entries_per_s_python"] > 0
    assert out["sessions"] == 30 and out["sessions_per_s"] > 0
    assert out["sessions_target"] == "refmodel (own process)"
    assert out["session_write_batches"] >= 1


def test_bench_controller_sessions_on_dpdk_agent() -> None:
    """Sessions through the real DPDK agent: SYNs injected as a received burst on the host
    port, every chain SYN seen leaving the network port (the agent's tap), latencies per hop."""
    require_agent()
    out = run_bench(entries=200, batch=100, sessions=40, target="dpdk", rounds=1)
    assert out["target"] == "dpdk"
    assert out["sessions_target"].startswith("dpdk")
    assert out["sessions"] == 40 and out["sessions_per_s"] > 0
    lat = out["setup_latency_us"]
    assert 0 < lat["p50"] <= lat["p99"]
    hops = out["setup_latency_hops_us"]
    assert set(hops) == {
        "pktin_to_write_start",
        "store_commit_and_write_rpc",
        "write_done_to_chain_syn_left",
    }
    assert all(0 < h["p50"] <= h["p99"] for h in hops.values())
    assert out["paced"]["sessions"] > 0 and out["paced"]["setup_latency_us"]["p50"] > 0
    parts = dict(out["daemon_cpu_us_per_session"])
    total, other = parts.pop("total"), parts.pop("other")
    assert parts["protocol_core"] > 0 and parts["packet_in_translate"] > 0
    assert all(v >= 0 for v in parts.values())
    assert sum(parts.values()) + other == pytest.approx(total, abs=0.5)
    assert sum(parts.values()) <= total  # exclusive thread times inside the process's CPU
    floor = out["grpc_pair_floor_us"]
    assert floor["client_us"] > 0 and floor["server_us"] > 0 and len(floor["rounds"]) == 3
    assert (
        out["sessions_per_s_floor_bound"]
        == floor_bound(
            parts["protocol_core"], floor, out["cpu_us_per_session"]["after"]["dpdk_agent"], 2
        )
        or out["cpu_count"] != 2
    )


def test_cli_target_selects_the_device(monkeypatch: pytest.MonkeyPatch) -> None:
    """``--target`` (and its older name ``--backend``) and ``--rounds`` reach the bench."""
    from controller.cli import main

    seen: list[dict[str, Any]] = []

    def fake_run_bench(**kw: Any) -> dict[str, Any]:
        seen.append(kw)
        return {"target": kw["target"]}

    monkeypatch.setattr(cb, "run_bench", fake_run_bench)
    assert main(["bench", "controller", "--json", "--target", "dpdk", "--rounds", "2"]) == 0
    assert main(["bench", "controller", "--json", "--backend", "refmodel"]) == 0
    assert main(["bench", "controller", "--json"]) == 0
    assert [(k["target"], k["rounds"]) for k in seen] == [
        ("dpdk", 2),
        ("refmodel", 3),
        ("auto", 3),
    ]
    assert main(["bench", "controller", "--target", "bmv2"]) == 2


def test_target_dpdk_without_the_agent_is_one_clear_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import dysco_targets.dpdk_ctl as dc
    from controller.cli import main

    monkeypatch.setattr(dc, "agent_available", lambda: (False, "libdpdk-dev not installed"))
    with pytest.raises(cb.BenchError, match="libdpdk-dev not installed"):
        cb.run_bench(entries=10, sessions=0, target="dpdk")
    assert main(["bench", "controller", "--target", "dpdk", "--entries", "10"]) != 0
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "DPDK agent cannot run here" in err
    # auto falls back to the reference model
    assert cb._pick_target("auto") == "refmodel"
