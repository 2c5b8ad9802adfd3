"""What every ``dysco`` subcommand module shares: the :class:`Subcommand` record, the one-line
usage error, argument types, the documented exit codes, the error guard and table output.

A leaf module: the subcommand modules (:mod:`controller.commands`, :mod:`controller.p4_cli`,
:mod:`dysco_testbed.testbed_cli`, :mod:`dysco_bench.bench_cli`) import it, and the command line
(:mod:`controller.cli`) collects their ``SUBCOMMANDS``; nothing here imports them back.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NoReturn

__all__ = [
    "EXIT_CODES_HELP",
    "EXIT_FAILED",
    "EXIT_OK",
    "EXIT_UNREACHABLE",
    "EXIT_USAGE",
    "ArgParser",
    "Subcommand",
    "UsageError",
    "fail",
    "guard",
    "int_at_least",
    "print_json",
    "print_table",
    "probability",
]

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2
EXIT_UNREACHABLE = 3

EXIT_CODES_HELP = (
    "exit status: 0 success, 1 operation failed or refused, 2 usage or configuration error, "
    "3 daemon or device unreachable"
)


class UsageError(Exception):
    """Bad command-line input (reported in one line, exit status 2)."""


class ArgParser(argparse.ArgumentParser):
    """An ``ArgumentParser`` that raises :class:`UsageError` instead of exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: error: {message}")


@dataclass(frozen=True)
class Subcommand:
    """One ``dysco <name>`` subcommand."""

    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


# --- argument types --------------------------------------------------------------------------


def probability(text: str) -> float:
    """An ``argparse`` type: a float in [0, 1]."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be a probability in [0, 1], got {text}")
    return value


def int_at_least(low: int) -> Callable[[str], int]:
    """An ``argparse`` type: an integer >= ``low``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"must be >= {low}, got {value}")
        return value

    parse.__name__ = f"int>={low}"
    return parse


# --- errors and output -----------------------------------------------------------------------


def fail(msg: str) -> None:
    """Print ``dysco: error: msg`` on stderr."""
    print(f"dysco: error: {msg}", file=sys.stderr)


def guard(fn: Callable[[argparse.Namespace], int]) -> Callable[[argparse.Namespace], int]:
    """Turn every exception into one line on stderr and a documented exit code."""

    def run(args: argparse.Namespace) -> int:
        from controller.mgmt import MgmtError, Unreachable
        from dysco_proto.policy import ConfigError

        try:
            return fn(args)
        except UsageError:
            raise
        except ConfigError as e:
            fail(str(e))
            return EXIT_USAGE
        except Unreachable as e:
            fail(str(e))
            return EXIT_UNREACHABLE
        except MgmtError as e:
            fail(f"{e.code}: {e.message}")
            if e.code in ("bad_request", "unknown_method"):
                return EXIT_USAGE
            if e.code == "unauthorized":
                return EXIT_UNREACHABLE
            return EXIT_FAILED
        except KeyboardInterrupt:
            fail("interrupted")
            return EXIT_FAILED
        except Exception as e:
            from controller.p4rt.client import DeviceUnavailable

            if getattr(args, "debug", False):
                traceback.print_exc()
            if isinstance(e, DeviceUnavailable):
                fail(str(e))
                return EXIT_UNREACHABLE
            fail(f"{type(e).__name__}: {e}")
            return EXIT_FAILED

    return run


def print_json(obj: Any) -> None:
    """Print ``obj`` as indented JSON with sorted keys."""
    print(json.dumps(obj, indent=2, sort_keys=True, default=str))


def _console() -> Any:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False, width=max(100, _term_width()))


def _term_width() -> int:
    try:
        return os.get_terminal_size().columns
    except OSError:
        return 160


def print_table(title: str, columns: list[str], rows: list[list[Any]]) -> None:
    """Print a rich table (``None`` cells empty)."""
    from rich.table import Table

    t = Table(title=title)
    for c in columns:
        t.add_column(c, overflow="fold")
    for r in rows:
        t.add_row(*["" if v is None else str(v) for v in r])
    _console().print(t)
