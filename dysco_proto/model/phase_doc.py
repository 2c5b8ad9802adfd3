"""Generate the anchors' state diagrams and phase table of ``docs/protocol-design.md``.

The text between the markers :data:`BEGIN` and :data:`END` of section 4 is generated from
:data:`dysco_proto.phase_table.TABLE`: one Mermaid state diagram per role (phase changes only;
self-loops and the removal of the session, which ends every phase, are left to the table)
and the table itself, one line per row.

``python -m dysco_proto.model.phase_doc`` rewrites the section; ``--check`` exits 1 if the
document is not up to date (a test runs the check).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from dysco_proto.phase_table import TABLE, Role, Row, Trigger

BEGIN = "<!-- BEGIN GENERATED: phase table (python -m dysco_proto.model.phase_doc) -->"
END = "<!-- END GENERATED: phase table -->"
DOC = Path(__file__).resolve().parents[2] / "docs" / "protocol-design.md"

_TITLES = {
    Role.LEFT: "Left anchor",
    Role.RIGHT: "Right anchor",
    Role.REQUESTER: "Requester of a rightRequest",
}


def _state(phase: str) -> str:
    return "[*]" if phase in ("idle", "done") else phase.upper()


def _label(row: Row) -> str:
    text = row.trigger.value
    if row.guard.value:
        text += f" [{row.guard.value}]"
    return text.replace(":", " -")  # a colon ends a Mermaid transition label


def diagram(role: Role) -> list[str]:
    """The Mermaid state diagram of one role's phase changes."""
    edges: dict[tuple[str, str], list[str]] = {}
    for row in TABLE:
        if row.role is not role or row.phase == row.next:
            continue
        if row.trigger is Trigger.SESSION_REMOVED:
            continue
        edges.setdefault((_state(row.phase.value), _state(row.next.value)), []).append(_label(row))
    lines = ["```mermaid", "stateDiagram-v2"]
    for (a, b), labels in edges.items():
        lines.append(f"    {a} --> {b} : {'<br/>'.join(labels)}")
    lines.append("```")
    return lines


def table() -> list[str]:
    """The phase table as a Markdown table, one line per row."""
    lines = [
        "| role | phase | trigger | guard | actions | next | note |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in TABLE:
        acts = ", ".join(a.value for a in row.acts) or "-"
        lines.append(
            f"| {row.role.value} | {row.phase.value} | {row.trigger.value} | "
            f"{row.guard.value or '-'} | {acts} | {row.next.value} | {row.note} |"
        )
    return lines


def render() -> str:
    """The generated text between the markers (markers included)."""
    out = [
        BEGIN,
        "",
        f"Generated from `dysco_proto/phase_table.py` ({len(TABLE)} rows). The agent takes "
        "every phase step through this table and `tests/proto/test_phase_table.py` checks, for "
        "scenarios that exercise every row, that each step it takes is a row and that the "
        "row's visible actions were emitted (`dysco_proto/model/phase_link.py`). `idle` and "
        "`done` are `[*]` below; the removal of the session ends every phase (rows "
        "`session removed`); self-loops (retransmissions, probes again) are in the table only.",
        "",
    ]
    for role in Role:
        out += [f"**{_TITLES[role]}**", "", *diagram(role), ""]
    out += [*table(), "", END]
    return "\n".join(out)


def update(text: str) -> str:
    """``text`` with the generated section replaced (``ValueError`` if the markers are absent)."""
    start, end = text.find(BEGIN), text.find(END)
    if start < 0 or end < start:
        raise ValueError("the phase table markers are missing from the document")
    return text[:start] + render() + text[end + len(END) :]


def main(argv: list[str] | None = None) -> int:
    """Rewrite the document's phase table section, or check that it is up to date."""
    ap = argparse.ArgumentParser(prog="python -m dysco_proto.model.phase_doc")
    ap.add_argument("--check", action="store_true", help="exit 1 if the document is stale")
    ap.add_argument("--doc", type=Path, default=DOC)
    args = ap.parse_args(argv)
    try:
        text = args.doc.read_text()
        new = update(text)
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    if args.check:
        if new != text:
            print(f"{args.doc} is stale: run python -m dysco_proto.model.phase_doc")
            return 1
        return 0
    if new != text:
        args.doc.write_text(new)
    return 0


if __name__ == "__main__":
    sys.exit(main())
