"""What the Dysco program uses of a Tofino pipe, from bf-p4c's own output.

``dysco p4 resources --chip tofino|tofino2`` reads a build directory (default: the committed
``p4src/build/<chip>/``), for each pipeline profile the build lists (``dysco.conf``: ``pipe``
for Tofino 2; ``pipe_a`` and ``pipe_b`` for the folded Tofino 1 build):

- ``<pipe>/logs/resources.json`` (bf-p4c's resource report): per MAU stage, the SRAM and TCAM
  blocks and who uses them, hash bits, meter/stateful ALUs, logical tables; the PHV containers
  of the chip;
- ``<pipe>/context.json`` (what the driver loads): every table's stages and compiled size,
  registers' sizes, the PHV allocation.

Nothing is estimated: a table's SRAM blocks are the blocks ``resources.json`` names it (or its
action data, ``<table>$action``, or other attached memories, ``<table>$...``) as user of, its
stages and sizes those of ``context.json``.

**Sessions per pipe** (``sessions_capacity``): the number of *session sides* the pipe holds.
A session side (one agent's side of a TCP session: an endpoint, or one side of a middlebox)
needs one ``out_session`` entry, one ``in_session`` entry and one slot (a cell of every slot
register), so the capacity is the smallest of the compiled ``out_session`` size, the compiled
``in_session`` size and the slot registers' size. It counts allocated entries: exact-match
tables are hash tables, and the last few percent of one may be unusable when a key's every way
is taken; during a reconfiguration a side holds a second ``in_session`` entry (old and new
path).

**A folded build** (several pipelines, :class:`BuildResources`) is reported per pipe (each
pipe's own stages, memories and tables, names as ``context.json`` gives them) and as a
whole: ``stages_used`` is the larger pipe's (each pipe has its own ``stages_total`` stages),
``tables`` lists every pipe's with the pipe's name in front (``pipe_a.DyscoIngress_0...``),
and the session limits take ``out_session`` and ``in_session`` from the pipe that holds them
and the slots from every pipe's slot registers (a session side has a cell in each).
"""

from __future__ import annotations

import json
import re
from collections import defaultdict
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from controller.p4rt.p4info import contract_form
from controller.p4rt.tofino import TofinoBuildError, build_pipelines
from dysco_pipeline.pipeline import Tbl


class ResourceError(ValueError):
    """The build directory is missing or its compiler output is not what bf-p4c writes."""


@dataclass
class TableUse:
    """One table or register of the program and what it occupies."""

    name: str
    kind: str  # match | register
    stages: list[int]
    size: int
    sram_blocks: int = 0
    tcam_blocks: int = 0
    map_rams: int = 0


@dataclass
class PipeResources:
    """What one compiled pipe uses."""

    chip: str
    build: str
    pipe: str
    compiler_version: str
    stages_used: int
    stages_total: int
    phv_containers_used: int
    phv_containers_total: int
    phv_bits_used: int
    phv_bits_total: int
    hash_bits_used: int
    hash_bits_total: int
    stateful_alus_used: int
    stateful_alus_total: int
    sram_blocks_used: int
    sram_blocks_total: int
    tcam_blocks_used: int
    tcam_blocks_total: int
    tables: list[TableUse] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (``tables`` as a list of dicts)."""
        return asdict(self)


@dataclass
class Resources(PipeResources):
    """The report of a one-pipeline build: its pipe and the sessions it holds."""

    sessions_capacity: int = 0
    sessions_limits: dict[str, int] = field(default_factory=dict)
    sessions_limited_by: str = ""


@dataclass
class BuildResources:
    """The report of a build of several pipelines (the folded Tofino 1 build)."""

    chip: str
    build: str
    compiler_version: str
    stages_used: int  # the larger pipe's
    stages_total: int  # of one pipe
    sessions_capacity: int
    sessions_limits: dict[str, int]
    sessions_limited_by: str
    sessions_pipe: str  # the pipe that holds out_session and in_session
    tables: list[TableUse]  # every pipe's, names "<pipe>.<context.json name>"
    pipes: list[PipeResources]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready."""
        return asdict(self)


def _load_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_bytes())
    except FileNotFoundError:
        raise ResourceError(f"{what} missing: {path}") from None
    except OSError as e:
        raise ResourceError(f"{what} unreadable: {path}: {e.strerror or e}") from None
    except ValueError as e:
        raise ResourceError(f"{what} is not JSON: {path}: {e}") from None


def _get(obj: Any, path: str, where: Path) -> Any:
    """``obj[k1][k2]...`` for ``path`` "k1.k2"; a garbled file is a one-line error."""
    cur = obj
    for key in path.split("."):
        if not isinstance(cur, dict) or key not in cur:
            raise ResourceError(f"{where}: no {path!r} (not a bf-p4c output of a known version)")
        cur = cur[key]
    return cur


def _base_name(used_by: str) -> str:
    """``t$action`` / ``t$idletime`` -> ``t`` (memories attached to table ``t``)."""
    i = used_by.find("$")
    return used_by[:i] if i > 0 and used_by[i - 1] != "." else used_by


@dataclass
class _StageBlocks:
    """What ``resources.json`` says each MAU stage holds, and who uses it."""

    srams: dict[str, set[tuple[int, int, int]]] = field(default_factory=lambda: defaultdict(set))
    tcams: dict[str, set[tuple[int, int, int]]] = field(default_factory=lambda: defaultdict(set))
    maprams: dict[str, set[tuple[int, int, int]]] = field(default_factory=lambda: defaultdict(set))
    sram_used: set[tuple[int, int, int]] = field(default_factory=set)
    tcam_used: set[tuple[int, int, int]] = field(default_factory=set)
    # resources.json lists only the stages the program uses; every stage of a chip has the
    # same units, so a pipe's total is one stage's count times nStages
    per_stage: dict[str, int] = field(default_factory=dict)
    hash_used: int = 0
    alu_used: int = 0
    used_stages: set[int] = field(default_factory=set)


_SPLIT_PART = re.compile(r"\$st\d+$")


def _context_tables(ctx: Any, ctx_path: Path) -> dict[str, TableUse]:
    """Every match table and register of ``context.json`` with its MAU stages and size."""
    tables: dict[str, TableUse] = {}
    for t in _get(ctx, "tables", ctx_path):
        ttype = t.get("table_type")
        name = t.get("name", "")
        if ttype == "match":
            sts = (t.get("match_attributes") or {}).get("stage_tables") or []
            kind = "match"
        elif ttype == "stateful":
            sts = t.get("stage_tables") or []
            kind = "register"
        else:
            continue
        st_nums = sorted({int(s["stage_number"]) for s in sts if int(s["stage_number"]) >= 0})
        if not st_nums:
            continue  # parser-phase tables ($PORT_METADATA): no MAU stage
        size = (
            sum(int(s.get("size", 0)) for s in sts if int(s["stage_number"]) >= 0)
            if kind == "match"
            else int(t.get("size", 0))
        )
        # "<t>$st1": a later stage's part of a table bf-p4c split (its actions or its gateway
        # over stages); each part holds every entry, so one table in the union of stages.
        base = _SPLIT_PART.sub("", name)
        if base in tables and tables[base].kind == kind:
            known = tables[base]
            known.stages = sorted(set(known.stages) | set(st_nums))
            known.size = max(known.size, size)
        else:
            tables[base] = TableUse(base, kind, st_nums, size)
    return tables


def _add_stage(b: _StageBlocks, st: Any) -> None:
    """Account one ``mau_stages`` entry of ``resources.json`` into ``b``."""
    n = int(st["stage_number"])
    if st["logical_tables"]["ids"]:
        b.used_stages.add(n)
    rams = st["rams"]
    b.per_stage["sram"] = int(rams["nRows"]) * int(rams["nColumns"])
    for blk in rams["srams"]:
        loc = (n, int(blk["row"]), int(blk["column"]))
        b.sram_used.add(loc)
        for u in blk["usages"]:
            b.srams[_base_name(u["used_by"])].add(loc)
    tc = st["tcams"]
    b.per_stage["tcam"] = int(tc["nRows"]) * int(tc["nColumns"])
    for blk in tc["tcams"]:
        loc = (n, int(blk["row"]), int(blk["column"]))
        b.tcam_used.add(loc)
        for u in blk["usages"]:
            b.tcams[_base_name(u["used_by"])].add(loc)
    for blk in st["map_rams"]["maprams"]:
        loc = (n, int(blk["row"]), int(blk["unit_id"]))
        for u in blk["usages"]:
            b.maprams[_base_name(u["used_by"])].add(loc)
    hb = st["hash_bits"]
    b.per_stage["hash"] = int(hb["nBits"]) * int(hb["nFunctions"])
    b.hash_used += len({(int(x["hash_function"]), int(x["hash_bit"])) for x in hb["bits"]})
    ma = st["meter_alus"]
    b.per_stage["alu"] = int(ma["nAlus"])
    b.alu_used += sum(
        1 for m in ma["meters"] if any("stateful" in u.get("used_for", "") for u in m["usages"])
    )


def _stage_blocks(stages: list[Any], res_path: Path) -> _StageBlocks:
    """The per-stage blocks of ``resources.json`` (a garbled file is a one-line error)."""
    b = _StageBlocks()
    try:
        for st in stages:
            _add_stage(b, st)
    except (KeyError, TypeError, ValueError) as e:
        raise ResourceError(f"{res_path}: unexpected layout ({type(e).__name__}: {e})") from None
    return b


def _phv_usage(
    res: Any, ctx: Any, res_path: Path, ctx_path: Path
) -> tuple[int, int, dict[int, int]]:
    """The chip's PHV containers and bits, and the containers ``context.json`` allocates."""
    total_n = total_bits = 0
    try:
        for kind_list in _get(res, "resources.phv_containers", res_path).values():
            for grp in kind_list:
                total_n += int(grp["units"])
                total_bits += int(grp["units"]) * int(grp["width"])
        used: dict[int, int] = {}
        for stage in _get(ctx, "phv_allocation", ctx_path):
            for gress in ("ingress", "egress"):
                for c in stage.get(gress, []):
                    used[int(c["phv_number"])] = int(c["word_bit_width"])
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        raise ResourceError(f"PHV data: unexpected layout ({type(e).__name__}: {e})") from None
    return total_n, total_bits, used


def _session_limits(
    pipes: list[tuple[str, dict[str, TableUse]]], where: Path
) -> tuple[dict[str, int], str, str]:
    """Session sides allowed by each of out_session, in_session (of the pipe holding them)
    and the slots (every pipe's registers); the limiting one; the session tables' pipe."""
    limits: dict[str, int] = {}
    holder = ""
    for tbl in (Tbl.OUT_SESSION, Tbl.IN_SESSION):
        found = [
            (pipe, t)
            for pipe, tables in pipes
            for n, t in tables.items()
            if t.kind == "match" and contract_form(n, (pipe,)) == tbl.value
        ]
        if not found:
            names = ", ".join(p for p, _t in pipes)
            raise ResourceError(f"{where}: table {tbl.value} not found in pipeline {names}")
        holder, t = found[0]
        limits[tbl.value.rsplit(".", 1)[-1]] = t.size
    registers = [t for _p, tables in pipes for t in tables.values() if t.kind == "register"]
    if not registers:
        raise ResourceError(f"{where}: no slot registers found")
    limits["slots"] = min(t.size for t in registers)
    return limits, min(limits, key=lambda k: limits[k]), holder


def _pipe_resources(build: Path, chip: str, pipe: str) -> PipeResources:
    """What pipe ``pipe`` of the build uses (raises :class:`ResourceError`)."""
    res_path = build / pipe / "logs" / "resources.json"
    ctx_path = build / pipe / "context.json"
    res = _load_json(res_path, "resources.json")
    ctx = _load_json(ctx_path, "context.json")
    target = ctx.get("target") if isinstance(ctx, dict) else None
    if target != chip:
        raise ResourceError(f"{ctx_path} is for target {target!r}, not {chip!r}")
    mau = _get(res, "resources.mau", res_path)
    stages = _get(mau, "mau_stages", res_path)
    stages_total = int(_get(mau, "nStages", res_path))
    if not isinstance(stages, list):
        raise ResourceError(f"{res_path}: 'mau_stages' is not a list")

    tables = _context_tables(ctx, ctx_path)
    b = _stage_blocks(stages, res_path)
    sram_total, tcam_total, hash_total, alu_total = (
        b.per_stage.get(k, 0) * stages_total for k in ("sram", "tcam", "hash", "alu")
    )
    for name, t in tables.items():
        t.sram_blocks = len(b.srams.get(name, ()))
        t.tcam_blocks = len(b.tcams.get(name, ()))
        t.map_rams = len(b.maprams.get(name, ()))
    phv_total_n, phv_total_bits, used = _phv_usage(res, ctx, res_path, ctx_path)
    return PipeResources(
        chip=chip,
        build=str(build),
        pipe=pipe,
        compiler_version=str(ctx.get("compiler_version", "")),
        stages_used=len(b.used_stages),
        stages_total=stages_total,
        phv_containers_used=len(used),
        phv_containers_total=phv_total_n,
        phv_bits_used=sum(used.values()),
        phv_bits_total=phv_total_bits,
        hash_bits_used=b.hash_used,
        hash_bits_total=hash_total,
        stateful_alus_used=b.alu_used,
        stateful_alus_total=alu_total,
        sram_blocks_used=len(b.sram_used),
        sram_blocks_total=sram_total,
        tcam_blocks_used=len(b.tcam_used),
        tcam_blocks_total=tcam_total,
        tables=sorted(tables.values(), key=lambda t: (t.stages[0], t.name)),
    )


def pipeline_names(build: Path) -> list[str]:
    """The pipelines the build lists (``dysco.conf``, ``manifest.json``), else ``["pipe"]``."""
    try:
        return [n for n, _s in build_pipelines(build)] or ["pipe"]
    except TofinoBuildError as e:
        raise ResourceError(str(e)) from None


def load_resources(build: Path, chip: str, pipe: str | None = None) -> Resources | BuildResources:
    """The resource report of the build in ``build`` (raises :class:`ResourceError`): of pipe
    ``pipe``, or (None) of every pipeline the build lists: a :class:`Resources` for one, a
    :class:`BuildResources` for several."""
    if not build.is_dir():
        raise ResourceError(f"no build directory {build} (compile with make -C p4src tofino)")
    listed = pipeline_names(build)
    names = [pipe] if pipe is not None else listed
    pipes = [_pipe_resources(build, chip, name) for name in names]
    # the sessions are the build's: one pipe's report (--pipe) still counts every pipe's
    # session tables and slot registers (folded, pipe_b holds neither session table)
    every = pipes
    if pipe is not None and pipe in listed and len(listed) > 1:
        every = [_pipe_resources(build, chip, name) for name in listed]
    by_pipe = [(p.pipe, {t.name: t for t in p.tables}) for p in every]
    limits, limited_by, holder = _session_limits(by_pipe, build / names[0] / "context.json")
    if len(pipes) == 1:
        fields = {k: getattr(pipes[0], k) for k in pipes[0].__dataclass_fields__}
        return Resources(
            **fields,
            sessions_capacity=limits[limited_by],
            sessions_limits=limits,
            sessions_limited_by=limited_by,
        )
    tables = [replace(t, name=f"{p.pipe}.{t.name}") for p in pipes for t in p.tables]
    return BuildResources(
        chip=chip,
        build=str(build),
        compiler_version=pipes[0].compiler_version,
        stages_used=max(p.stages_used for p in pipes),
        stages_total=max(p.stages_total for p in pipes),
        sessions_capacity=limits[limited_by],
        sessions_limits=limits,
        sessions_limited_by=limited_by,
        sessions_pipe=holder,
        tables=tables,
        pipes=pipes,
    )
