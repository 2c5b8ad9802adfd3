"""The committed Tofino outputs (p4src/build/tofino, tofino2) are a fresh bf-p4c compile.

Per chip: a chip whose outputs are not committed skips with that line (Tofino 1 fits only
folded into two pipelines, pipe_a and pipe_b: docs/pipeline.md section 10 item 11; each
pipeline's files are compared). A fresh compile takes minutes (Tofino 2 about 4 here, Tofino 1
about 1), so these tests run only under ``make -C p4src tofino-check``
(``DYSCO_TOFINO_COMPILE=1``) and skip with one line in ``make test``. They compile the
committed chips one after the other into a temporary directory with
``p4src/tofino_build.sh`` (the script ``make -C p4src tofino`` runs, and its choice of bf-p4c)
and compare with the committed files.

A bf-p4c with p4lang/p4c#5752 (the prebuilt one of p4c 34b86e9: no #5753) cannot reproduce
them: found in seconds (``tofino_build.sh --check``), the tests skip with one line naming the
fix. With the compiler recorded in ``COMPILER`` (same backend version, with the fix),
table_summary.log is compared byte for byte, context.json in full but for its build date and
run id, the P4Info and bfrt.json in full but for the order bf-p4c gives its two Snapshot
externs (it varies between runs); with another version only what matters: the P4Info
entities with their ids and widths, bfrt.json's tables and actions, context.json's tables
(with their stages), actions and parser states, and the per-stage table placement.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest

from controller.p4rt.p4info import load_p4info
from tests.pipeline.test_pipeline_contract import parse_textproto
from tests.tofino import BUILD, CHIPS, P4SRC, bf_p4c, committed_build, compiler_problem, fitted

# The files the committed build must have besides manifest.json, dysco.conf and context.json
# (those, resources.json and the binary embed build times, run ids or paths).
DETERMINISTIC = ("dysco.p4info.txtpb", "bfrt.json")


def pipelines(build: Path) -> list[str]:
    """The Pipeline instances of a build (``pipe``; Tofino 1, folded: ``pipe_a``, ``pipe_b``):
    its directories with a ``context.json``."""
    return sorted(d.name for d in build.iterdir() if (d / "context.json").is_file())


# context.json is the same but for these top-level fields
RUN_FIELDS = ("build_date", "run_id")
# A fresh compile takes minutes (Tofino 2: 4-10 on a loaded 2-core machine), so `make test`
# does not run it: `make -C p4src tofino-check` sets this.
COMPILE_ENV = "DYSCO_TOFINO_COMPILE"
NO_COMPILE = f"fresh bf-p4c compiles take minutes: make -C p4src tofino-check ({COMPILE_ENV}=1)"
# pytest-timeout's 600 s (pyproject) is less than one compile on a loaded machine (10-12 min
# seen with three jobs on 2 cores); the first test runs the module's compiles in its setup.
COMPILE_TIMEOUT = 3600
needs_compile = pytest.mark.skipif(os.environ.get(COMPILE_ENV) != "1", reason=NO_COMPILE)


def test_build_script_rejects_unknown_chip() -> None:
    """tofino_build.sh: one clear line for a chip it does not know, nothing written."""
    r = subprocess.run(
        ["./tofino_build.sh", "tofino9", "/nonexistent/out"],
        cwd=P4SRC,
        capture_output=True,
        text=True,
    )
    assert r.returncode == 2
    assert r.stderr.strip() == "tofino_build.sh: unknown chip 'tofino9' (tofino or tofino2)"


def test_build_script_says_when_bf_p4c_is_missing(tmp_path: Path) -> None:
    r = subprocess.run(
        ["./tofino_build.sh", "tofino", str(tmp_path / "out")],
        cwd=P4SRC,
        env=dict(os.environ, BF_P4C=str(tmp_path / "no-bf-p4c")),
        capture_output=True,
        text=True,
    )
    assert r.returncode == 3
    assert r.stderr.strip() == "skip: bf-p4c (p4c's Tofino backend) is not installed"
    assert not (tmp_path / "out").exists()


# The ingress parser bf-p4c 9.13.4 (p4c 34b86e9) emits for tna/dysco.p4, cut down: its
# selects lost their `match:` registers and values (p4lang/p4c#5752), so each state takes its
# first transition. A correct one has a `match:` line in every state with two transitions.
BFA_DROPPED = """parser ingress:
  start: $init_match
  states:
    parse_packet_out:
      *:
        H4: 2  # value 1 -> H4 bit[1]: ingress::hdr.packet_out.$valid
        next: parse_po_ethernet
      *:
        next: end
    parse_po_ethernet:
      *:
        next: end
deparser ingress:
"""
BFA_MATCHED = BFA_DROPPED.replace(
    "    parse_packet_out:\n", "    parse_packet_out:\n      match: [ byte0 ]\n"
).replace("      *:\n        H4", "      0x03:\n        H4")


def _fake_bf_p4c(tmp_path: Path, bfa: str) -> Path:
    """A stand-in for bf-p4c that writes ``bfa`` as the assembly source of the program it
    is given (``pipe/<program>.bfa``) and then fails as the real one does when its
    assembler stops (exit 1)."""
    (tmp_path / "given.bfa").write_text(bfa)
    fake = tmp_path / "bf-p4c"
    fake.write_text(
        "#!/bin/sh\n"
        "while [ $# -gt 0 ]; do\n"
        '  case "$1" in -o) out=$2 ;; *.p4) prog=$(basename "$1" .p4) ;; esac; shift\n'
        "done\n"
        f'mkdir -p "$out/pipe" && cp {tmp_path / "given.bfa"} "$out/pipe/$prog.bfa"\n'
        "exit 1\n"
    )
    fake.chmod(0o755)
    return fake


def _build_with(tmp_path: Path, fake: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["./tofino_build.sh", "tofino2", str(tmp_path / "out")],
        cwd=P4SRC,
        env=dict(os.environ, BF_P4C=str(fake)),
        capture_output=True,
        text=True,
    )


def test_build_script_refuses_a_parser_whose_selects_were_dropped(tmp_path: Path) -> None:
    """Assembly source whose parser states lost their matches: one line naming the p4c bug,
    exit 4, nothing written (the real bf-p4c 9.13.4 output: docs/pipeline.md section 10)."""
    r = _build_with(tmp_path, _fake_bf_p4c(tmp_path, BFA_DROPPED))
    assert r.returncode == 4
    assert r.stderr.strip() == (
        "tofino_build.sh: bf-p4c dropped the select matches of 1 parser states "
        "(p4lang/p4c#5752, fixed by #5753): use a bf-p4c built from a p4c with that fix"
    )
    assert not (tmp_path / "out").exists()


def test_build_script_passes_on_the_compiler_error_when_selects_are_kept(tmp_path: Path) -> None:
    """With its matches in place the parser is not blamed: the compiler's own exit status."""
    r = _build_with(tmp_path, _fake_bf_p4c(tmp_path, BFA_MATCHED))
    assert r.returncode == 1
    assert "p4c#5752" not in r.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("bfa", "rc"), [(BFA_DROPPED, 4), (BFA_MATCHED, 0), ("", 5)])
def test_check_tells_a_compiler_with_the_parser_bug(tmp_path: Path, bfa: str, rc: int) -> None:
    """``tofino_build.sh --check CHIP``: seconds instead of a full compile, the same line; a
    compiler that produces nothing for the probe (a broken install) is no pass (exit 5)."""
    r = subprocess.run(
        ["./tofino_build.sh", "--check", "tofino2"],
        cwd=P4SRC,
        env=dict(os.environ, BF_P4C=str(_fake_bf_p4c(tmp_path, bfa))),
        capture_output=True,
        text=True,
    )
    assert r.returncode == rc, r.stderr
    assert ("p4lang/p4c#5752" in r.stderr) == (rc == 4)
    assert ("could not compile the parser probe" in r.stderr) == (rc == 5)


@pytest.mark.parametrize(("bfa", "skips"), [(BFA_DROPPED, True), (BFA_MATCHED, False)])
def test_freshness_skips_with_a_compiler_that_cannot_reproduce(
    tmp_path: Path, bfa: str, skips: bool
) -> None:
    """What the freshness tests skip with (one line naming the fix) when the compiler has
    p4lang/p4c#5752: the prebuilt bf-p4c of p4c 34b86e9, which CI has."""
    problem = compiler_problem("tofino2", str(_fake_bf_p4c(tmp_path, bfa)))
    if skips:
        assert problem is not None and "\n" not in problem
        assert "lacks p4lang/p4c#5753" in problem and "DYSCO_BF_P4C" in problem
    else:
        assert problem is None


def _which(env: dict[str, str]) -> str:
    clean = {k: v for k, v in os.environ.items() if k not in ("BF_P4C", "DYSCO_BF_P4C")}
    clean.pop("P4TOOLS", None)
    r = subprocess.run(
        ["./tofino_build.sh", "--which"],
        cwd=P4SRC,
        env={**clean, **env},
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0, r.stderr
    return r.stdout.strip()


def test_which_compiler(tmp_path: Path) -> None:
    """The compiler is picked in the documented order: BF_P4C, DYSCO_BF_P4C, P4TOOLS, PATH."""
    made = {}
    for name in ("a", "b", "c", "d"):
        (tmp_path / name / "bin").mkdir(parents=True)
        made[name] = tmp_path / name / "bin" / "bf-p4c"
        made[name].write_text("#!/bin/sh\n")
        made[name].chmod(0o755)
    path = f"{tmp_path / 'd' / 'bin'}:{os.environ['PATH']}"
    full = {
        "BF_P4C": str(made["a"]),
        "DYSCO_BF_P4C": str(made["b"]),
        "P4TOOLS": str(tmp_path / "c"),
        "PATH": path,
    }
    assert _which(full) == str(made["a"])
    del full["BF_P4C"]
    assert _which(full) == str(made["b"])
    del full["DYSCO_BF_P4C"]
    assert _which(full) == str(made["c"])
    del full["P4TOOLS"]
    assert _which(full) == str(made["d"])


@pytest.fixture(scope="module")
def fresh(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The chips with committed outputs compiled now (one after the other: each bf-p4c
    takes a core and a gigabyte), into ``<tmp>/<chip>/``; skip (one line) when the compiler
    cannot reproduce them."""
    out = tmp_path_factory.mktemp("tofino")
    for chip in (c for c in CHIPS if fitted(c)):
        problem = compiler_problem(chip)
        if problem is not None:
            pytest.skip(problem)
        r = subprocess.run(
            ["./tofino_build.sh", chip, str(out / chip)],
            cwd=P4SRC,
            env=dict(os.environ, BF_P4C=str(bf_p4c())),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        assert r.returncode == 0, f"bf-p4c {chip} failed:\n{r.stdout[-3000:]}"
    return out


def _same_compiler(fresh: Path, chip: str) -> bool:
    return (fresh / chip / "COMPILER").read_text() == (BUILD / chip / "COMPILER").read_text()


# --- what matters ----------------------------------------------------------------------------


def _p4info_entities(path: Path) -> dict[str, Any]:
    """P4Info tables, actions, registers and controller headers with ids and widths."""
    # bf-p4c's P4Info has Tofino externs as Any messages ("[type.googleapis.com/...] {")
    text = re.sub(r"\[type\.googleapis\.com/[^\]]+\]", "any_value", path.read_text())
    info = parse_textproto(text)

    def pre(e: dict[str, list[Any]]) -> tuple[str, str]:
        p = e["preamble"][0]
        return p["name"][0], p["id"][0]

    tables = sorted(
        (
            pre(t),
            tuple(
                (m["name"][0], m["id"][0], m["bitwidth"][0], m.get("match_type", [""])[0])
                for m in t.get("match_fields", [])
            ),
            tuple(r["id"][0] for r in t.get("action_refs", [])),
            t.get("size", [""])[0],
        )
        for t in info.get("tables", [])
    )
    actions = sorted(
        (
            pre(a),
            tuple((p["name"][0], p["id"][0], p["bitwidth"][0]) for p in a.get("params", [])),
        )
        for a in info.get("actions", [])
    )
    registers = sorted((pre(r), r["size"][0]) for r in info.get("registers", []))
    headers = sorted(
        (
            pre(h),
            tuple((m["name"][0], m["id"][0], m["bitwidth"][0]) for m in h.get("metadata", [])),
        )
        for h in info.get("controller_packet_metadata", [])
    )
    return {"tables": tables, "actions": actions, "registers": registers, "headers": headers}


# --- same compiler: everything but what bf-p4c orders at random --------------------------------
# Two runs of one bf-p4c on one source (checked) differ only in the order of the two Snapshot
# externs (ingress, egress: a debug feature), in the P4Info and in bfrt.json, where the table
# pipe.snapshot.cfg takes the id of whichever comes first.


def _p4info_canonical(path: Path) -> bytes:
    """The P4Info, every extern's instances in id order, serialized deterministically."""
    msg = load_p4info(path).p4info
    for ext in msg.externs:
        instances = sorted(ext.instances, key=lambda i: i.preamble.id)
        del ext.instances[:]
        ext.instances.extend(instances)
    return msg.SerializeToString(deterministic=True)


def _bfrt_canonical(path: Path) -> dict[str, Any]:
    """bfrt.json with its tables in name order and the Snapshot configuration table's id and
    dependency order left out."""
    doc: dict[str, Any] = json.loads(path.read_bytes())
    doc["tables"] = sorted((_snapshot_neutral(t) for t in doc["tables"]), key=lambda t: t["name"])
    return doc


def _snapshot_neutral(table: dict[str, Any]) -> dict[str, Any]:
    if table.get("table_type") == "SnapshotCfg":
        table = dict(table, id=None, depends_on=sorted(table.get("depends_on", [])))
    return table


def _bfrt_entities(path: Path) -> list[Any]:
    """bfrt.json tables: name, id, size, keys and action specs with their data."""
    doc = _bfrt_canonical(path)
    return sorted(
        (
            t["name"],
            t["id"],
            t.get("size"),
            [(k["name"], k["id"], k.get("match_type"), k.get("type")) for k in t.get("key", [])],
            [
                (a["name"], a["id"], [(d["name"], d["id"], d.get("type")) for d in a["data"]])
                for a in t.get("action_specs", [])
            ],
        )
        for t in doc["tables"]
    )


def _context_entities(path: Path) -> dict[str, Any]:
    """context.json tables (with their stage placement), actions and parser states."""
    doc = json.loads(path.read_text())
    tables = sorted(
        (
            t["name"],
            t.get("table_type"),
            t.get("size"),
            sorted(a["name"] for a in t.get("actions", [])),
            sorted(
                (s.get("stage_number"), s.get("size"))
                for s in t.get("match_attributes", {}).get("stage_tables", [])
            ),
        )
        for t in doc["tables"]
    )
    parser_states = sorted(
        (gress, s["parser_name"], s["parser_state_id"])
        for gress in ("ingress", "egress")
        for s in doc["parser"][gress]
    )
    return {"tables": tables, "parser": parser_states}


# --- the tests -------------------------------------------------------------------------------


@pytest.mark.parametrize("chip", CHIPS)
def test_committed_files_present(chip: str) -> None:
    committed_build(chip)
    for f in (*DETERMINISTIC, "manifest.json", "dysco.conf"):
        assert (BUILD / chip / f).is_file(), f"{chip}/{f} missing: run make -C p4src tofino"
    pipes = pipelines(BUILD / chip)
    assert pipes == (["pipe"] if chip == "tofino2" else ["pipe_a", "pipe_b"])
    for pipe in pipes:
        for f in ("context.json", f"{chip}.bin", "logs/table_summary.log", "logs/resources.json"):
            assert (BUILD / chip / pipe / f).is_file(), f"{chip}/{pipe}/{f} missing"
    assert "p4c" in (BUILD / chip / "COMPILER").read_text()


@pytest.mark.slow
@pytest.mark.timeout(COMPILE_TIMEOUT)
@needs_compile
@pytest.mark.parametrize("chip", CHIPS)
def test_p4info_fresh(chip: str, request: pytest.FixtureRequest) -> None:
    committed_build(chip)
    fresh: Path = request.getfixturevalue("fresh")
    new, old = fresh / chip / "dysco.p4info.txtpb", BUILD / chip / "dysco.p4info.txtpb"
    if _same_compiler(fresh, chip):
        assert _p4info_canonical(new) == _p4info_canonical(old), "run make -C p4src tofino"
    assert _p4info_entities(new) == _p4info_entities(old), "run make -C p4src tofino"


@pytest.mark.slow
@pytest.mark.timeout(COMPILE_TIMEOUT)
@needs_compile
@pytest.mark.parametrize("chip", CHIPS)
def test_bfrt_fresh(chip: str, request: pytest.FixtureRequest) -> None:
    committed_build(chip)
    fresh: Path = request.getfixturevalue("fresh")
    new, old = fresh / chip / "bfrt.json", BUILD / chip / "bfrt.json"
    if _same_compiler(fresh, chip):
        assert _bfrt_canonical(new) == _bfrt_canonical(old), "run make -C p4src tofino"
    assert _bfrt_entities(new) == _bfrt_entities(old), "run make -C p4src tofino"


@pytest.mark.slow
@pytest.mark.timeout(COMPILE_TIMEOUT)
@needs_compile
@pytest.mark.parametrize("chip", CHIPS)
def test_context_fresh(chip: str, request: pytest.FixtureRequest) -> None:
    committed_build(chip)
    fresh: Path = request.getfixturevalue("fresh")
    assert pipelines(fresh / chip) == pipelines(BUILD / chip), "run make -C p4src tofino"
    for pipe in pipelines(BUILD / chip):
        new, old = fresh / chip / pipe / "context.json", BUILD / chip / pipe / "context.json"
        if _same_compiler(fresh, chip):
            # all of it but the two fields every run changes (checked: two runs, same bytes)
            assert _without_run(new) == _without_run(old), f"{pipe}: run make -C p4src tofino"
        assert _context_entities(new) == _context_entities(old), f"{pipe}: run make -C p4src tofino"


def _without_run(path: Path) -> dict[str, Any]:
    doc: dict[str, Any] = json.loads(path.read_bytes())
    for key in RUN_FIELDS:
        doc.pop(key)
    return doc


@pytest.mark.slow
@pytest.mark.timeout(COMPILE_TIMEOUT)
@needs_compile
@pytest.mark.parametrize("chip", CHIPS)
def test_resources_fresh(chip: str, request: pytest.FixtureRequest) -> None:
    """The resource report (same compiler: the same text; else the same table placement)."""
    committed_build(chip)
    fresh: Path = request.getfixturevalue("fresh")
    for pipe in pipelines(BUILD / chip):
        if _same_compiler(fresh, chip):
            log = f"{pipe}/logs/table_summary.log"
            assert (fresh / chip / log).read_bytes() == (BUILD / chip / log).read_bytes()
        new = json.loads((fresh / chip / pipe / "logs/resources.json").read_text())
        old = json.loads((BUILD / chip / pipe / "logs/resources.json").read_text())
        assert _stages(new) == _stages(old), f"{pipe}: run make -C p4src tofino"


def _stages(resources: dict[str, Any]) -> list[Any]:
    """Per MAU stage: the tables placed there (from resources.json)."""
    mau = resources["resources"]["mau"]
    return [
        (s["stage_number"], sorted(str(t) for t in _names(s))) for s in mau.get("mau_stages", [])
    ]


def _names(stage: dict[str, Any]) -> list[str]:
    """The logical tables of one stage (``logical_tables.ids[].table_name``)."""
    return [t["table_name"] for t in stage.get("logical_tables", {}).get("ids", [])]
