"""CLI: ``dysco demo``, ``dysco testbed up|down|cleanup|status``, ``dysco bench e2e|dataplane``."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from controller.cli import Subcommand, int_at_least, register
from controller.commands import _guard


def _demo_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--target", choices=["dpdk", "bmv2"], default="dpdk", help="data plane")
    p.add_argument("--scenario", type=Path, help="testbed YAML (default: the built-in one)")
    p.add_argument("--out", type=Path, default=Path("demo-out"), help="output directory")


def _demo_run(args: argparse.Namespace) -> int:
    from controller.testbed.demo import run_demo

    return run_demo(args.target, args.scenario, args.out)


def _testbed_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["up", "down", "cleanup", "status"])
    p.add_argument("--scenario", type=Path, help="testbed YAML (default: the built-in one)")
    p.add_argument("--target", choices=["dpdk", "bmv2"], default="dpdk", help="data plane")
    p.add_argument("--run-id", help="down/cleanup: only this run (default: every run)")


def _testbed_run(args: argparse.Namespace) -> int:
    from controller.testbed.net import cleanup, leftovers

    if os.geteuid() != 0:
        print("dysco testbed: needs root", file=sys.stderr)
        return 2
    if args.action in ("down", "cleanup"):
        print(json.dumps({"removed": cleanup(args.run_id), "left": leftovers(args.run_id)}))
        return 0
    if args.action == "status":
        print(json.dumps(leftovers(args.run_id)))
        return 0
    from controller.testbed.bed import Testbed, load_topology

    with Testbed(load_topology(args.scenario), target=args.target, log=print) as tb:
        for d in tb.devices:
            print(f"{d.name}: hosts {[h.name for h in d.hosts]} config {d.config_path}")
        for h in tb.hosts.values():
            print(f"{h.name}: {h.address} in namespace {h.ns}")
        print(f"run id {tb.rid}: up; Ctrl-C tears it down")
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            print("tearing down")
    return 0


def _bench_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", choices=["e2e", "soak-e2e", "dataplane", "controller"],
                   help="what to benchmark")  # fmt: skip
    p.add_argument("--plane", dest="target_plane", choices=["dpdk", "bmv2"], default="dpdk",
                   help="soak-e2e: data plane of the testbed")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--reconfigs", type=int_at_least(2), default=20,
                   help="e2e: reconfigurations to time")  # fmt: skip
    p.add_argument("--load-mbps", type=int_at_least(0), default=200,
                   help="e2e: iperf3 load during the reconfigurations (0: unpaced)")  # fmt: skip
    p.add_argument("--sessions", type=int, default=100_000, help="dataplane: sessions")
    p.add_argument("--seconds", type=float, default=5.0, help="dataplane: window per run")
    p.add_argument("--payload", type=int, default=0, help="dataplane: TCP payload bytes")
    p.add_argument("--capacity", type=int, default=1_000_000, help="dataplane: table capacity")
    p.add_argument("--entries", type=int, default=50_000, help="controller: entries to write")
    p.add_argument("--batch", type=int, default=1000, help="controller: updates per Write")
    p.add_argument(
        "--backend",
        choices=["auto", "dpdk", "refmodel"],
        default="auto",
        help="controller: P4Runtime server backend (auto: DPDK if it can run)",
    )
    p.add_argument("--server", metavar="HOST:PORT", help="controller: a running P4Runtime server")


def _bench_run(args: argparse.Namespace) -> int:
    if args.target == "controller":
        from controller.commands import bench_controller_run

        if args.sessions == 100_000:  # the dataplane default; new sessions/s default to 2000
            args.sessions = 2000
        return bench_controller_run(args)
    if args.target == "dataplane":
        from controller import dataplane_bench

        return dataplane_bench.main_args(args)
    if args.target == "soak-e2e":
        from controller.testbed.soak import run_soak

        return run_soak(args)
    from controller.testbed.bench import run_bench

    return run_bench(args)


register(
    Subcommand(
        "demo", "end-to-end demo on real middleboxes (needs root)", _demo_args, _guard(_demo_run)
    )
)
register(Subcommand("testbed", "namespaces testbed: up | down | cleanup | status", _testbed_args,
                    _guard(_testbed_run)))  # fmt: skip
register(
    Subcommand("bench", "benchmarks: e2e (testbed) | dataplane", _bench_args, _guard(_bench_run))
)
