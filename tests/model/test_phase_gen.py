"""The Spin model's anchor phases against the phase table (``phase_gen.pml``).

- the committed ``phase_gen.pml`` is what ``dysco_proto.model.phase_pml`` generates from
  ``dysco_proto/phase_table.py``;
- every phase assignment in ``dysco.pml`` is preceded by its check;
- the steps the model takes are rows of the table under the documented merges, and a table
  without the row the model needs makes the model fail (needs spin);
- the waits after a hold are checked with their guard: a table without the AFTER_HOLD rows
  loses their steps and fails the model (needs spin).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from dysco_proto.model import phase_pml
from dysco_proto.phase_table import TABLE, Guard, RightPhase, Role, Row, Trigger
from dysco_tools import verify

needs_spin = pytest.mark.skipif(
    shutil.which("spin") is None or shutil.which("gcc") is None,
    reason="spin or gcc not installed (apt-get install spin gcc): model checks skipped",
)

MODEL = (Path(phase_pml.__file__).parent / "dysco.pml").read_text()


def test_generated_file_is_fresh() -> None:
    assert phase_pml.GENERATED.read_text() == phase_pml.render(), (
        "dysco_proto/model/phase_gen.pml is stale: run python -m dysco_proto.model.phase_pml"
    )
    assert phase_pml.main(["--check"]) == 0


def test_the_model_includes_it_and_defines_no_phase_of_its_own() -> None:
    assert '#include "phase_gen.pml"' in MODEL
    assert not re.search(r"#define (LA|RA)_[A-Z]+ \d", MODEL)
    assert "phase_gen.pml" in verify.MODEL_FILES


def test_every_phase_assignment_is_checked() -> None:
    """Each ``la_ph[r] = X`` / ``ra_ph[r] = X`` follows its ``LA_PHASE(r, t, X)`` /
    ``RA_PHASE(r, t, X)`` (or the guarded ``LA_GPHASE(r, t, g, X)``) closely (LEFT_FINISH's
    is checked by FINISH_LATER in the same step)."""
    found = 0
    for m in re.finditer(r"\b(la|ra)_ph\[(\w+)\] = (\w+)", MODEL):
        kind, _r, target = m.groups()
        found += 1
        if target == "outcome":
            assert "FINISH_LATER(r, outcome, t) { LA_PHASE(r, t, outcome);" in MODEL
            continue
        head = MODEL[max(0, m.start() - 300) : m.start()]
        assert re.search(rf"{kind.upper()}_G?PHASE\([^;]*, {target}\)", head), (
            MODEL[: m.start()].count("\n") + 1,
            m.group(0),
        )
    assert found >= 15


def test_the_merges_cover_the_model_steps() -> None:
    left = phase_pml.allowed(Role.LEFT)
    right = phase_pml.allowed(Role.RIGHT)
    # the freeze-first new path: ackLock answers the freezing probe in the same step
    assert ("LA_LOCKING", Trigger.ACK_LOCK, "LA_SYNSENT") in left
    assert ("LA_SYNSENT", Trigger.SNAP_COMMIT, "LA_COMMITTED") in left
    assert ("RA_LOCKED", Trigger.NEW_PATH_SYN, "RA_PREP") in right
    assert ("RA_PREP", Trigger.SNAP_CUT, "RA_SYNRCVD") in right
    assert ("RA_SWITCHED", Trigger.SNAP_CHECK, "RA_DONE") in right
    # what the table does not allow, the generated check does not allow
    assert ("LA_LOCKING", Trigger.ACK_ACK, "LA_SWITCHED") not in left
    assert ("RA_SWITCHED", Trigger.CANCEL_LOCK, "RA_NONE") not in right  # too late to revert
    assert ("RA_SWITCHED", Trigger.SNAP_CHECK, "RA_NONE") not in right  # a fold is no revert


def _without_switch() -> tuple[object, ...]:
    return tuple(
        r
        for r in TABLE
        if not (
            r.role is Role.RIGHT and r.phase is RightPhase.SYN_RCVD and r.trigger is Trigger.ACK_MSG
        )
    )


def test_a_table_without_the_switch_row_loses_the_step() -> None:
    rows = _without_switch()
    assert phase_pml.render(rows) != phase_pml.render()  # type: ignore[arg-type]
    assert ("RA_SYNRCVD", Trigger.ACK_MSG, "RA_SWITCHED") not in phase_pml.allowed(
        Role.RIGHT,
        rows,  # type: ignore[arg-type]
    )


@needs_spin
def test_the_model_fails_against_a_table_without_the_switch_row(
    tmp_path: Path, spin_builds: Path
) -> None:
    """The check is live: with the right anchor's SYN_RCVD --ack--> SWITCHED row removed
    from the table, the regenerated check fails the model at that step; the real table
    passes the same configuration."""
    defines = {"ND": 0, "CLOSS": 0}
    files = {"phase_gen.pml": phase_pml.render(_without_switch())}  # type: ignore[arg-type]
    info, _out = verify.safety_run(tmp_path / "mutant", 1, defines, opt="-O0", model_files=files)
    assert int(str(info["errors"])) > 0 and "assertion violated" in str(info["message"])
    trail = verify.decode_trail(tmp_path / "mutant", 1, defines)
    assert any("failed assertion" in line and "ra_ph" in line for line in trail), trail[-5:]
    # the verifier of test_verify's small end-to-end run (delete-safety at -O0): shared build
    info, _out = verify.safety_run(spin_builds / "delete-safety", 1, defines, opt="-O0")
    assert int(str(info["errors"])) == 0 and info["complete"], info


def _without_after_hold() -> tuple[Row, ...]:
    return tuple(r for r in TABLE if r.guard is not Guard.AFTER_HOLD)


# the model's steps of the waits after a hold (dysco.pml: LA_GPHASE / RA_GPHASE)
_LEFT_WAIT = ("LA_LOCKING", Trigger.ACK_LOCK, Guard.AFTER_HOLD, "LA_SYNSENT")
_LEFT_EXPIRED = ("LA_SYNSENT", Trigger.TIMER_LPROBE, Guard.AFTER_HOLD, "LA_SYNSENT")
_RIGHT_WAIT = ("RA_NONE", Trigger.REQUEST_LOCK, Guard.AFTER_HOLD, "RA_LOCKED")
_RIGHT_RETRY = ("RA_LOCKED", Trigger.REQUEST_LOCK, Guard.AFTER_HOLD, "RA_LOCKED")
_RIGHT_EXPIRED = ("RA_LOCKED", Trigger.TIMER_RSPROBE, Guard.AFTER_HOLD, "RA_LOCKED")


def test_the_guarded_steps_cover_the_waits_after_a_hold() -> None:
    left = phase_pml.allowed_guarded(Role.LEFT)
    right = phase_pml.allowed_guarded(Role.RIGHT)
    assert {_LEFT_WAIT, _LEFT_EXPIRED} <= left
    # drained: the re-probe freezes (left), the probe's answer sends the ackLock (right)
    assert ("LA_SYNSENT", Trigger.TIMER_LPROBE, Guard.ANY, "LA_SYNSENT") in left
    assert {_RIGHT_WAIT, _RIGHT_RETRY, _RIGHT_EXPIRED} <= right
    assert ("RA_LOCKED", Trigger.SNAP_CUT, Guard.ANY, "RA_LOCKED") in right
    # the guard tells them apart: no ackLock row without a wait leads to the same phase
    assert ("RA_NONE", Trigger.REQUEST_LOCK, Guard.AFTER_HOLD, "RA_NONE") not in right
    assert ("LA_LOCKING", Trigger.ACK_LOCK, Guard.AFTER_HOLD, "LA_CANCELLING") not in left
    text = phase_pml.render()
    assert "#define G_AFTER_HOLD 2" in text
    assert "(g) == G_AFTER_HOLD && (x) == LA_SYNSENT" in text


def test_a_table_without_the_after_hold_rows_loses_the_guarded_steps() -> None:
    rows = _without_after_hold()
    left = phase_pml.allowed_guarded(Role.LEFT, rows)
    right = phase_pml.allowed_guarded(Role.RIGHT, rows)
    assert not {_LEFT_WAIT, _LEFT_EXPIRED} & left
    assert not {_RIGHT_WAIT, _RIGHT_RETRY, _RIGHT_EXPIRED} & right
    # while the guard-blind check still allows the same phase steps
    assert ("LA_LOCKING", Trigger.ACK_LOCK, "LA_SYNSENT") in phase_pml.allowed(Role.LEFT, rows)
    assert ("RA_NONE", Trigger.REQUEST_LOCK, "RA_LOCKED") in phase_pml.allowed(Role.RIGHT, rows)


@needs_spin
def test_the_model_fails_against_a_table_without_the_after_hold_rows(tmp_path: Path) -> None:
    """after-hold-c's second request waits after the first one's hold: with the AFTER_HOLD
    rows removed from the table the regenerated guarded check fails at that wait."""
    config = next(c for c in verify.MATRIX if c.name == "after-hold-c")
    files = {"phase_gen.pml": phase_pml.render(_without_after_hold())}
    info, _out = verify.safety_run(
        tmp_path, config.cfg, config.defines, opt="-O0", model_files=files
    )
    assert int(str(info["errors"])) > 0 and "assertion violated" in str(info["message"])
    trail = verify.decode_trail(tmp_path, config.cfg, config.defines)
    failed = [line for line in trail if "phase_gen.pml" in line and "assertion violated" in line]
    assert failed, trail[-8:]  # the generated check, not another property
    before = trail[: trail.index(failed[0])]
    assert any("LA-END r1 completed" in line for line in before), before[-8:]
    assert any("requestLock(r2)" in line for line in before), before[-8:]
