"""``dysco p4 resources --chip tofino|tofino2 [--json] [--build DIR] [--pipe NAME]``: what the
compiled Tofino program uses of a pipe (:mod:`controller.p4resources`); of each pipe, and the
whole, for a build of several pipelines (the folded Tofino 1 build).

Exit status: 0, or 2 with one line on stderr when the build directory is missing or its
compiler output is unreadable.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from controller.cli_common import EXIT_USAGE, Subcommand
from controller.p4resources import (
    BuildResources,
    PipeResources,
    ResourceError,
    Resources,
    TableUse,
    load_resources,
)
from controller.p4rt.tofino import CHIPS, default_build_dir


def _args(p: argparse.ArgumentParser) -> None:
    sub = p.add_subparsers(dest="what", metavar="WHAT", required=True)
    r = sub.add_parser(
        "resources",
        help="per-table stages, SRAM/TCAM blocks, totals and sessions per pipe (Tofino)",
        description="What the compiled Tofino program uses of a pipe, from bf-p4c's "
        "resources.json and context.json (default build: p4src/build/<chip>/).",
    )
    r.add_argument("--chip", required=True, choices=tuple(CHIPS), help="Tofino generation")
    r.add_argument("--build", type=Path, help="bf-p4c output directory (default: committed)")
    r.add_argument("--pipe", help="one Pipeline instance (default: every pipeline the build lists)")
    r.add_argument("--json", action="store_true", help="print one JSON object")


def _run(args: argparse.Namespace) -> int:
    build = args.build if args.build is not None else default_build_dir(args.chip)
    try:
        res = load_resources(build, args.chip, args.pipe)
    except ResourceError as e:
        print(f"dysco p4 resources: error: {e}", file=sys.stderr)
        return EXIT_USAGE
    if args.json:
        print(json.dumps(res.to_dict(), indent=2, sort_keys=True))
    else:
        _print(res)
    return 0


def _condition_only(u: TableUse) -> bool:
    return u.name.startswith("tbl_") and u.size <= 1 and not (u.sram_blocks or u.tcam_blocks)


def _pct(used: int, total: int) -> str:
    return f"{used} / {total}" + (f" ({100 * used / total:.0f} %)" if total else "")


def _print(r: Resources | BuildResources) -> None:
    from rich.console import Console

    console = Console(highlight=False, width=max(100, console_width()))
    if isinstance(r, Resources):
        _print_pipe(console, r, f"{r.chip}: tables and registers ({r.build})", _sessions_rows(r))
        return
    for p in r.pipes:
        title = f"{r.chip} {p.pipe}: tables and registers ({r.build})"
        _print_pipe(console, p, title, [])
    _print_totals(
        console,
        f"{r.chip}: the program ({', '.join(p.pipe for p in r.pipes)})",
        [
            ("MAU stages (larger pipe)", _pct(r.stages_used, r.stages_total)),
            *_sessions_rows(r),
            ("  session tables in", r.sessions_pipe),
        ],
    )


def _sessions_rows(r: Resources | BuildResources) -> list[tuple[str, str]]:
    limits = ", ".join(f"{k} {v}" for k, v in r.sessions_limits.items())
    # a folded program takes two pipes: its sessions are those of one pair
    per = "per pipe" if isinstance(r, Resources) else f"per {len(r.pipes)} pipes"
    return [
        (f"sessions {per} (session sides)", str(r.sessions_capacity)),
        ("  limited by", f"{r.sessions_limited_by} ({limits})"),
    ]


def _print_totals(console: Any, title: str, rows: list[tuple[str, str]]) -> None:
    from rich.table import Table

    s = Table(title=title, show_header=False)
    s.add_column("resource")
    s.add_column("used / total", justify="right")
    for name, value in rows:
        s.add_row(name, value)
    console.print(s)


def _print_pipe(console: Any, r: PipeResources, title: str, extra: list[tuple[str, str]]) -> None:
    """One pipe's tables and totals (``extra``: rows after the totals)."""
    from rich.table import Table

    t = Table(title=title)
    for col in ("name", "kind", "stages", "size", "SRAM blocks", "TCAM blocks", "map RAMs"):
        t.add_column(col, justify="left" if col in ("name", "kind") else "right")
    # bf-p4c's tables for the program's if-conditions (tbl_*: a gateway, no entries, no
    # memory) take logical table slots but nothing else: one summary row (--json lists them)
    conditions = [u for u in r.tables if _condition_only(u)]
    for u in r.tables:
        if _condition_only(u):
            continue
        stages = ",".join(str(s) for s in u.stages)
        t.add_row(
            u.name, u.kind, stages, str(u.size), str(u.sram_blocks), str(u.tcam_blocks),
            str(u.map_rams),
        )  # fmt: skip
    if conditions:
        used = sorted({s for u in conditions for s in u.stages})
        t.add_row(
            f"{len(conditions)} condition tables (tbl_*, gateway only)", "match",
            f"{used[0]}-{used[-1]}", "", "0", "0", "0",
        )  # fmt: skip
    console.print(t)
    where = "per pipe" if isinstance(r, Resources) else f"of {r.pipe}"
    _print_totals(
        console,
        f"{r.chip}: totals {where} (bf-p4c {r.compiler_version})",
        [
            ("MAU stages", _pct(r.stages_used, r.stages_total)),
            ("PHV containers", _pct(r.phv_containers_used, r.phv_containers_total)),
            ("PHV bits", _pct(r.phv_bits_used, r.phv_bits_total)),
            ("hash bits", _pct(r.hash_bits_used, r.hash_bits_total)),
            ("stateful ALUs", _pct(r.stateful_alus_used, r.stateful_alus_total)),
            ("SRAM blocks", _pct(r.sram_blocks_used, r.sram_blocks_total)),
            ("TCAM blocks", _pct(r.tcam_blocks_used, r.tcam_blocks_total)),
            *extra,
        ],
    )


def console_width() -> int:
    import shutil

    return shutil.get_terminal_size((120, 24)).columns


SUBCOMMANDS = (Subcommand("p4", "the compiled P4 program (resources)", _args, _run),)
