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

from controller import commands, p4_cli
from controller.cli_common import ArgParser, Subcommand, UsageError
from dysco_bench import bench_cli
from dysco_testbed import testbed_cli
from dysco_tools import sim_cli

REGISTRY: dict[str, Subcommand] = {}


def register(cmd: Subcommand) -> Subcommand:
    """Add ``cmd`` to the registry (``ValueError`` on a duplicate name)."""
    if cmd.name in REGISTRY:
        raise ValueError(f"duplicate subcommand {cmd.name!r}")
    REGISTRY[cmd.name] = cmd
    return cmd


# The controller's subcommands (agent, sessions, session, reconfig, policy, status, counters),
# the P4 program's (p4 resources), the testbed's (demo, testbed), the benchmarks' (bench) and
# the simulator's (sim).
for _module in (commands, p4_cli, testbed_cli, bench_cli, sim_cli):
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
