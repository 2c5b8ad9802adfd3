"""The testbed's subcommands: ``dysco demo`` and ``dysco testbed up|down|cleanup|status``."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from controller.cli_common import Subcommand, guard


def _demo_args(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--target", choices=["dpdk", "bmv2"], help="data plane (default: the scenario's, dpdk)"
    )
    p.add_argument(
        "--scenario",
        type=Path,
        help="testbed YAML or a built-in name: default, stock, shared, rack",
    )
    p.add_argument("--out", type=Path, default=Path("demo-out"), help="output directory")


def _demo_run(args: argparse.Namespace) -> int:
    from dysco_testbed.demo import run_demo

    return run_demo(args.target, args.scenario, args.out)


def _testbed_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("action", choices=["up", "down", "cleanup", "status"])
    p.add_argument(
        "--scenario",
        type=Path,
        help="testbed YAML or a built-in name: default, stock, shared, rack",
    )
    p.add_argument(
        "--target", choices=["dpdk", "bmv2"], help="data plane (default: the scenario's, dpdk)"
    )
    p.add_argument("--run-id", help="down/cleanup: only this run (default: every run)")


def _testbed_run(args: argparse.Namespace) -> int:
    from dysco_testbed.net import cleanup, leftovers

    if os.geteuid() != 0:
        print("dysco testbed: needs root", file=sys.stderr)
        return 2
    if args.action in ("down", "cleanup"):
        print(json.dumps({"removed": cleanup(args.run_id), "left": leftovers(args.run_id)}))
        return 0
    if args.action == "status":
        print(json.dumps(leftovers(args.run_id)))
        return 0
    from dysco_testbed.bed import Testbed, load_topology

    topo = load_topology(args.scenario)
    target = args.target or str(topo.get("target") or "dpdk")
    with Testbed(topo, target=target, log=print) as tb:
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


SUBCOMMANDS = (
    Subcommand(
        "demo", "end-to-end demo on real middleboxes (needs root)", _demo_args, guard(_demo_run)
    ),
    Subcommand(
        "testbed",
        "namespaces testbed: up | down | cleanup | status",
        _testbed_args,
        guard(_testbed_run),
    ),
)
