"""P4Info loading and name resolution; canonical P4Runtime bytestrings.

Everything the controller sends to a device is addressed by *name* (``docs/pipeline.md``)
and resolved to ids here, from the P4Info the device runs, so ids are never literals.

Tofino: bf-p4c prefixes the names of pipe-level objects (tables, registers, ...) with the name
of the ``Pipeline`` instance (``pipe.DyscoIngress.session.out_session``); actions keep their
control-qualified names. :class:`P4InfoIndex` also indexes every name under its *contract
name*, so the contract's names (``dysco_pipeline.pipeline.Tbl``, ``Act``) resolve on a Tofino
P4Info as on the bmv2 one. The pipe names are given (``device.pipe`` of a ``target: tofino``
configuration) and, for a ``tna``/``t2na`` P4Info, also taken from the table names (their
first components).

A folded Tofino 1 build (``-DFOLD``: two ``Pipeline`` instances, ``pipe_a`` and ``pipe_b``)
has names of both pipes, and bf-p4c specializes the ingress control per pipe because it has a
constructor parameter: ``pipe_a.DyscoIngress_0.session.out_session``,
``pipe_b.DyscoIngress_1.forwarding.ipv4_fwd``, actions ``DyscoIngress_1.forwarding.route``.
The contract name drops the pipe prefix and maps a first component ``DyscoIngress_<n>`` /
``DyscoEgress_<n>`` to ``DyscoIngress`` / ``DyscoEgress``. Each contract table and action must
then come from exactly one pipe: one found in two is a :class:`P4InfoError` (one line); any
other name found in two is ambiguous and resolves only by its full name.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from google.protobuf import text_format
from google.protobuf.message import DecodeError

from controller.p4rt.gen.p4.config.v1 import p4info_pb2

# bf-p4c puts Tofino extern infos (barefoot.Register, ...) into P4Info ``externs`` as Any: their
# types must be in the descriptor pool for a TNA P4Info to parse.
from controller.p4rt.tofino_pb.barefoot import p4info_pb2 as _barefoot_p4info


class P4InfoError(ValueError):
    """A name the controller needs is missing from the P4Info, or the file is unreadable."""


TOFINO_ARCHS = ("tna", "t2na")
# bf-p4c's name for a control it specialized per pipe (a constructor parameter): <name>_<n>
_SPECIALIZED = re.compile(r"(DyscoIngress|DyscoEgress)_\d+")


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


def contract_form(name: str, pipes: tuple[str, ...] | list[str]) -> str:
    """A bf-p4c name as the contract writes it: without a leading pipe prefix (one of
    ``pipes``) and with a per-pipe ``DyscoIngress_<n>`` / ``DyscoEgress_<n>`` back to its
    control's name (``pipe_a.DyscoIngress_0.session.out_session`` ->
    ``DyscoIngress.session.out_session``)."""
    first, dot, rest = name.partition(".")
    if dot and first in pipes:
        name = rest
        first, dot, rest = name.partition(".")
    m = _SPECIALIZED.fullmatch(first)
    return f"{m.group(1)}.{rest}" if dot and m else name


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

    Names are accepted fully qualified (``Ingress.dysco_in``), by their contract name (see the
    module doc) or by their last component (``dysco_in``) when that is unambiguous.
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
    # every pipe prefix stripped: the given pipe and, for tna/t2na, the table names' firsts
    pipes: tuple[str, ...] = field(default=(), init=False)
    # "<kind> <contract name>" -> the full names of two pipes that share it
    ambiguous: dict[str, tuple[str, str]] = field(default_factory=dict, init=False)
    _owner: dict[str, str] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        p = self.p4info
        detected = detect_pipes(p)
        if self.pipe is None and len(detected) == 1:
            self.pipe = detected[0]
        given = (self.pipe,) if self.pipe else ()
        self.pipes = tuple(dict.fromkeys(given + detected))
        for t in p.tables:
            match = {m.name: (m.id, m.bitwidth) for m in t.match_fields}
            info = TableInfo(t.preamble.id, t.preamble.name, match, tuple(match), int(t.size))
            self.table_by_id[info.id] = info
            self._index("table", self.tables, t.preamble.name, t.preamble.alias, info)
        for a in p.actions:
            ainfo = ActionInfo(
                a.preamble.id, a.preamble.name, {q.name: (q.id, q.bitwidth) for q in a.params}
            )
            self.action_by_id[ainfo.id] = ainfo
            self._index("action", self.actions, a.preamble.name, a.preamble.alias, ainfo)
        for cpm in p.controller_packet_metadata:
            if cpm.preamble.name == "packet_in":
                self.packet_in = {m.id: (m.name, m.bitwidth) for m in cpm.metadata}
            elif cpm.preamble.name == "packet_out":
                self.packet_out = {m.name: (m.id, m.bitwidth) for m in cpm.metadata}
        for r in p.registers:
            self._index(
                "register", self.registers, r.preamble.name, r.preamble.alias, r.preamble.id
            )
        for name, alias, rid, _size in tofino_registers(p):
            self._index("register", self.registers, name, alias, rid)
        for c in p.counters:
            self._index("counter", self.counters, c.preamble.name, c.preamble.alias, c.preamble.id)
        self._refuse_ambiguous_contract()

    def contract_name(self, name: str) -> str:
        """``name`` as the contract writes it (:func:`contract_form` with this P4Info's pipes);
        unchanged when the P4Info has no pipes (bmv2, DPDK)."""
        return contract_form(name, self.pipes) if self.pipes else name

    def _index(self, kind: str, index: dict, name: str, alias: str, value: object) -> None:  # type: ignore[type-arg]
        short = self.contract_name(name)
        if short != name:
            key = f"{kind} {short}"
            other = self._owner.setdefault(key, name)
            if other != name:
                # two pipes have it: only the full names resolve
                self.ambiguous[key] = (other, name)
                index[short] = None
            elif key not in self.ambiguous:
                # the contract's name: exact, so it wins over a last-component alias
                index[short] = value
        self._alias(index, name, alias, value)

    def _refuse_ambiguous_contract(self) -> None:
        """A contract table or action in two pipes: the controller could not tell which to
        write, so the P4Info is refused (one line)."""
        from dysco_pipeline import pipeline as pl

        for kind, names in (("table", pl.Tbl), ("action", pl.Act)):
            for n in names:
                both = self.ambiguous.get(f"{kind} {n.value}")
                if both is not None:
                    raise P4InfoError(
                        f"{kind} {n.value} is in two pipes of the P4Info ({both[0]} and "
                        f"{both[1]}): the pipeline contract needs it in exactly one"
                    )

    def _missing(self, kind: str, name: str) -> P4InfoError:
        both = self.ambiguous.get(f"{kind} {name}")
        if both is not None:
            return P4InfoError(
                f"{kind} {name!r} is in two pipes ({both[0]} and {both[1]}): use its full name"
            )
        return P4InfoError(f"{kind} {name!r} is not in the P4Info")

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
            raise self._missing("table", name)
        return info

    def action(self, name: str) -> ActionInfo:
        info = self.actions.get(name)
        if info is None:
            raise self._missing("action", name)
        return info

    def register(self, name: str) -> int:
        rid = self.registers.get(name)
        if rid is None:
            raise self._missing("register", name)
        return rid

    @property
    def cookie(self) -> int:
        """A 64-bit cookie identifying this P4Info (and so the pipeline) content."""
        return int.from_bytes(
            hashlib.sha256(self.p4info.SerializeToString(deterministic=True)).digest()[:8], "big"
        )


def detect_pipes(p4info: p4info_pb2.P4Info) -> tuple[str, ...]:
    """The pipe prefixes of a bf-p4c (``tna``/``t2na``) P4Info: the first components of the
    table names (``pipe`` in ``pipe.DyscoIngress.ports.port_role``; ``pipe_a`` and ``pipe_b``
    in a folded build), in order of appearance; ``()`` for another architecture or when a
    table name has no pipe prefix (fewer than three components)."""
    if p4info.pkg_info.arch not in TOFINO_ARCHS or not p4info.tables:
        return ()
    if any(t.preamble.name.count(".") < 2 for t in p4info.tables):
        return ()
    return tuple(dict.fromkeys(t.preamble.name.split(".", 1)[0] for t in p4info.tables))


def detect_pipe(p4info: p4info_pb2.P4Info) -> str | None:
    """The pipe prefix of a one-pipeline bf-p4c P4Info (``pipe``); ``None`` when there is none
    or more than one (a folded build: :func:`detect_pipes`)."""
    pipes = detect_pipes(p4info)
    return pipes[0] if len(pipes) == 1 else None


def tofino_registers(p4info: p4info_pb2.P4Info) -> list[tuple[str, str, int, int]]:
    """bf-p4c's registers (``externs`` of type ``Register``, a ``barefoot.Register`` each):
    name, alias, id and size. A TNA P4Info has no P4Runtime ``registers``."""
    out: list[tuple[str, str, int, int]] = []
    for ext in p4info.externs:
        if ext.extern_type_name != "Register":
            continue
        for inst in ext.instances:
            info = _barefoot_p4info.Register()
            size = int(info.size) if inst.info.Unpack(info) else 0
            out.append((inst.preamble.name, inst.preamble.alias, inst.preamble.id, size))
    return out


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
    regs = [(r.preamble.name, int(r.size)) for r in index.p4info.registers]
    regs += [(name, size) for name, _a, _i, size in tofino_registers(index.p4info)]
    sizes = [
        size
        for name, size in regs
        if index.contract_name(name).startswith("DyscoIngress.slots.") and size > 0
    ]
    return min(min(sizes) if sizes else pl.NUM_SLOTS, pl.SLOT_SPACE)
