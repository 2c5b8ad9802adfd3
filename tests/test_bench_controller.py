"""``dysco bench controller`` runs end to end on a small size (the figures themselves are for
the benchmark, not for tests): entries written, sessions set up through a daemon against a
server in its own process, every result field present."""

from __future__ import annotations

from controller.bench import run_bench


def test_bench_controller_small_run() -> None:
    out = run_bench(entries=300, batch=100, sessions=30, target="refmodel")
    assert out["target"] == "refmodel"
    assert out["entries"] == 300 and out["write_batches"] == 3
    assert out["entries_per_s"] > 0 and out["translate_entries_per_s"] > 0
    assert out["sessions"] == 30 and out["sessions_per_s"] > 0
    assert out["sessions_target"] == "refmodel (own process)"
    assert out["session_write_batches"] >= 1
