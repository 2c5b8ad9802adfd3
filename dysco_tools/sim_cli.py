"""``dysco sim``: the command line of the multi-agent simulator (:mod:`dysco_proto.sim`).

Runs one simulation and prints its report (a rich table, or one JSON object with ``--json``);
exit status 0 iff every invariant held.
"""

from __future__ import annotations

import argparse
import sys
from typing import IO, Any

from controller.cli_common import Subcommand, UsageError, int_at_least, probability


def _sim_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--sessions", type=int_at_least(1), default=20, help="TCP sessions (>= 1)")
    p.add_argument(
        "--reconfigs", type=int_at_least(0), default=100, help="reconfiguration requests"
    )
    p.add_argument("--loss", type=probability, default=0.0, help="control message loss prob.")
    p.add_argument("--dup", type=probability, default=0.0, help="control duplication prob.")
    p.add_argument("--reorder", type=probability, default=0.0, help="control reorder prob.")
    p.add_argument("--seed", type=int, default=1, help="random seed")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--trace",
        type=int_at_least(0),
        default=0,
        metavar="N",
        help="keep the last N trace lines and report them at the first violation",
    )
    p.add_argument(
        "--trace-filter",
        default="",
        metavar="REGEX",
        help="trace only lines matching REGEX (e.g. a host address or a port)",
    )


def _sim_run(args: argparse.Namespace) -> int:
    from dysco_proto.sim.runner import run
    from dysco_proto.sim.scenario import SimParams

    params = SimParams(
        sessions=args.sessions,
        reconfigs=args.reconfigs,
        loss=args.loss,
        dup=args.dup,
        reorder=args.reorder,
        seed=args.seed,
        trace=args.trace,
        trace_filter=args.trace_filter,
    )
    try:
        params.validate()
    except ValueError as err:
        raise UsageError(f"dysco sim: error: {err}") from None
    report = run(params)
    if args.json:
        print(report.to_json())
    else:
        _print_sim_report(report.to_dict(), sys.stdout)
    return 0 if report.ok else 1


def _print_sim_report(d: dict[str, Any], out: IO[str]) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(file=out, highlight=False)
    ok = d["violation_count"] == 0
    summary = Table(title=f"dysco sim (seed {d['seed']})", show_header=False)
    summary.add_column("metric")
    summary.add_column("value", justify="right")
    ctl = d["control_messages"]
    rows: list[tuple[str, object]] = [
        ("sessions (completed)", f"{d['sessions']} ({d['sessions_completed']})"),
        ("reconfigs requested", d["reconfigs_requested"]),
        ("  completed", d["reconfigs_completed"]),
        ("  refused", d["reconfigs_refused"]),
        ("  cancelled", d["reconfigs_cancelled"]),
        ("bytes sent / delivered", f"{d['bytes_sent']} / {d['bytes_delivered']}"),
        ("leaked entries", d["leaked_entries"]),
        ("violations", d["violation_count"]),
        (
            "control sent / lost / dup / reordered",
            f"{ctl['sent']} / {ctl['lost']} / {ctl['duplicated']} / {ctl['reordered']}",
        ),
        ("data packets", d["data_packets"]),
        ("retransmissions / RST seen", f"{d['retransmissions']} / {d['rst_seen']}"),
        ("sim time (s) / events", f"{d['sim_time']} / {d['events']}"),
        ("wall time (s)", d["wall_seconds"]),
    ]
    for name, value in rows:
        summary.add_row(name, str(value))
    console.print(summary)
    kinds = Table(title="requests by kind")
    for col in ("kind", "requested", "completed", "refused", "cancelled"):
        kinds.add_column(col, justify="left" if col == "kind" else "right")
    for kind, c in d["outcomes_by_kind"].items():
        kinds.add_row(
            kind, str(c["requested"]), str(c["completed"]), str(c["refused"]), str(c["cancelled"])
        )
    console.print(kinds)
    for w in d["warnings"]:
        console.print(f"[yellow]warning:[/yellow] {w}", markup=True)
    for leak in d["leaks"]:
        console.print(f"[yellow]leftover:[/yellow] {leak}", markup=True)
    for v in d["violations"]:
        console.print(f"[red]violation:[/red] {v}", markup=True)
    console.print("[green]all invariants hold[/green]" if ok else "[red]VIOLATIONS[/red]")


SUBCOMMANDS = (Subcommand("sim", "run the multi-agent simulator", _sim_arguments, _sim_run),)
