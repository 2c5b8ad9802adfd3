"""``dysco bench controller|dataplane|e2e|soak-e2e|soak``: one subcommand for every benchmark
(JSON with ``--json``; speed figures live here, never in timed tests)."""

from __future__ import annotations

import argparse
import json

from controller.cli_common import EXIT_OK, Subcommand, guard, int_at_least, print_table


def _bench_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", choices=["e2e", "soak-e2e", "soak", "dataplane", "controller"],
                   help="what to benchmark")  # fmt: skip
    p.add_argument("--plane", dest="target_plane", choices=["dpdk", "bmv2"], default="dpdk",
                   help="soak-e2e: data plane of the testbed")  # fmt: skip
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--reconfigs", type=int_at_least(2), default=20,
                   help="e2e: reconfigurations to time")  # fmt: skip
    p.add_argument("--load-mbps", type=int_at_least(0), default=200,
                   help="e2e: iperf3 load during the reconfigurations (0: unpaced)")  # fmt: skip
    p.add_argument("--agent-max-sleep-us", type=int_at_least(0), default=500,
                   help="e2e: the DPDK agents' longest idle sleep (--max-sleep-us)")  # fmt: skip
    p.add_argument("--p4rt-servers", choices=["process", "thread"], default="thread",
                   help="e2e: each device's P4Runtime server in its own process, or all as "
                   "threads of the bench (one interpreter lock)")  # fmt: skip
    p.add_argument("--sessions", type=int, default=100_000, help="dataplane, soak: sessions")
    p.add_argument("--reconfigure", type=float, default=0.0, metavar="FRACTION",
                   help="soak: fraction of the sessions to reconfigure")  # fmt: skip
    p.add_argument("--seconds", type=float, default=5.0, help="dataplane: window per run")
    p.add_argument("--payload", type=int, default=0, help="dataplane: TCP payload bytes")
    p.add_argument("--capacity", type=int, default=1_000_000, help="dataplane: table capacity")
    p.add_argument("--entries", type=int, default=50_000, help="controller: entries to write")
    p.add_argument("--batch", type=int, default=1000, help="controller: updates per Write")
    p.add_argument(
        "--target",
        "--backend",
        dest="backend",
        choices=["auto", "dpdk", "refmodel"],
        default="auto",
        help="controller: the device (dpdk: the DPDK agent and the P4Runtime server, each in "
        "its own process; refmodel: the server over the reference model; auto: dpdk if the "
        "agent can run)",
    )
    p.add_argument(
        "--rounds",
        type=int_at_least(1),
        default=None,
        help="controller, e2e: interleaved rounds per arm (default: controller 3, e2e 5)",
    )
    p.add_argument("--server", metavar="HOST:PORT", help="controller: a running P4Runtime server")


def _bench_run(args: argparse.Namespace) -> int:
    if args.target == "controller":
        if args.sessions == 100_000:  # the dataplane default; new sessions/s default to 2000
            args.sessions = 2000
        return bench_controller_run(args)
    if args.target == "dataplane":
        from dysco_bench import dataplane_bench

        return dataplane_bench.main_args(args)
    if args.target == "soak":
        return bench_soak_run(args)
    if args.target == "soak-e2e":
        from dysco_bench.soak import run_soak

        return run_soak(args)
    from dysco_bench.e2e_bench import run_bench

    return run_bench(args)


def bench_controller_run(args: argparse.Namespace) -> int:
    """``dysco bench controller``: :func:`dysco_bench.controller_bench.run_bench`, printed."""
    from dysco_bench.controller_bench import run_bench

    result = run_bench(
        entries=args.entries,
        batch=args.batch,
        sessions=args.sessions,
        target=str(getattr(args, "backend", None) or "auto"),
        server=args.server,
        rounds=args.rounds or 3,
    )
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        print_table(
            "dysco bench controller", ["metric", "value"], [[k, v] for k, v in result.items()]
        )
    return EXIT_OK


def bench_soak_run(args: argparse.Namespace) -> int:
    """``dysco bench soak``: :func:`dysco_bench.soak_sessions.run`, printed; exit 1 unless
    every session was set up, every reconfiguration completed and nothing leaked."""
    from dysco_bench.soak_sessions import run

    command = f"dysco bench soak --sessions {args.sessions} --reconfigure {args.reconfigure}"
    result = run(args.sessions, args.reconfigure, command + (" --json" if args.json else ""))
    if args.json:
        print(json.dumps(result, sort_keys=True))
    else:
        print_table("dysco bench soak", ["metric", "value"], [[k, v] for k, v in result.items()])
    return EXIT_OK if result["passed"] else 1


SUBCOMMANDS = (
    Subcommand(
        "bench",
        "benchmarks: controller | dataplane | e2e (testbed) | soak-e2e | soak (DPDK sessions)",
        _bench_args,
        guard(_bench_run),
    ),
)
