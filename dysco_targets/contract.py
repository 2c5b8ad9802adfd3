"""The pipeline contract check: a P4Info is accepted only if its tables, actions, packet
metadata and registers are those of the compiled contract (``p4src/build/dysco.p4info.txtpb``,
``docs/pipeline.md``)."""

from __future__ import annotations

from pathlib import Path

from google.protobuf import text_format

from controller.p4rt.gen.p4.config.v1 import p4info_pb2

__all__ = ["CONTRACT_P4INFO", "check_contract", "load_contract_p4info"]

REPO = Path(__file__).resolve().parents[1]
CONTRACT_P4INFO = REPO / "p4src" / "build" / "dysco.p4info.txtpb"


def _shape(p: p4info_pb2.P4Info) -> dict[str, object]:
    """The parts of a P4Info the contract fixes: names, match kinds, widths, actions, metadata."""
    actions = {a.preamble.id: a.preamble.name for a in p.actions}
    return {
        "tables": sorted(
            (
                t.preamble.name,
                tuple((m.name, m.bitwidth, m.match_type) for m in t.match_fields),
                tuple(sorted(actions.get(r.id, "?") for r in t.action_refs)),
            )
            for t in p.tables
        ),
        "actions": sorted(
            (a.preamble.name, tuple((q.name, q.bitwidth) for q in a.params)) for a in p.actions
        ),
        "metadata": sorted(
            (c.preamble.name, tuple((m.name, m.bitwidth) for m in c.metadata))
            for c in p.controller_packet_metadata
        ),
        "registers": sorted(
            (r.preamble.name, r.size, r.type_spec.bitstring.bit.bitwidth) for r in p.registers
        ),
    }


def load_contract_p4info(path: Path = CONTRACT_P4INFO) -> p4info_pb2.P4Info:
    """The contract's P4Info (text format) at ``path``."""
    msg = p4info_pb2.P4Info()
    text_format.Parse(path.read_text(), msg)
    return msg


def check_contract(p4info: p4info_pb2.P4Info, contract: p4info_pb2.P4Info | None) -> str | None:
    """``None`` if ``p4info`` is the contract's pipeline, else a reason."""
    if contract is None:
        return None
    got, want = _shape(p4info), _shape(contract)
    for part in ("tables", "actions", "metadata", "registers"):
        if got[part] != want[part]:
            g, w = set(got[part]), set(want[part])  # type: ignore[call-overload]
            return f"P4Info {part} differ from the Dysco pipeline contract: " + (
                f"unexpected {sorted(g - w)[:3]}, missing {sorted(w - g)[:3]}"
            )
    return None
