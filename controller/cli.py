"""The ``dysco`` command line.

Subcommands live in a small registry: each is a :class:`~controller.cli_common.Subcommand`
(name, help, a function that adds its arguments, a function that runs it and returns the exit
status). A subcommand module lists its own in ``SUBCOMMANDS``, e.g.::

    SUBCOMMANDS = (Subcommand("status", "show agent status", _status_args, _status_run),)

and this module registers them; no subcommand module imports this one.

Argument errors print one line (``dysco <cmd>: error: ...``) and exit with status 2; no
tracebacks for bad input.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import IO, Any

from controller import commands, p4_cli
from controller.cli_common import ArgParser, Subcommand, UsageError, int_at_least, probability
from dysco_bench import bench_cli
from dysco_testbed import testbed_cli

REGISTRY: dict[str, Subcommand] = {}


def register(cmd: Subcommand) -> Subcommand:
    """Add ``cmd`` to the registry (``ValueError`` on a duplicate name)."""
    if cmd.name in REGISTRY:
        raise ValueError(f"duplicate subcommand {cmd.name!r}")
    REGISTRY[cmd.name] = cmd
    return cmd


# --- dysco sim -------------------------------------------------------------------------------


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


register(Subcommand("sim", "run the multi-agent simulator", _sim_arguments, _sim_run))
# The controller's subcommands (agent, sessions, session, reconfig, policy, status, counters),
# the P4 program's (p4 resources), the testbed's (demo, testbed) and the benchmarks' (bench).
for _module in (commands, p4_cli, testbed_cli, bench_cli):
    for _cmd in _module.SUBCOMMANDS:
        register(_cmd)

# --- entry point -----------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    """The top-level parser with one subparser per registered subcommand."""
    parser = ArgParser(prog="dysco", description="Dysco: dynamic service chaining of TCP sessions")
    subs = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=ArgParser)
    for cmd in REGISTRY.values():
        sub = subs.add_parser(cmd.name, help=cmd.help, description=cmd.help)
        cmd.add_arguments(sub)
        sub.set_defaults(_run=cmd.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``dysco``; returns the exit status (2 on bad arguments)."""
    parser = build_parser()
    try:
        args = parser.parse_args(list(argv) if argv is not None else None)
        if getattr(args, "_run", None) is None:
            raise UsageError(f"dysco: error: a subcommand is required ({', '.join(REGISTRY)})")
        status: int = args._run(args)
    except UsageError as err:
        print(str(err), file=sys.stderr)
        return 2
    except SystemExit as exc:  # --help
        return exc.code if isinstance(exc.code, int) else 0
    return status


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
