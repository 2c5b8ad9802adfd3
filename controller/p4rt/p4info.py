"""P4Info loading and name resolution; canonical P4Runtime bytestrings.

Everything the controller sends to a device is addressed by *name* (``docs/pipeline.md``)
and resolved to ids here, from the P4Info the device runs, so ids are never literals.

Tofino: bf-p4c prefixes the names of pipe-level objects (tables, registers, ...) with the name
of the ``Pipeline`` instance (``pipe.DyscoIngress.session.out_session``); actions keep their
control-qualified names. :class:`P4InfoIndex` also indexes every name under its form without
that prefix, so the contract's names (``dysco_pipeline.pipeline.Tbl``, ``Act``) resolve on a
Tofino P4Info as on the bmv2 one. The pipe name is given (``device.pipe`` of a ``target:
tofino`` configuration) or, for a ``tna``/``t2na`` P4Info, taken from the table names when
they all share one first component.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf import text_format
from google.protobuf.message import DecodeError

from controller.p4rt.gen.p4.config.v1 import p4info_pb2

# bf-p4c puts Tofino extern infos (barefoot.Register, ...) into P4Info ``externs`` as Any: their
# types must be in the descriptor pool for a TNA P4Info to parse.
from controller.p4rt.tofino_pb.barefoot import p4info_pb2 as _barefoot_p4info  # noqa: F401


class P4InfoError(ValueError):
    """A name the controller needs is missing from the P4Info, or the file is unreadable."""


def encode_uint(value: int, bitwidth: int) -> bytes:
    """The canonical (shortest, big-endian) P4Runtime bytestring of ``value``.

    Zero is one zero byte. Raises :class:`ValueError` if ``value`` does not fit ``bitwidth``.
    """
    if value < 0 or (bitwidth and value >> bitwidth):
        raise ValueError(f"{value} does not fit in {bitwidth} bits")
    if value == 0:
        return b"\x00"
    return value.to_bytes((value.bit_length() + 7) // 8, "big")


def encode_varint(n: int) -> bytes:
    """``n`` as a protobuf base-128 varint (for hand-assembled wire bytes of P4Runtime messages)."""
    out = bytearray()
    while n > 0x7F:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def decode_uint(data: bytes) -> int:
    """The unsigned integer of a (canonical or padded) bytestring."""
    return int.from_bytes(data, "big")


@dataclass(frozen=True)
class TableInfo:
    """Ids of one table: its match fields and its actions, by name."""

    id: int
    name: str
    match: dict[str, tuple[int, int]]  # name -> (field id, bitwidth)
    match_order: tuple[str, ...]
    size: int


@dataclass(frozen=True)
class ActionInfo:
    """Ids of one action and its parameters, by name."""

    id: int
    name: str
    params: dict[str, tuple[int, int]]  # name -> (param id, bitwidth)


@dataclass
class P4InfoIndex:
    """Name -> id resolution over one P4Info message.

    Names are accepted fully qualified (``Ingress.dysco_in``) or by their last component
    (``dysco_in``) when that is unambiguous.
    """

    p4info: p4info_pb2.P4Info
    pipe: str | None = None  # Tofino pipe prefix to strip; None: detect (tna/t2na only)
    tables: dict[str, TableInfo] = field(default_factory=dict)
    actions: dict[str, ActionInfo] = field(default_factory=dict)
    table_by_id: dict[int, TableInfo] = field(default_factory=dict)
    action_by_id: dict[int, ActionInfo] = field(default_factory=dict)
    packet_in: dict[int, tuple[str, int]] = field(default_factory=dict)  # id -> (name, bits)
    packet_out: dict[str, tuple[int, int]] = field(default_factory=dict)  # name -> (id, bits)
    registers: dict[str, int] = field(default_factory=dict)
    counters: dict[str, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        p = self.p4info
        if self.pipe is None:
            self.pipe = detect_pipe(p)
        for t in p.tables:
            match = {m.name: (m.id, m.bitwidth) for m in t.match_fields}
            info = TableInfo(t.preamble.id, t.preamble.name, match, tuple(match), int(t.size))
            self.table_by_id[info.id] = info
            self._index(self.tables, t.preamble.name, t.preamble.alias, info)
        for a in p.actions:
            ainfo = ActionInfo(
                a.preamble.id, a.preamble.name, {q.name: (q.id, q.bitwidth) for q in a.params}
            )
            self.action_by_id[ainfo.id] = ainfo
            self._index(self.actions, a.preamble.name, a.preamble.alias, ainfo)
        for cpm in p.controller_packet_metadata:
            if cpm.preamble.name == "packet_in":
                self.packet_in = {m.id: (m.name, m.bitwidth) for m in cpm.metadata}
            elif cpm.preamble.name == "packet_out":
                self.packet_out = {m.name: (m.id, m.bitwidth) for m in cpm.metadata}
        for r in p.registers:
            self._index(self.registers, r.preamble.name, r.preamble.alias, r.preamble.id)
        for c in p.counters:
            self._index(self.counters, c.preamble.name, c.preamble.alias, c.preamble.id)

    def contract_name(self, name: str) -> str:
        """``name`` without the Tofino pipe prefix (unchanged when it has none)."""
        prefix = f"{self.pipe}." if self.pipe else ""
        return name[len(prefix) :] if prefix and name.startswith(prefix) else name

    def _index(self, index: dict, name: str, alias: str, value: object) -> None:  # type: ignore[type-arg]
        short = self.contract_name(name)
        if short != name:
            # the contract's name: exact, so it wins over a last-component alias
            index[short] = value
        self._alias(index, name, alias, value)

    @staticmethod
    def _alias(index: dict, name: str, alias: str, value: object) -> None:  # type: ignore[type-arg]
        index[name] = value
        for short in {alias, name.rsplit(".", 1)[-1]}:
            if not short or short == name:
                continue
            if short in index and index[short] is not value and "." in short:
                continue  # a full (contract) name is never shadowed by an alias
            if short in index and index[short] is not value:
                index[short] = None  # ambiguous: only the full name resolves
            else:
                index.setdefault(short, value)

    # -- lookups ----------------------------------------------------------------------------

    def table(self, name: str) -> TableInfo:
        info = self.tables.get(name)
        if info is None:
            raise P4InfoError(f"table {name!r} is not in the P4Info")
        return info

    def action(self, name: str) -> ActionInfo:
        info = self.actions.get(name)
        if info is None:
            raise P4InfoError(f"action {name!r} is not in the P4Info")
        return info

    def register(self, name: str) -> int:
        rid = self.registers.get(name)
        if rid is None:
            raise P4InfoError(f"register {name!r} is not in the P4Info")
        return rid

    @property
    def cookie(self) -> int:
        """A 64-bit cookie identifying this P4Info (and so the pipeline) content."""
        return int.from_bytes(
            hashlib.sha256(self.p4info.SerializeToString(deterministic=True)).digest()[:8], "big"
        )


def detect_pipe(p4info: p4info_pb2.P4Info) -> str | None:
    """The pipe prefix of a bf-p4c (``tna``/``t2na``) P4Info: the first component every table
    name shares (``pipe`` in ``pipe.DyscoIngress.ports.port_role``); ``None`` otherwise."""
    if p4info.pkg_info.arch not in ("tna", "t2na") or not p4info.tables:
        return None
    firsts = {t.preamble.name.split(".", 1)[0] for t in p4info.tables}
    if len(firsts) != 1 or any(t.preamble.name.count(".") < 2 for t in p4info.tables):
        return None
    return firsts.pop()


def contract_mismatches(index: P4InfoIndex) -> list[str]:
    """Every way the P4Info differs from the pipeline contract (``dysco_pipeline.pipeline``): a
    table, match field, action, parameter or controller-header field missing, or of another
    width. Empty when the controller can drive the pipeline."""
    from dysco_pipeline import pipeline as pl

    out: list[str] = []
    for tbl in pl.Tbl:
        t = index.tables.get(tbl.value)
        if t is None:
            out.append(f"table {tbl.value} missing")
            continue
        for name, width, _kind in pl.MATCH_FIELDS[tbl]:
            got = t.match.get(name)
            if got is None:
                out.append(f"table {tbl.value}: match field {name} missing")
            elif got[1] != width:
                out.append(f"table {tbl.value}: match field {name} is {got[1]} bits, not {width}")
    for act in pl.Act:
        a = index.actions.get(act.value)
        if a is None:
            out.append(f"action {act.value} missing")
            continue
        names = [q for q, _w in pl.ACTION_PARAMS[act]]
        if list(a.params) != names:
            out.append(f"action {act.value}: parameters {list(a.params)}, not {names}")
        for name, width in pl.ACTION_PARAMS[act]:
            got = a.params.get(name)
            if got is not None and got[1] != width:
                out.append(f"action {act.value}: parameter {name} is {got[1]} bits, not {width}")
    pin = {name: bits for name, bits in index.packet_in.values()}
    for header, have, want in (
        ("packet_in", pin, pl.PACKET_IN_FIELDS),
        ("packet_out", {n: b for n, (_i, b) in index.packet_out.items()}, pl.PACKET_OUT_FIELDS),
    ):
        if list(have) != [n for n, _w in want]:
            out.append(f"{header}: fields {list(have)}, not {[n for n, _w in want]}")
        for name, width in want:
            if name in have and have[name] != width:
                out.append(f"{header}: field {name} is {have[name]} bits, not {width}")
    return out


def load_p4info(path: str | Path, pipe: str | None = None) -> P4InfoIndex:
    """Load a P4Info in text (``.txt``, ``.txtpb``, ``.pb.txt``) or binary form.

    ``pipe``: the Tofino pipe prefix of the names (default: detected, see the module doc)."""
    p = Path(path)
    try:
        data = p.read_bytes()
    except OSError as e:
        raise P4InfoError(f"{p}: {e.strerror or e}") from None
    msg = p4info_pb2.P4Info()
    try:
        if p.suffix in (".txt", ".txtpb", ".pbtxt") or p.name.endswith(".pb.txt"):
            text_format.Parse(data.decode("utf-8"), msg)
        else:
            msg.ParseFromString(data)
    except (text_format.ParseError, DecodeError, UnicodeDecodeError) as e:
        raise P4InfoError(f"{p}: not a valid P4Info: {e}") from None
    return P4InfoIndex(msg, pipe)


def slot_capacity(index: P4InfoIndex, configured: int | None = None) -> int:
    """Register slots the device holds: ``configured`` (``device.slots``: the DPDK agent's
    ``--slots``), else the size of the slot registers (``DyscoIngress.slots.*``, the smallest)
    in the P4Info, else the v1model build's ``NUM_SLOTS``; never more than the slot values
    (``SLOT_SPACE``). The controller's slot allocator stays below it (docs/pipeline.md 1)."""
    from dysco_pipeline import pipeline as pl

    if configured is not None:
        return min(configured, pl.SLOT_SPACE)
    sizes = [
        int(r.size)
        for r in index.p4info.registers
        if index.contract_name(r.preamble.name).startswith("DyscoIngress.slots.") and r.size > 0
    ]
    return min(min(sizes) if sizes else pl.NUM_SLOTS, pl.SLOT_SPACE)
