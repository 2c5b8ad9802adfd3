"""Generate the Spin model's anchor phases (``phase_gen.pml``) from the phase table.

Usage: ``python -m dysco_proto.model.phase_pml`` rewrites ``dysco_proto/model/phase_gen.pml``;
``--check`` only compares and exits 1 when the committed file is stale; ``--stdout`` prints.

The model's anchor logic in ``dysco.pml`` is written by hand, with coarser phases than
:mod:`dysco_proto.phase_table` (MODEL.md 2: the probe round trips are merged into the steps
that ask). This module states that correspondence once, as data (:data:`LEFT`,
:data:`RIGHT`), and generates from it and the table:

- the model's phase constants (``LA_*``, ``RA_*``) and the table's triggers (``T_*``);
- ``LA_STEP_OK(from, trigger, to)`` / ``RA_STEP_OK(...)``: the (model phase, trigger, model
  phase) steps the table allows, and the inlines ``LA_PHASE(r, t, to)`` / ``RA_PHASE(r, t,
  to)`` that assert one; ``dysco.pml`` calls them at every change of ``la_ph``/``ra_ph`` (and
  at the retransmission self-loops), so a model step that is no row of the table fails the
  model.

A model step ``(F, t, X)`` is allowed iff the table has a row with trigger ``t`` from a phase
of ``F``, followed by zero or more rows answering the merged probes (:data:`MERGED`, guard
ANY, each after a row that probes), ending in a phase of ``X``; if ``X`` differs from ``F``
and names an entry act (the outcome of a finished request, the fold, the revert), one of
those rows has that act.
:data:`EXTRA` lists the model's steps that are not rows, each with its reason.

The steps of the waits after a hold (``Guard.AFTER_HOLD``: the left anchor's freeze and the
right anchor's ackLock wait until the bytes the side's previous hold dropped are
acknowledged) are told apart from the ordinary ones only by the guard, not by the phase. So
the model checks them with the guard: ``LA_GSTEP_OK(from, trigger, guard, to)`` /
``RA_GSTEP_OK(...)`` (inlines ``LA_GPHASE`` / ``RA_GPHASE``) allow a step only if its first
row has that guard (the merged answers as above); the guards the model names are
:data:`MODEL_GUARDS` (``G_*``). A table without the AFTER_HOLD rows fails the model at the
wait's first step.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from dysco_proto.model.gen import generator_main
from dysco_proto.phase_table import (
    TABLE,
    Act,
    Guard,
    LeftPhase,
    Phase,
    RightPhase,
    Role,
    Row,
    Trigger,
)

GENERATED = Path(__file__).with_name("phase_gen.pml")

MERGED = frozenset({Trigger.SNAP_CUT, Trigger.SNAP_COMMIT})
"""Probe answers merged into the step that asks (PREPARING, COMMITTING)."""

MODEL_GUARDS = (Guard.ANY, Guard.AFTER_HOLD)
"""The guards the model's guarded checks (``LA_GPHASE``/``RA_GPHASE``) name."""


@dataclass(frozen=True)
class ModelPhase:
    """A phase of ``dysco.pml`` and the table phases it stands for."""

    name: str
    value: int
    table: frozenset[Phase]
    enter: Act | None = None  # a step into it from another model phase must do this act
    note: str = ""


LP, RP = LeftPhase, RightPhase

LEFT: tuple[ModelPhase, ...] = (
    ModelPhase("LA_IDLE", 0, frozenset({LP.IDLE})),
    ModelPhase("LA_LOCKING", 1, frozenset({LP.LOCKING})),
    ModelPhase(
        "LA_SYNSENT",
        2,
        frozenset({LP.PREPARING, LP.SYN_SENT, LP.COMMITTING}),
        note="the freezing probe is answered in the ackLock step; COMMITTING is SYN_SENT "
        "with both halves of the answer in (la_gsa, la_ghs)",
    ),
    ModelPhase("LA_COMMITTED", 3, frozenset({LP.COMMITTED})),
    ModelPhase("LA_SWITCHED", 4, frozenset({LP.SWITCHED})),
    ModelPhase("LA_CANCELLING", 5, frozenset({LP.CANCELLING})),
    ModelPhase("LA_COMPLETED", 6, frozenset({LP.DONE}), Act.FINISH_COMPLETED),
    ModelPhase("LA_REFUSED", 7, frozenset({LP.DONE}), Act.FINISH_REFUSED),
    ModelPhase("LA_CANCELLED", 8, frozenset({LP.DONE}), Act.FINISH_CANCELLED),
)

RIGHT: tuple[ModelPhase, ...] = (
    ModelPhase(
        "RA_NONE",
        0,
        frozenset({RP.IDLE, RP.DONE}),
        Act.REVERT,
        note="no record: before the request, or after a revert (the table's DONE without "
        "a record, which later messages see as IDLE)",
    ),
    ModelPhase("RA_LOCKED", 1, frozenset({RP.LOCKED})),
    ModelPhase("RA_SYNRCVD", 2, frozenset({RP.SYN_RCVD})),
    ModelPhase("RA_SWITCHED", 3, frozenset({RP.SWITCHED})),
    ModelPhase(
        "RA_DONE", 4, frozenset({RP.DONE}), Act.FOLD, note="folded, still answers a repeated ack"
    ),
    ModelPhase(
        "RA_PREP",
        5,
        frozenset({RP.PREPARING}),
        note="waits for its host's ack of the left cutoff (the re-probing is merged)",
    ),
)

EXTRA: dict[tuple[Role, str, Trigger, str], str] = {
    (Role.LEFT, "LA_IDLE", Trigger.RECONFIGURE, "LA_REFUSED"): (
        "a Reconfigure on a closing or busy side is refused before any record exists "
        "(LeftAnchorMixin._cmd_reconfigure: no row, the outcome is reported)"
    ),
}
"""Model steps that are no row of the table, with the reason."""

_MODEL = {Role.LEFT: LEFT, Role.RIGHT: RIGHT}
_PROBES = {Act.PROBE, Act.PROBE_FREEZE}


def _paths(rows: Iterable[Row], first: Row) -> list[tuple[Row, ...]]:
    """``first`` followed by every chain of merged probe answers (guard ANY), each answering
    a probe the row before it sent."""
    out: list[tuple[Row, ...]] = []
    todo: list[tuple[Row, ...]] = [(first,)]
    rows = tuple(rows)
    while todo:
        path = todo.pop()
        out.append(path)
        for nxt in rows:
            if (
                nxt.trigger in MERGED
                and nxt.guard is Guard.ANY
                and _PROBES & set(path[-1].acts)
                and nxt.phase == path[-1].next
                and nxt not in path
            ):
                todo.append((*path, nxt))
    return out


def allowed_guarded(
    role: Role, rows: Iterable[Row] = TABLE
) -> set[tuple[str, Trigger, Guard, str]]:
    """The (model phase, trigger, guard of the first row, model phase) steps ``rows`` allow
    for ``role`` (the :data:`EXTRA` steps not included)."""
    mine = tuple(r for r in rows if r.role is role)
    model = _MODEL[role]
    steps: set[tuple[str, Trigger, Guard, str]] = set()
    for first in mine:
        for path in _paths(mine, first):
            acts = {a for r in path for a in r.acts}
            for f in model:
                if first.phase not in f.table:
                    continue
                for x in model:
                    if path[-1].next not in x.table:
                        continue
                    if x is not f and x.enter is not None and x.enter not in acts:
                        continue
                    steps.add((f.name, first.trigger, first.guard, x.name))
    return steps


def allowed(role: Role, rows: Iterable[Row] = TABLE) -> set[tuple[str, Trigger, str]]:
    """The (model phase, trigger, model phase) steps ``rows`` allow for ``role``, any guard."""
    steps = {(f, t, x) for f, t, _g, x in allowed_guarded(role, rows)}
    for (r, f_name, trig, x_name), _why in EXTRA.items():
        if r is role:
            steps.add((f_name, trig, x_name))
    return steps


def _tname(t: Trigger) -> str:
    return f"T_{t.name}"


def _gname(g: Guard) -> str:
    return f"G_{g.name}"


def _gok_macro(name: str, steps: set[tuple[str, Trigger, Guard, str]]) -> list[str]:
    order, gorder = list(Trigger), list(Guard)
    terms = sorted(
        (s for s in steps if s[2] in MODEL_GUARDS),
        key=lambda s: (s[0], order.index(s[1]), gorder.index(s[2]), s[3]),
    )
    lines = [f"#define {name}(f, t, g, x) ( \\"]
    for i, (f, t, g, x) in enumerate(terms):
        tail = " || \\" if i < len(terms) - 1 else " )"
        cond = f"((f) == {f} && (t) == {_tname(t)} && (g) == {_gname(g)} && (x) == {x})"
        lines.append(f"  {cond}{tail}")
    return lines


def _ok_macro(name: str, steps: set[tuple[str, Trigger, str]]) -> list[str]:
    order = list(Trigger)
    terms = sorted(steps, key=lambda s: (s[0], order.index(s[1]), s[2]))
    lines = [f"#define {name}(f, t, x) ( \\"]
    for i, (f, t, x) in enumerate(terms):
        tail = " || \\" if i < len(terms) - 1 else " )"
        lines.append(f"  ((f) == {f} && (t) == {_tname(t)} && (x) == {x}){tail}")
    return lines


def render(rows: Iterable[Row] = TABLE) -> str:
    """The text of ``phase_gen.pml`` for ``rows`` (the real table unless a test mutates it)."""
    rows = tuple(rows)
    lines = [
        "/* GENERATED by `python -m dysco_proto.model.phase_pml` from dysco_proto/phase_table.py",
        "   and the model's phase merges in dysco_proto/model/phase_pml.py.",
        "   Do not edit: change the table or the merges and regenerate (a test checks this file",
        "   is fresh). */",
        "",
        "/* left anchor phases (table phases they stand for) */",
    ]
    for role in (Role.LEFT, Role.RIGHT):
        if role is Role.RIGHT:
            lines += ["", "/* right anchor phases (table phases they stand for) */"]
        for p in _MODEL[role]:
            what = ", ".join(sorted(ph.value for ph in p.table))
            extra = f"; entered with: {p.enter.value}" if p.enter else ""
            note = f"; {p.note}" if p.note else ""
            lines.append(f"#define {p.name} {p.value}  /* {what}{extra}{note} */")
    lines += ["", "/* triggers (dysco_proto.phase_table.Trigger) */"]
    for i, t in enumerate(Trigger, start=1):
        lines.append(f"#define {_tname(t)} {i}  /* {t.value} */")
    lines += ["", "/* guards the model's guarded checks name (dysco_proto.phase_table.Guard) */"]
    for i, g in enumerate(MODEL_GUARDS, start=1):
        lines.append(f"#define {_gname(g)} {i}  /* {g.value or 'any'} */")
    lines += ["", "/* model steps that are no row of the table */"]
    for (role, f, t, x), why in EXTRA.items():
        lines.append(f"/* {role.value}: {f} --{t.value}--> {x}: {why} */")
    lines += ["", "/* the steps the table allows (merged probe answers followed) */"]
    lines += _ok_macro("LA_STEP_OK", allowed(Role.LEFT, rows))
    lines.append("")
    lines += _ok_macro("RA_STEP_OK", allowed(Role.RIGHT, rows))
    lines += [
        "",
        "/* the same with the guard of the first row, for the guards in G_* (the waits after",
        "   a hold) */",
    ]
    lines += _gok_macro("LA_GSTEP_OK", allowed_guarded(Role.LEFT, rows))
    lines.append("")
    lines += _gok_macro("RA_GSTEP_OK", allowed_guarded(Role.RIGHT, rows))
    lines += [
        "",
        "/* called before every change of la_ph[r] / ra_ph[r] (and at retransmission",
        "   self-loops); the G forms where the guard tells the step apart */",
        "inline LA_PHASE(r, t, x) { assert(LA_STEP_OK(la_ph[r], t, x)) }",
        "inline RA_PHASE(r, t, x) { assert(RA_STEP_OK(ra_ph[r], t, x)) }",
        "inline LA_GPHASE(r, t, g, x) { assert(LA_GSTEP_OK(la_ph[r], t, g, x)) }",
        "inline RA_GPHASE(r, t, g, x) { assert(RA_GSTEP_OK(ra_ph[r], t, g, x)) }",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Command line: regenerate, check or print ``phase_gen.pml``."""
    return generator_main(
        argv,
        description=(__doc__ or "").splitlines()[0],
        path=GENERATED,
        render=render,
        module="dysco_proto.model.phase_pml",
    )


if __name__ == "__main__":
    raise SystemExit(main())
