"""``dysco p4 resources`` on the committed bf-p4c outputs (``p4src/build/<chip>/``): every
per-table figure is checked against an independent reading of another compiler file
(context.json's memory allocation, which the driver loads), never against literals. A build
of several pipelines (the folded Tofino 1 build) is checked pipe by pipe, and its whole-program
figures against the pipes'."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from controller.p4resources import (
    BuildResources,
    PipeResources,
    ResourceError,
    Resources,
    load_resources,
)
from controller.p4rt.p4info import contract_form
from controller.p4rt.tofino import CHIPS, build_pipelines
from dysco_pipeline import pipeline as pl
from tests.tofino import committed_build

CHIP_LIST = sorted(CHIPS)


def _units(mra: Any, kind: str) -> int:
    """Memory units of one context.json memory_resource_allocation of ``kind``."""
    if not isinstance(mra, dict) or mra.get("memory_type") != kind:
        return 0
    return sum(len(uv["memory_units"]) for uv in mra.get("memory_units_and_vpns", []))


def context_memory(ctx: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per table, from context.json alone: stages, size, SRAM and TCAM units (the driver's view
    of the allocation, including attached action data ``<table>$action``)."""
    out: dict[str, dict[str, Any]] = {}
    for t in ctx["tables"]:
        if t["table_type"] not in ("match", "stateful", "action"):
            continue
        sts = (t.get("match_attributes") or {}).get("stage_tables") or t.get("stage_tables") or []
        sts = [s for s in sts if s["stage_number"] >= 0]
        sram = tcam = 0
        for st in sts:
            for mra in [st.get("memory_resource_allocation")] + [
                w.get("memory_resource_allocation") for w in st.get("ways", [])
            ]:
                sram += _units(mra, "sram")
                tcam += _units(mra, "tcam")
                if isinstance(mra, dict) and "spare_bank_memory_unit" in mra:
                    sram += mra.get("memory_type") == "sram"  # the spare bank is a block too
            tind = st.get("ternary_indirection_stage_table")
            if isinstance(tind, dict):
                sram += _units(tind.get("memory_resource_allocation"), "sram")
        name = t["name"]
        i = name.find("$")  # "<table>$action": the action data of <table>
        base = name[:i] if i > 0 and name[i - 1] != "." else name
        entry = out.setdefault(base, {"stages": set(), "size": 0, "sram": 0, "tcam": 0})
        if t["table_type"] != "action":
            # "<t>$st1" (a split table's later part) holds the same entries as <t>
            entry["stages"] |= {s["stage_number"] for s in sts}
            size = sum(s["size"] for s in sts) if t["table_type"] == "match" else t["size"]
            entry["size"] = max(entry["size"], size)
            entry["kind"] = "register" if t["table_type"] == "stateful" else "match"
        entry["sram"] += sram
        entry["tcam"] += tcam
    return out


def pipes_of(d: Path, chip: str) -> list[PipeResources]:
    """The report's pipes, in the build's order (dysco.conf)."""
    res = load_resources(d, chip)
    names = [n for n, _s in build_pipelines(d)] or ["pipe"]
    pipes = [res] if isinstance(res, Resources) else list(res.pipes)
    assert [p.pipe for p in pipes] == names
    return pipes


def check_pipe(d: Path, res: PipeResources) -> dict[str, dict[str, Any]]:
    """One pipe's figures against its context.json; its memory view, by table."""
    ctx = json.loads((d / res.pipe / "context.json").read_bytes())
    mem = context_memory(ctx)
    names = {t.name for t in res.tables}
    assert {n for n, m in mem.items() if m.get("kind") and m["stages"] and n in names} == names
    for t in res.tables:
        m = mem[t.name]
        assert t.stages == sorted(m["stages"]), t.name
        assert t.size == m["size"], t.name
        assert t.sram_blocks == m["sram"], t.name
        assert t.tcam_blocks == m["tcam"], t.name
    resources = json.loads((d / res.pipe / "logs" / "resources.json").read_bytes())
    assert res.stages_total == resources["resources"]["mau"]["nStages"]
    # every stage a table or register occupies is a used stage (gateways may add more)
    used = {s for t in res.tables for s in t.stages}
    assert len(used) <= res.stages_used <= res.stages_total
    # registers: one stateful ALU each per stage they are in
    assert res.stateful_alus_used == sum(len(t.stages) for t in res.tables if t.kind == "register")
    # PHV: the containers context.json allocates
    phv = {
        c["phv_number"]
        for stage in ctx["phv_allocation"]
        for gress in ("ingress", "egress")
        for c in stage.get(gress, [])
    }
    assert res.phv_containers_used == len(phv)
    for used_, total in (
        (res.phv_containers_used, res.phv_containers_total),
        (res.hash_bits_used, res.hash_bits_total),
        (res.stateful_alus_used, res.stateful_alus_total),
        (res.sram_blocks_used, res.sram_blocks_total),
        (res.tcam_blocks_used, res.tcam_blocks_total),
    ):
        assert 0 <= used_ <= total and total > 0
    return mem


@pytest.mark.parametrize("chip", CHIP_LIST)
def test_resources_match_context_json(chip: str) -> None:
    d = committed_build(chip)
    pipes = pipes_of(d, chip)
    placed = []
    for p in pipes:
        check_pipe(d, p)
        placed += [contract_form(t.name, (p.pipe,)) for t in p.tables]
    for tbl in pl.Tbl:  # every contract table is placed, in exactly one pipe
        assert placed.count(tbl.value) == 1, tbl
    res = load_resources(d, chip)
    if isinstance(res, BuildResources):
        assert res.stages_used == max(p.stages_used for p in pipes)
        assert res.stages_total == 12 if chip == "tofino" else res.stages_total > 0
        assert [t.name for t in res.tables] == [
            f"{p.pipe}.{t.name}" for p in pipes for t in p.tables
        ]


@pytest.mark.parametrize("chip", CHIP_LIST)
def test_sessions_capacity(chip: str) -> None:
    """out_session and in_session from the pipe that holds them; the slots from every pipe's
    registers (a session side has a cell in each)."""
    d = committed_build(chip)
    res = load_resources(d, chip)
    sizes: dict[str, int] = {}
    slots = []
    for p in pipes_of(d, chip):
        mem = check_pipe(d, p)
        for name, m in mem.items():
            if m.get("kind") == "match":
                for tbl in (pl.Tbl.OUT_SESSION, pl.Tbl.IN_SESSION):
                    if contract_form(name, ()) == tbl.value:
                        assert tbl.value not in sizes, "a session table in two pipes"
                        sizes[tbl.value] = int(m["size"])
                        holder = p.pipe
            elif m.get("kind") == "register":
                slots.append(int(m["size"]))
    want = min(sizes[pl.Tbl.OUT_SESSION.value], sizes[pl.Tbl.IN_SESSION.value], min(slots))
    assert res.sessions_capacity == want
    assert res.sessions_limits == {
        "out_session": sizes[pl.Tbl.OUT_SESSION.value],
        "in_session": sizes[pl.Tbl.IN_SESSION.value],
        "slots": min(slots),
    }
    assert res.sessions_limits[res.sessions_limited_by] == want
    if isinstance(res, BuildResources):
        assert res.sessions_pipe == holder


def test_one_pipe_of_a_folded_build() -> None:
    """``--pipe pipe_b`` reports pipe_b's own use and the build's sessions (pipe_b holds no
    session table: they are counted from every pipe, not refused)."""
    d = committed_build("tofino")
    whole = load_resources(d, "tofino")
    assert isinstance(whole, BuildResources)
    for pipe in whole.pipes:
        one = load_resources(d, "tofino", pipe.pipe)
        assert one.to_dict()["pipe"] == pipe.pipe
        assert one.stages_used == pipe.stages_used
        assert [t.name for t in one.tables] == [t.name for t in pipe.tables]
        assert one.sessions_capacity == whole.sessions_capacity
        assert one.sessions_limits == whole.sessions_limits


def dysco(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", "from controller.cli import main; raise SystemExit(main())", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.mark.parametrize("chip", CHIP_LIST)
def test_cli_json(chip: str) -> None:
    d = committed_build(chip)
    p = dysco("p4", "resources", "--chip", chip, "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    for key in ("chip", "stages_used", "stages_total", "sessions_capacity", "tables"):
        assert key in out
    assert out["chip"] == chip
    assert out == json.loads(json.dumps(load_resources(d, chip).to_dict()))
    for t in out["tables"]:
        assert {"name", "stages", "sram_blocks", "tcam_blocks"} <= t.keys()
    names = [n for n, _s in build_pipelines(d)]
    if len(names) > 1:  # per pipe, and the tables named with their pipe
        assert [p["pipe"] for p in out["pipes"]] == names
        for p in out["pipes"]:
            assert {"pipe", "stages_used", "tables"} <= p.keys()
        assert {t["name"].split(".", 1)[0] for t in out["tables"]} == set(names)
        assert out["stages_used"] == max(p["stages_used"] for p in out["pipes"])
    human = dysco("p4", "resources", "--chip", chip)
    assert human.returncode == 0, human.stderr
    assert "out_session" in human.stdout and str(out["sessions_capacity"]) in human.stdout
    for name in names:
        assert name in human.stdout


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    p = dysco("p4", "resources", "--chip", "tofino", "--build", str(tmp_path / "none"))
    assert p.returncode == 2
    assert p.stderr.count("\n") == 1 and "no build directory" in p.stderr
    (tmp_path / "pipe" / "logs").mkdir(parents=True)
    (tmp_path / "pipe" / "logs" / "resources.json").write_text("{not json")
    (tmp_path / "pipe" / "context.json").write_text('{"target": "tofino"}')
    p = dysco("p4", "resources", "--chip", "tofino", "--build", str(tmp_path))
    assert p.returncode == 2
    assert p.stderr.count("\n") == 1 and "not JSON" in p.stderr
    (tmp_path / "pipe" / "logs" / "resources.json").write_text('{"resources": {}}')
    p = dysco("p4", "resources", "--chip", "tofino", "--build", str(tmp_path))
    assert p.returncode == 2 and p.stderr.count("\n") == 1 and "resources.mau" in p.stderr
    p = dysco("p4", "resources", "--chip", "tofino3")
    assert p.returncode == 2 and "invalid choice" in p.stderr


def test_wrong_chip_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pipe" / "logs").mkdir(parents=True)
    (tmp_path / "pipe" / "logs" / "resources.json").write_text("{}")
    (tmp_path / "pipe" / "context.json").write_text('{"target": "tofino2"}')
    with pytest.raises(ResourceError, match="tofino2"):
        load_resources(tmp_path, "tofino")
