"""P4Info loading and name resolution; canonical P4Runtime bytestrings.

Everything the controller sends to a device is addressed by *name* (``docs/pipeline.md``)
and resolved to ids here, from the P4Info the device runs, so ids are never literals.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf import text_format
from google.protobuf.message import DecodeError

from controller.p4rt.gen.p4.config.v1 import p4info_pb2


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
        for t in p.tables:
            match = {m.name: (m.id, m.bitwidth) for m in t.match_fields}
            info = TableInfo(t.preamble.id, t.preamble.name, match, tuple(match), int(t.size))
            self.table_by_id[info.id] = info
            self._alias(self.tables, t.preamble.name, t.preamble.alias, info)
        for a in p.actions:
            ainfo = ActionInfo(
                a.preamble.id, a.preamble.name, {q.name: (q.id, q.bitwidth) for q in a.params}
            )
            self.action_by_id[ainfo.id] = ainfo
            self._alias(self.actions, a.preamble.name, a.preamble.alias, ainfo)
        for cpm in p.controller_packet_metadata:
            if cpm.preamble.name == "packet_in":
                self.packet_in = {m.id: (m.name, m.bitwidth) for m in cpm.metadata}
            elif cpm.preamble.name == "packet_out":
                self.packet_out = {m.name: (m.id, m.bitwidth) for m in cpm.metadata}
        for r in p.registers:
            self._alias(self.registers, r.preamble.name, r.preamble.alias, r.preamble.id)
        for c in p.counters:
            self._alias(self.counters, c.preamble.name, c.preamble.alias, c.preamble.id)

    @staticmethod
    def _alias(index: dict, name: str, alias: str, value: object) -> None:  # type: ignore[type-arg]
        index[name] = value
        for short in {alias, name.rsplit(".", 1)[-1]}:
            if not short or short == name:
                continue
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


def load_p4info(path: str | Path) -> P4InfoIndex:
    """Load a P4Info in text (``.txt``, ``.txtpb``, ``.pb.txt``) or binary form."""
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
    return P4InfoIndex(msg)
