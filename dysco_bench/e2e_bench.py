"""``dysco bench e2e``: four figures on the testbed (not timed tests).

- handshake: TCP connect() time through a two-box chain [fw, mon] against a connection between
  the same namespaces without a policy (ratio; target <= 3);
- reconfig: time from request to one path again (the agent's measure) for insert/remove of the
  monitor in an iperf3 session under load (p50, p99; target p50 < 10 ms). The load is paced
  (``--load-mbps``, default 200; 0: as fast as it goes): unpaced, iperf3 saturates both cores
  this testbed shares among 8 DPDK agents and 8 controllers, and the figure measures CPU
  starvation and queueing rather than the protocol;
- stall: the longest gap without received bytes around reconfigurations (target < 200 ms);
- goodput: iperf3 in a Dysco session (a policy with an empty chain: every packet rewritten by
  the pipeline) against iperf3 with no policy (plain forwarding) between the same two hosts
  through the same DPDK agents (ratio; target >= 0.9). iperf3 through the chain [fw, nat] is
  reported too: its packets also cross two box hosts and four more agent passes, so it has no
  plain baseline on this testbed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

from dysco_testbed.bed import Testbed, load_topology
from dysco_testbed.scenarios import Spec, Step, run

PLAIN_POLICY_PORT = 9002  # the default testbed's policy with an empty chain

CONNECT = r"""
import socket, sys, time, statistics
dst, port, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ts = []
for i in range(n):
    s = socket.socket(); t = time.perf_counter(); s.connect((dst, port))
    ts.append(time.perf_counter() - t); s.close(); time.sleep(0.05)
print(statistics.median(ts) * 1000)
"""


def _pct(v: list[float], q: float) -> float:
    v = sorted(v)
    return round(v[min(len(v) - 1, int(q * (len(v) - 1) + 0.5))], 2) if v else float("nan")


def _connect_ms(tb: Testbed, port: int, n: int = 20) -> float:
    p = tb.spawn("client", [sys.executable, "-c", CONNECT, tb.addr("server"), str(port), str(n)])
    out, _err = p.communicate(timeout=120)
    return round(float(out.strip()), 3)


def _iperf(tb: Testbed, port: int, seconds: float) -> float:
    p = tb.spawn("client", ["iperf3", "-c", tb.addr("server"), "-p", str(port), "-t", str(seconds),
                            "-J"], name="iperf3")  # fmt: skip
    out, _ = p.communicate(timeout=seconds + 30)
    d = json.loads(out)
    return round(d["end"]["sum_received"]["bits_per_second"] / 1e6, 2)


def _handshake_and_goodput(tb: Testbed, log: Any) -> dict[str, Any]:
    """Connect time with and without the chain; iperf3 goodput with and without Dysco."""
    res: dict[str, Any] = {}
    chain = _connect_ms(tb, 9100)
    direct = _connect_ms(tb, 9003)
    res["handshake"] = {"chain_ms": chain, "direct_ms": direct,
                        "ratio": round(chain / direct, 2), "target": "<= 3"}  # fmt: skip
    log(f"handshake {res['handshake']}")
    plain = _iperf(tb, 5202, 4)
    dysco = _iperf(tb, PLAIN_POLICY_PORT, 4)
    through = _iperf(tb, 5201, 4)
    res["goodput"] = {"dysco_mbps": dysco, "plain_mbps": plain,
                      "ratio": round(dysco / plain, 3), "target": ">= 0.9",
                      "chain_fw_nat_mbps": through}  # fmt: skip
    log(f"goodput {res['goodput']}")
    return res


def _reconfig_times(tb: Testbed, reconfigs: int, load_mbps_arg: int) -> dict[str, Any]:
    """Insert/remove the monitor ``reconfigs`` times in an iperf3 session under load."""
    n = max(2, reconfigs)
    load_args = ["-b", f"{load_mbps_arg}M"] if load_mbps_arg > 0 else []
    load = tb.spawn("client", ["iperf3", "-c", tb.addr("server"), "-p", "5201", "-t",
                               str(3 + n * 0.6), "-J", *load_args], name="iperf3")  # fmt: skip
    time.sleep(1.5)
    times: list[float] = []
    outcomes: dict[str, int] = {}
    for i in range(n):
        kind = "insert" if i % 2 == 0 else "remove"
        params = {"kind": kind, "dst": tb.addr("server"), "dport": 5201,
                  "right_anchor": tb.addr("fw"),
                  "boxes": [tb.addr("mon")] if kind == "insert" else [],
                  "timeout": 10}  # fmt: skip
        r = tb.mgmt("client", "reconfig", params, timeout=20)
        for k, v in r["summary"].items():
            outcomes[k] = outcomes.get(k, 0) + v
        for x in r["results"]:
            if x.get("outcome") == "completed" and x.get("elapsed") is not None:
                times.append(float(x["elapsed"]) * 1000)
        time.sleep(2.2 if kind == "remove" else 0.3)  # old-path state of the box idles out
    load_out, _ = load.communicate(timeout=120)
    try:
        load_mbps = round(json.loads(load_out)["end"]["sum_received"]["bits_per_second"] / 1e6)
    except (ValueError, KeyError):
        load_mbps = None
    return {"p50_ms": _pct(times, 0.5), "p99_ms": _pct(times, 0.99),
            "n": len(times), "outcomes": outcomes, "target": "p50 < 10",
            "load_mbps": load_mbps, "load_paced_mbps": load_mbps_arg or None}  # fmt: skip


def _longest_stall(tb: Testbed, log: Any) -> dict[str, Any]:
    """The longest gap without received bytes around three reconfigurations (100 ms samples)."""
    spec = Spec("stall", port=9100, seconds=8.0, rate=4e6, steps=[
        Step(2.0, "replace-fw", "client", "replace", "mon", ["fw2"]),
        Step(4.0, "remove-mon", "fw2", "remove", "server"),
        Step(6.0, "insert-mon", "fw2", "insert", "server", ["mon"]),
    ])  # fmt: skip
    r = run(tb, spec, log=log)
    gaps = []
    for samples in (r.samples_c2s, r.samples_s2c):
        last_t = None
        for t, _b in samples:
            if last_t is not None:
                gaps.append(t - last_t)
            last_t = t
    return {"longest_ms": round(max(gaps) * 1000, 1) if gaps else None,
            "passed": r.passed, "outcomes": [x.outcomes for x in r.reconfigs],
            "target": "< 200", "resolution_ms": 100}  # fmt: skip


def run_bench(args: argparse.Namespace) -> int:
    """``dysco bench e2e``: the four figures on the default testbed (needs root)."""
    if os.geteuid() != 0:
        print("dysco bench e2e: needs root", file=sys.stderr)
        return 2
    log = (lambda m: None) if args.json else (lambda m: print(m, file=sys.stderr, flush=True))
    res: dict[str, Any] = {}
    with Testbed(load_topology(None), log=log) as tb:
        srvs = [
            tb.spawn("server", ["iperf3", "-s", "-p", str(p)], name="iperf3")
            for p in (5201, 5202, PLAIN_POLICY_PORT)
        ]
        echo = [tb.spawn("server", [sys.executable, "-m", "dysco_testbed.traffic", "server",
                                    "--port", str(p)], name="traffic")
                for p in (9100, 9003)]  # fmt: skip
        time.sleep(0.5)
        res.update(_handshake_and_goodput(tb, log))
        res["reconfig"] = _reconfig_times(tb, args.reconfigs, args.load_mbps)
        log(f"reconfig {res['reconfig']}")
        for p in srvs + echo:
            p.terminate()
        res["stall"] = _longest_stall(tb, log)
    if args.json:
        print(json.dumps(res, sort_keys=True))
    else:
        for k, v in res.items():
            print(f"{k:10} {v}")
    return 0
