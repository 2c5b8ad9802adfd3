"""verify.py end to end on one small configuration, and pan output parsing.

Needs spin and gcc (``make setup`` installs spin); skipped otherwise.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import replace
from pathlib import Path

import pytest

from dysco_tools import verify

needs_spin = pytest.mark.skipif(
    shutil.which("spin") is None or shutil.which("gcc") is None,
    reason="spin or gcc not installed (apt-get install spin gcc): model checks skipped",
)

KEYS = {"config", "states", "depth", "errors", "complete"}


@needs_spin
def test_small_configuration_end_to_end(tmp_path: Path, spin_builds: Path) -> None:
    out = tmp_path / "verify.json"
    rc = verify.main(
        [
            "--only",
            "delete",
            "--no-liveness",
            "--define",
            "ND=0",
            "--define",
            "CLOSS=0",
            "--opt=-O0",
            "--jobs",
            "2",
            "--build-dir",
            str(spin_builds),  # delete-safety and delete-w-completed: shared (conftest.py)
            "--json",
            str(out),
        ]
    )
    assert rc == 0
    rows = json.loads(out.read_text())
    assert [r["config"] for r in rows] == ["delete"]
    (row,) = rows
    assert row.keys() >= KEYS
    assert row["errors"] == 0 and row["complete"] is True
    assert row["states"] > 1000 and row["depth"] > 100
    assert row["witnesses"] == {"completed": True, "two-path": True}


@needs_spin
def test_the_model_catches_the_injected_lock_bug(tmp_path: Path) -> None:
    (mutant,) = [f for f in verify.SANITY if f.mutant == "forget-hold"]
    res = verify.run_finding(mutant, tmp_path)
    assert res["reproduced"], res
    assert res["trail"], "a readable counterexample is decoded from the trail"


@needs_spin
def test_the_model_catches_the_previous_new_path(tmp_path: Path) -> None:
    """Finding newbox-ack: without the freeze-first handshake a new box sees an ack beyond
    the data it carried; the matrix runs the same configuration with the fix and passes."""
    (mutant,) = [f for f in verify.SANITY if f.name == "newbox-ack-mutant"]
    res = verify.run_finding(mutant, tmp_path)
    assert res["reproduced"], res
    assert any("cr[n]" in line for line in res["trail"]), res["trail"]
    # the same configuration with the freeze-first new path (FINs only, to stay small) passes
    fixed = replace(mutant, defines={"ND": 0, "CLOSS": 0})
    res = verify.run_finding(fixed, tmp_path / "fixed")
    assert not res["reproduced"] and res["errors"] == 0, res


@needs_spin
def test_the_model_needs_the_retired_entry(tmp_path: Path) -> None:
    """Finding lost-ack-after-fold: in delete-dloss2 (two data losses: C's ack of S's FIN and
    the third ACK) an anchor that removes its old IN entry at the fold loses S's
    retransmission and S never completes; the matrix configuration (retired entry) passes."""
    (mutant,) = [f for f in verify.SANITY if f.name == "retire-mutant"]
    res = verify.run_finding(mutant, tmp_path)
    assert res["reproduced"], res
    assert "invalid end state" in str(res["message"])
    assert any("LA-END r1 completed" in line for line in res["trail"]), res["trail"]
    matrix = next(c for c in verify.MATRIX if c.name == "delete-dloss2")
    fixed = replace(mutant, defines=dict(matrix.defines))
    res = verify.run_finding(fixed, tmp_path / "fixed")
    assert not res["reproduced"] and res["errors"] == 0, res


@needs_spin
def test_the_model_needs_the_waits_after_a_hold(tmp_path: Path) -> None:
    """Without the waits after a hold (MUT_NO_DRAIN), the second request's cutoff covers a
    byte the first one's hold dropped and its host has not sent again: FRESH_CUT fails, at
    the left anchor's freeze (after-hold-c) and at the right anchor's (after-hold-s)."""
    for name, freeze in (("after-hold-mutant", "LA-LOCKED r2"), ("after-hold-mutant-s", "SYN")):
        (mutant,) = [f for f in verify.SANITY if f.name == name]
        res = verify.run_finding(mutant, tmp_path / name)
        assert res["reproduced"], res
        assert "hdrop" in str(res["message"]), res["message"]  # FRESH_CUT, not another check
        assert isinstance(res["trail"], list)
        trail = [str(line) for line in res["trail"]]
        assert any("HELD seq=1" in line for line in trail), trail  # r1's hold dropped the byte
        assert any("LA-END r1 completed" in line for line in trail), trail
        end = next(i for i, line in enumerate(trail) if "assertion violated" in line)
        assert freeze in trail[end - 1], trail[end - 3 : end + 1]


def test_the_after_hold_mutants_run_matrix_configurations() -> None:
    """Each sanity mutant of the waits after a hold is a matrix configuration plus
    MUT_NO_DRAIN, nothing else."""
    for name, config in (
        ("after-hold-mutant", "after-hold-c"),
        ("after-hold-mutant-s", "after-hold-s"),
    ):
        (f,) = [s for s in verify.SANITY if s.name == name]
        matrix = next(c for c in verify.MATRIX if c.name == config)
        plain = {k: v for k, v in f.defines.items() if k != "MUT_NO_DRAIN"}
        assert plain != f.defines and f.cfg == matrix.cfg and plain == dict(matrix.defines)


@needs_spin
def test_the_model_needs_pure_acks_on_the_new_path_once_the_peer_latch_fired(
    tmp_path: Path,
) -> None:
    """The two-path pure-ack steering (docs/pipeline.md 5.2). With the previous rule
    (MUT_OLD_STEER: a pure ack goes on the new path only when it acks new-path data), r1's
    hold drops S's byte at its cut, S folds, S's FIN reaches C on the new path out of order
    and C's duplicate ack at S's cut goes on the old path after C's peer latch fired, towards
    S's retired entry: OLD_ACK_LATE fails. The matrix configuration (the rule with
    peer_acked) passes."""
    (mutant,) = [f for f in verify.SANITY if f.name == "old-steer-mutant"]
    res = verify.run_finding(mutant, tmp_path)
    assert res["reproduced"], res
    assert "la_pcut" in str(res["message"]), res["message"]  # OLD_ACK_LATE, not another check
    assert isinstance(res["trail"], list)
    trail = [str(line) for line in res["trail"]]
    assert any("S: HELD seq=1" in line for line in trail), trail  # the hold dropped S's byte
    fold = next(i for i, line in enumerate(trail) if "S: RA-FOLD r1" in line)
    end = next(i for i, line in enumerate(trail) if "assertion violated" in line)
    assert fold < end and "C: LATE-OLD-PATH-ACK" in trail[end - 1], trail[fold:end]
    matrix = next(c for c in verify.MATRIX if c.name == "after-hold-s")
    fixed = replace(mutant, defines=dict(matrix.defines))
    res = verify.run_finding(fixed, tmp_path / "fixed")
    assert not res["reproduced"] and res["errors"] == 0, res


def test_the_steering_mutant_runs_a_matrix_configuration() -> None:
    """old-steer-mutant is the matrix configuration after-hold-s plus MUT_OLD_STEER, and the
    matrix has a witness that the new rule steered such an ack (on both anchors' sides)."""
    (f,) = [s for s in verify.SANITY if s.name == "old-steer-mutant"]
    matrix = next(c for c in verify.MATRIX if c.name == "after-hold-s")
    plain = {k: v for k, v in f.defines.items() if k != "MUT_OLD_STEER"}
    assert plain != f.defines and f.cfg == matrix.cfg and plain == dict(matrix.defines)
    for name, side in (("after-hold-s", "left"), ("after-hold-c", "right")):
        config = next(c for c in verify.MATRIX if c.name == name)
        assert f"peer-acked-{side}" in dict(config.witnesses), config.witnesses


def test_no_open_findings() -> None:
    assert verify.FINDINGS == ()
    assert not hasattr(verify, "UNSETTLED_SANITY")
    insert = next(c for c in verify.MATRIX if c.name == "insert")
    assert "NO_BOXACK" not in insert.defines


def test_the_retire_mutant_runs_a_matrix_configuration() -> None:
    """The sanity mutant of finding lost-ack-after-fold is a matrix configuration (its
    regression configuration) plus the MUT_NO_RETIRE define, nothing else."""
    (f,) = [s for s in verify.SANITY if s.name == "retire-mutant"]
    plain = {k: v for k, v in f.defines.items() if k != "MUT_NO_RETIRE"}
    assert plain != f.defines
    assert any(c.cfg == f.cfg and dict(c.defines) == plain for c in verify.MATRIX), f


@needs_spin
def test_an_unreachable_witness_is_reported(tmp_path: Path, spin_builds: Path) -> None:
    cfg = verify.Config("delete", 1, "", {"ND": 0, "CLOSS": 0})
    # a request cannot be both completed and refused
    assert not verify.run_witness(cfg, "impossible", "la_ph[1]==6&&la_ph[1]==7", tmp_path)
    assert verify.run_witness(cfg, "completed", "la_ph[1]==6", spin_builds)


PAN_OK = """
State-vector 560 byte, depth reached 1429, errors: 0
  1079865 states, stored
  464.000	total actual memory usage
pan: elapsed time 4.7 seconds
"""


def test_parse_complete_run() -> None:
    info = verify.parse_pan(PAN_OK)
    assert info["states"] == 1079865 and info["depth"] == 1429 and info["errors"] == 0
    assert info["complete"] is True and info["time_s"] == 4.7


def test_parse_truncated_runs_are_incomplete() -> None:
    assert not verify.parse_pan("error: max search depth too small\n" + PAN_OK)["complete"]
    assert not verify.parse_pan("Warning: Search not completed\n" + PAN_OK)["complete"]
    deep = PAN_OK.replace("depth reached 1429", f"depth reached {verify.DEPTH - 1}")
    assert not verify.parse_pan(deep)["complete"]
    assert verify.parse_pan("")["errors"] == 1  # no summary at all: a failure


def test_every_matrix_run_has_a_search_estimate() -> None:
    """SEARCH_S orders the jobs and picks the compiler flags: it names exactly the runs."""
    runs = {f"{c.name}:safety" for c in verify.MATRIX}
    runs |= {f"{c.name}:liveness" for c in verify.MATRIX if c.liveness}
    assert set(verify.SEARCH_S) == runs


def test_short_searches_build_at_o0_long_ones_optimised() -> None:
    assert verify.matrix_opt("delete-dloss2:safety") == verify.QUICK_OPT == "-O0"
    assert verify.matrix_opt("contend:liveness") == verify.FAST_OPT
    assert verify.matrix_opt("a-new-config:safety") == verify.FAST_OPT  # unknown: long
    assert verify.matrix_opt("delete-dloss2:safety", "-O2") == "-O2"  # --opt forces it


def test_jobs_run_longest_first_and_nothing_is_dropped() -> None:
    args = verify._parser().parse_args(["--build-dir", "unused"])
    jobs = verify._jobs(verify.MATRIX, verify.SANITY, args)
    labels = [j.label for j in jobs]
    assert len(labels) == len(set(labels))
    expected = set(verify.SEARCH_S)
    expected |= {f"{c.name}:w:{w}" for c in verify.MATRIX for w, _ in c.witnesses}
    expected |= {f"finding:{f.name}" for f in verify.SANITY}
    assert set(labels) == expected
    matrix = labels[: len(verify.SEARCH_S)]
    assert set(matrix) == set(verify.SEARCH_S)
    times = [verify.SEARCH_S[label] for label in matrix]
    assert times == sorted(times, reverse=True)
    assert matrix[0] == "contend:liveness"


def test_build_passes_multi_word_flags_to_gcc_split(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`--opt '-O2 -fno-gcse'` reaches gcc as two arguments (spin and gcc recorded, not run)."""
    calls: list[list[str]] = []

    def fake_run(cmd: list[str], cwd: Path, timeout: float) -> object:
        calls.append(list(cmd))
        (cwd / ("pan.c" if cmd[0] == "spin" else "pan")).write_text("")
        return verify.subprocess.CompletedProcess(cmd, 0, "", "")

    monkeypatch.setattr(verify, "_run", fake_run)
    monkeypatch.setattr(verify, "tools_available", lambda: True)
    verify.build(tmp_path, ["-DCFG=1"], [verify.FAST_OPT, *verify.SAFETY_FLAGS])
    gcc = next(c for c in calls if c[0] == "gcc")
    assert gcc[1:3] == ["-O2", "-fno-gcse"] and "-DSAFETY" in gcc
