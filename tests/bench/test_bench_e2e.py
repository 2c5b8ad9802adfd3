"""``dysco bench e2e``: the statistics behind its JSON keys (interleaved arms, ratios of
medians, the longest stall from timer samples and the sampling interval achieved), the
receivers' timer samples on a real loopback stream, and the command-line options. The figures
themselves are for the benchmark (it needs root and the testbed), not for tests."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from typing import Any

import pytest

from dysco_bench import e2e_bench as eb
from dysco_testbed.loopback_ports import free_ports


def test_arm_order_alternates_which_arm_goes_first() -> None:
    orders = [eb.arm_order(r, ("a", "b")) for r in range(4)]
    assert orders == [("a", "b"), ("b", "a"), ("a", "b"), ("b", "a")]


def test_pct_nearest_rank() -> None:
    v = [5.0, 1.0, 3.0, 2.0, 4.0]
    assert eb.pct(v, 0.5) == 3.0
    assert eb.pct(v, 0.99) == 5.0
    assert eb.pct(v, 0.0) == 1.0
    assert eb.pct([], 0.5) != eb.pct([], 0.5)  # nan


def test_ratio_of_rounds_is_median_over_median_and_keeps_pairs() -> None:
    rounds = [
        {"chain_ms": 10.0, "direct_ms": 5.0},
        {"chain_ms": 30.0, "direct_ms": 6.0},  # an outlier round in one arm
        {"chain_ms": 12.0, "direct_ms": 4.0},
    ]
    r = eb.ratio_of_rounds(rounds, "chain_ms", "direct_ms", 2)
    assert r["chain_ms_median"] == 12.0 and r["direct_ms_median"] == 5.0
    assert r["ratio"] == 2.4
    assert r["ratio_of_round_ratios_median"] == 3.0  # of 2.0, 5.0, 3.0
    assert r["ratio_min_max"] == [2.0, 5.0]


def test_ratio_of_rounds_zero_denominator() -> None:
    r = eb.ratio_of_rounds([{"x": 1.0, "y": 0.0}], "x", "y")
    assert r["ratio"] is None and r["ratio_of_round_ratios_median"] is None


def _samples(times: list[float], grow: set[int]) -> list[list[float]]:
    """Samples at ``times``; the byte count grows at the indices in ``grow``."""
    out, b = [], 0
    for i, t in enumerate(times):
        if i in grow:
            b += 1000
        out.append([t, b])
    return out


def test_stall_from_samples_longest_gap_and_bounds() -> None:
    times = [i * 0.01 for i in range(30)]
    # bytes every sample up to 10, none at 11..19, again from 20
    grow = set(range(1, 11)) | set(range(20, 30))
    s = eb.stall_from_samples(_samples(times, grow))
    assert s["longest_ms"] == 100.0  # sample 10 -> sample 20
    assert s["bounds_ms"] == [90.0, 110.0]  # t19 - t10, t20 - t9
    assert s["at_s"] == 0.1
    assert s["interval_ms"]["p50"] == 10.0 and s["interval_ms"]["max"] == 10.0
    assert s["samples"] == 30


def test_stall_from_samples_reports_late_timers() -> None:
    # the timer fired late once (50 ms) while bytes kept growing: no stall beyond it, and
    # the achieved interval shows it
    times = [0.0, 0.01, 0.02, 0.07, 0.08, 0.09]
    s = eb.stall_from_samples(_samples(times, {1, 2, 3, 4, 5}))
    assert s["longest_ms"] == 50.0
    assert s["interval_ms"]["max"] == 50.0 and s["interval_ms"]["p50"] == 10.0


def test_stall_from_samples_ignores_before_first_and_after_last_bytes() -> None:
    times = [i * 0.01 for i in range(40)]
    s = eb.stall_from_samples(_samples(times, {15, 16, 17}))  # quiet start and end
    assert s["longest_ms"] == 10.0


def test_stall_from_samples_without_two_increases() -> None:
    assert eb.stall_from_samples([])["longest_ms"] is None
    s = eb.stall_from_samples(_samples([0.0, 0.01, 0.02], {1}))
    assert s["longest_ms"] is None and s["interval_ms"]["p50"] == 10.0


def test_load_mbps_of_an_interrupted_iperf3() -> None:
    out = json.dumps({"end": {"sum_sent": {"bits_per_second": 2.0e8},
                              "sum_received": {"bits_per_second": 0}}})  # fmt: skip
    assert eb._load_mbps(out) == 200.0
    assert eb._load_mbps("") is None
    assert eb._load_mbps('{"end": {}}') is None


def test_summary_has_the_issue_keys() -> None:
    res: dict[str, Any] = {
        "handshake": {"ratio": 2.1},
        "reconfig": {"p50_ms": 15.0, "p99_ms": 40.0},
        "stall": {"longest_ms": 80.0, "resolution_ms": 10.4},
        "goodput": {"ratio": 0.98},
    }
    s = eb.summary(res)
    assert s["handshake_ratio"] == 2.1 and s["goodput_ratio"] == 0.98
    assert s["reconfig_p50_ms"] == 15.0 and s["reconfig_p99_ms"] == 40.0
    assert s["longest_stall_ms"] == 80.0 and s["stall_resolution_ms"] == 10.4
    assert set(s["targets"]) == {
        "handshake_ratio",
        "reconfig_p50_ms",
        "reconfig_p99_ms",
        "longest_stall_ms",
        "goodput_ratio",
    }


def test_traffic_receivers_sample_on_a_timer_at_the_asked_interval() -> None:
    """A real stream on loopback: both ends take timer samples (the server learns the
    interval from the hello line), counts never decrease and end at what was received."""
    (port,) = free_ports(1)
    tr = [sys.executable, "-m", "dysco_testbed.traffic"]
    srv = subprocess.Popen([*tr, "server", "--bind", "127.0.0.1", "--port", str(port)],
                           stdout=subprocess.PIPE, text=True)  # fmt: skip
    try:
        assert srv.stdout is not None
        assert "listening" in srv.stdout.readline()
        cli = subprocess.run([*tr, "client", "--connect", "127.0.0.1", "--port", str(port),
                              "--seconds", "0.5", "--rate", "2e5", "--sample-ms", "5"],
                             capture_output=True, text=True, timeout=60)  # fmt: skip
        c = json.loads(cli.stdout.splitlines()[-1])
        s = json.loads(srv.stdout.readline())
    finally:
        srv.terminate()
        srv.wait(timeout=10)
    for side in (c, s):
        smp = side["samples"]
        assert len(smp) >= 2
        assert all(a[0] <= b[0] and a[1] <= b[1] for a, b in itertools.pairwise(smp))
        assert smp[-1][1] == side["rcvd"] > 0
    # the samples before the final one are the timers' (bytes no longer trigger them)
    assert len(s["samples"]) > 1 and len(c["samples"]) > 1


def test_cli_rounds_reach_the_e2e_bench(monkeypatch: pytest.MonkeyPatch) -> None:
    from controller.cli import main

    seen: dict[str, Any] = {}

    def fake_run_bench(args: Any) -> int:
        seen.update(vars(args))
        return 0

    monkeypatch.setattr(eb, "run_bench", fake_run_bench)
    assert main(["bench", "e2e", "--json", "--rounds", "7", "--reconfigs", "4"]) == 0
    assert seen["rounds"] == 7 and seen["reconfigs"] == 4 and seen["json"]
    assert seen["p4rt_servers"] == "thread" and seen["agent_max_sleep_us"] == 500
    assert main(["bench", "e2e", "--p4rt-servers", "process", "--agent-max-sleep-us", "50"]) == 0
    assert seen["p4rt_servers"] == "process" and seen["agent_max_sleep_us"] == 50
    assert main(["bench", "e2e", "--rounds", "0"]) == 2


def test_wire_stall_from_tcpdump_lines() -> None:
    pkt = "{} IP 198.18.1.2.9100 > 198.18.1.1.40000: Flags [.], seq {}, ack 1, length 1448\n"
    lines = [
        pkt.format("100.000000", "1000:2448"),
        pkt.format("100.004000", "2448:3896"),
        pkt.format("100.084000", "2448:3896"),  # a retransmission: no new bytes, still stalled
        pkt.format("100.129000", "3896:5344"),
        "4 packets captured\n",
    ]
    w = eb.wire_stall(lines)
    assert w["longest_ms"] == 125.0 and w["at_s"] == 0.004
    assert w["packets"] == 4 and w["packets_new_bytes"] == 3 and w["retransmitted_in_it"] == 1


def test_wire_stall_across_sequence_wrap() -> None:
    top = (1 << 32) - 100
    lines = [
        f"1.000 IP a.1 > b.2: Flags [.], seq {top - 1000}:{top}, ack 1, length 1000",
        f"1.010 IP a.1 > b.2: Flags [.], seq {top}:{900}, ack 1, length 1000",  # wraps
        "1.030 IP a.1 > b.2: Flags [.], seq 900:1900, ack 1, length 1000",
    ]
    w = eb.wire_stall(lines)
    assert w["packets_new_bytes"] == 3 and w["longest_ms"] == 20.0
    assert eb.wire_stall(lines[:1])["longest_ms"] is None


def test_iperf_retries_once_then_names_iperfs_error(monkeypatch: pytest.MonkeyPatch) -> None:
    """An iperf3 run that reports an error (its server busy with the previous test) is run
    again once; twice is a one-line error with iperf3's own message, not a KeyError."""
    busy = json.dumps({"start": {}, "end": {}, "error": "the server is busy running a test"})
    good = json.dumps({"end": {"sum_received": {"bits_per_second": 2.5e8}}})
    outs = [busy, good]
    monkeypatch.setattr(eb, "_spawn_out", lambda *a, **k: outs.pop(0))
    monkeypatch.setattr(eb.time, "sleep", lambda s: None)
    tb = type("TB", (), {"addr": lambda self, name: "198.18.1.2"})()
    assert eb._iperf(tb, 5202, 3) == 250.0  # type: ignore[arg-type]
    outs[:] = [busy, "not json"]
    with pytest.raises(RuntimeError, match="iperf3 to port 5202 failed twice: not json"):
        eb._iperf(tb, 5202, 3)  # type: ignore[arg-type]
    outs[:] = [busy, busy]
    with pytest.raises(RuntimeError, match="the server is busy"):
        eb._iperf(tb, 5202, 3)  # type: ignore[arg-type]


def test_stall_per_step_takes_the_longest_gap_inside_each_step() -> None:
    t0 = 1000.0
    gaps = {
        "c2s": [(t0 + 2.01, 0.030, 0), (t0 + 2.10, 0.214, 120), (t0 + 4.05, 0.040, 0)],
        "s2c": [(t0 + 2.20, 0.020, 0), (t0 + 7.50, 0.900, 3)],  # the last: after every step
    }
    steps = [["replace-fw", 2.0, 2.06], ["remove-mon", 4.0, 4.05], ["insert-mon", 6.0, None]]
    rows = eb.stall_per_step(gaps, steps, t0)
    assert rows[0] == {"step": "replace-fw", "c2s_ms": 214.0, "c2s_retransmitted": 120,
                       "s2c_ms": 20.0, "s2c_retransmitted": 0}  # fmt: skip
    assert rows[1]["c2s_ms"] == 40.0 and rows[1]["s2c_ms"] is None
    assert rows[2]["c2s_ms"] is None and rows[2]["s2c_ms"] is None  # 7.5 s is past 6.0 + 0.5


def test_wire_gaps_lists_every_gap_with_its_retransmissions() -> None:
    pkt = "{} IP 198.18.1.2.9100 > 198.18.1.1.40000: Flags [.], seq {}, ack 1, length 1448\n"
    lines = [
        pkt.format("100.000000", "1000:2448"),
        pkt.format("100.004000", "2448:3896"),
        pkt.format("100.084000", "2448:3896"),
        pkt.format("100.129000", "3896:5344"),
    ]
    gaps, packets, new = eb.wire_gaps(lines)
    assert packets == 4 and new == 3
    assert [(round(s - 100, 3), round(g * 1000, 1), r) for s, g, r in gaps] == [
        (0.0, 4.0, 0),
        (0.004, 125.0, 1),
    ]


_PROC = """TcpExt: SyncookiesSent PAWSEstab BeyondWindow TCPTimeouts TCPSACKReorder
TcpExt: 0 12 7 1 3
IpExt: InNoRoutes InOctets
IpExt: 0 99
Tcp: RtoAlgorithm RtoMin RtoMax MaxConn RetransSegs
Tcp: 1 200 120000 -1 58
"""


def test_parse_tcp_counters_reads_tcpext_and_tcp_groups_only() -> None:
    c = eb.parse_tcp_counters(_PROC)
    assert c["PAWSEstab"] == 12 and c["BeyondWindow"] == 7 and c["TCPTimeouts"] == 1
    assert c["RetransSegs"] == 58 and c["MaxConn"] == -1
    assert "InOctets" not in c  # IpExt is not a TCP group


def test_tcp_counter_delta_reports_every_named_counter() -> None:
    before = eb.parse_tcp_counters(_PROC)
    after = dict(before, TCPTimeouts=3, BeyondWindow=19)
    d = eb.tcp_counter_delta(before, after)
    assert list(d) == list(eb.TCP_COUNTERS)
    assert d["TCPTimeouts"] == 2 and d["BeyondWindow"] == 12
    assert d["TCPLossProbes"] == 0  # absent from both: 0, the key kept for a stable schema
