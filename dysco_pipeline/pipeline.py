"""The pipeline contract: P4Info names, codes, sizes and controller-header layouts.

One contract, three implementations: the P4 program (``p4src/``, bmv2 via v1model and Tofino
via TNA), the DPDK agent and the Python reference model (:mod:`dysco_pipeline.refmodel`). This
module is the single Python source of every name and number they share; the P4 program's
``p4src/shared/define.p4`` and ``size.p4`` hold the same numbers, and a test cross-checks the
compiled P4Info (``p4src/build/dysco.p4info.txtpb``) against the tables here.
``docs/pipeline.md`` explains what each table, action and code means.

It also converts between the abstract :class:`~dysco_proto.entries.MappingEntry` an agent
installs and the concrete table entries (P4Info names, integer values), so that the agent's
abstract contract maps one to one onto the P4Info.
"""

from __future__ import annotations

import enum
import functools
import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Final

from dysco_proto.agent.records import HOLD
from dysco_proto.entries import NUM_SLOTS as SLOT_SPACE
from dysco_proto.entries import (
    SLOT_BITS,
    Deltas,
    Direction,
    EntryKey,
    MappingEntry,
    Role,
)
from dysco_proto.events import PuntReason
from dysco_proto.packet import TCP, FiveTuple

__all__ = [
    "ACTION_PARAMS",
    "CPU_CLONE_SESSION",
    "CPU_PORT",
    "FWD_TABLE_SIZE",
    "LOCAL_ADDR_TABLE_SIZE",
    "MATCH_FIELDS",
    "MAX_WIN_SHIFT",
    "NUM_SLOTS",
    "PACKET_IN_FIELDS",
    "PACKET_OUT_FIELDS",
    "PORT_BITS",
    "PORT_TABLE_SIZE",
    "PUNT_FIELD_LIST",
    "RECIRC_PORT",
    "REGISTERS",
    "SESSION_TABLE_SIZE",
    "SLOT_BITS",
    "SLOT_SPACE",
    "Act",
    "Direction8",
    "PacketInFlag",
    "PacketOutFlag",
    "PacketOutOp",
    "PortRole",
    "Reason",
    "RegValid",
    "RoleCode",
    "TableEntry",
    "Tbl",
    "decode_packet_in",
    "decode_packet_out",
    "encode_packet_in",
    "encode_packet_out",
    "entry_from_table",
    "entry_to_table",
    "parse_value",
]

# --- sizes and ports (p4src/shared/size.p4 and define.p4) ----------------------------------

CPU_PORT: Final = 255
"""The bmv2 CPU port (``simple_switch_grpc --cpu-port``); packets sent there become packet-ins."""
CPU_CLONE_SESSION: Final = 100
"""Clone (mirror) session that copies a packet to :data:`CPU_PORT` (FIN/RST/SYN-ACK mirrors)."""
PUNT_FIELD_LIST: Final = 1
"""v1model ``@field_list`` index of the metadata preserved in a clone (the packet-in fields)."""
PORT_BITS: Final = 9
"""Width of a switch port number (v1model and TNA ``PortId_t``)."""
DROP_PORT: Final = 511
"""bmv2's drop port: a packet-out to it (or to :data:`CPU_PORT`) is dropped."""
RECIRC_PORT: Final = 510
"""The port a hairpinned packet re-enters by for its IN pass (docs/pipeline.md 4.3): the
``ingress_port`` of that pass's packet-ins. A configuration value (``-DRECIRC_PORT=``; TNA: a
recirculation port of the chip, 68 by default), never a host port."""

SESSION_TABLE_SIZE: Final = 65536
"""Entries of each session table (OUT and IN)."""
NUM_SLOTS: Final = 65536
"""Register cells of each slot register in the v1model build (``size.p4``): the slots a
bmv2 device holds, and a controller's default capacity when its P4Info states none. The slot
*values* are :data:`SLOT_SPACE` (``SLOT_BITS`` wide); each target sizes its registers (the
DPDK agent: ``--slots``), and a controller never installs a slot beyond its device's."""
FWD_TABLE_SIZE: Final = 1024
PORT_TABLE_SIZE: Final = 512
LOCAL_ADDR_TABLE_SIZE: Final = 1024
MAX_WIN_SHIFT: Final = 14
"""RFC 7323 maximum window scale; ``win_shift`` parameters lie in ``[-14, 14]``."""

HOLD_PUNT_BYTES: Final = 16384
"""Data sent into a hold with ``(seq - cut) mod 2**32`` below this is punted as
:attr:`Reason.HOLD` (``docs/pipeline.md`` 5.2, "The held prefix"); a power of two."""

HOLD_ADDRESS: Final = HOLD.dst_ip
"""The new rewrite's destination address that marks a held new path
(:data:`dysco_proto.agent.HOLD`, ``0.0.0.0``): no route, so the rewritten packet is dropped."""


def is_held(entry: MappingEntry) -> bool:
    """Whether ``entry``'s new path is held (its new rewrite goes to :data:`HOLD_ADDRESS`)."""
    return entry.new_rewrite is not None and entry.new_rewrite.dst_ip == HOLD_ADDRESS


CONTROL_PORT: Final = 35000
"""UDP port of Dysco control messages (same as :data:`dysco_proto.wire.CONTROL_PORT`)."""


# --- codes --------------------------------------------------------------------------------


class Reason(enum.IntEnum):
    """``packet_in.reason``: why a packet reached the CPU port.

    The first five have the names of :class:`~dysco_proto.events.PuntReason`.
    """

    SYN = 1  # SYN without ACK (with or without an entry, with or without a chain): not forwarded
    SYNACK = 2  # SYN-ACK with payload, or on a NEW-role entry: not forwarded
    SYNACK_MIRROR = 3  # SYN-ACK rewritten and forwarded; this is a copy
    FIN_MIRROR = 4
    RST_MIRROR = 5
    CONTROL = 6  # UDP to the control port of a local address: not forwarded
    PROBE_REPLY = 7  # answer to a PROBE packet-out
    LATCH = 8  # a completion latch fired on a forwarded packet; this is a copy
    UNSUPPORTED_OPTIONS = 9  # options the pipeline cannot rewrite with these deltas: not fwd
    SPLIT = 10  # two-path packet that needs more than one output: not forwarded
    HOLD = 11  # data of the held prefix (the first HOLD_PUNT_BYTES of a hold): not forwarded

    @property
    def punt_reason(self) -> PuntReason | None:
        """The abstract :class:`PuntReason` of the same name, if there is one."""
        try:
            return PuntReason[self.name]
        except KeyError:
            return None


class PacketOutOp(enum.IntEnum):
    """``packet_out.op``: what the pipeline does with a packet from the controller."""

    INVALID = 0  # dropped
    FORWARD = 1  # send the payload unchanged out of ``egress_port``
    ROUTE = 2  # route the payload (an IPv4 frame) with ``ipv4_fwd``: MACs, port, TTL
    PROBE = 3  # answer with PROBE_REPLY carrying the registers of ``slot``


class PacketOutFlag(enum.IntFlag):
    NONE = 0
    FREEZE = 0x01  # PROBE: cut = sent_hi if unset in this epoch; old_ack_hi = ack_hi if set


class PacketInFlag(enum.IntFlag):
    NONE = 0
    ENTRY_HIT = 0x01  # the packet matched a session entry (key = direction, tuple, agent)
    LATCH_OWN = 0x02  # this packet made rcvd_ack_hi reach cut (first time this epoch)
    LATCH_PEER = 0x04  # this packet made ack_hi reach peer_cut (first time this epoch)
    REGS = 0x08  # the register fields carry the slot's registers


class RegValid(enum.IntFlag):
    """Bits of ``packet_in.reg_valid`` (and of the ``flags`` register, bits 0-5)."""

    NONE = 0
    SENT_HI = 0x01
    ACK_HI = 0x02
    RCVD_ACK_HI = 0x04
    NEW_RCVD_LO = 0x08
    CUT = 0x10
    OLD_ACK_HI = 0x20


LATCHED_OWN_BIT: Final = 0x40
"""``flags`` register bit: the own-cutoff latch fired in this epoch."""
LATCHED_PEER_BIT: Final = 0x80
"""``flags`` register bit: the peer-cutoff latch fired in this epoch."""
EPOCH_KEEP_MASK: Final = 0x07
"""``flags`` bits kept when a newer epoch clears the two-path registers."""


class Direction8(enum.IntEnum):
    """``packet_in.direction``."""

    NONE = 0
    OUT = 1  # from a host port: looked up in out_session
    IN = 2  # from a network port: looked up in in_session

    @classmethod
    def of(cls, d: Direction) -> Direction8:
        return cls.OUT if d is Direction.OUT else cls.IN

    def to_direction(self) -> Direction | None:
        if self is Direction8.OUT:
            return Direction.OUT
        if self is Direction8.IN:
            return Direction.IN
        return None


class RoleCode(enum.IntEnum):
    """``role`` action parameter."""

    ONE = 0
    OLD = 1
    NEW = 2

    @classmethod
    def of(cls, role: Role) -> RoleCode:
        return cls[role.name]

    def to_role(self) -> Role:
        return Role[self.name]


class PortRole(enum.IntEnum):
    """What ``port_role`` says about an ingress port."""

    NETWORK = 0  # default: packets are looked up in in_session
    HOST = 1  # a local host (endpoint or middlebox) behind this port: out_session


# --- P4Info names -------------------------------------------------------------------------


class Tbl(enum.StrEnum):
    """Table names (P4Info ``preamble.name``)."""

    PORT_ROLE = "DyscoIngress.ports.port_role"
    LOCAL_ADDR = "DyscoIngress.ports.local_addr"
    OUT_SESSION = "DyscoIngress.session.out_session"
    IN_SESSION = "DyscoIngress.session.in_session"
    IPV4_FWD = "DyscoIngress.forwarding.ipv4_fwd"


class Act(enum.StrEnum):
    """Action names (P4Info ``preamble.name``)."""

    HOST_PORT = "DyscoIngress.ports.host_port"
    NETWORK_PORT = "DyscoIngress.ports.network_port"
    SET_LOCAL = "DyscoIngress.ports.set_local"
    OUT_REWRITE = "DyscoIngress.session.out_rewrite"
    OUT_TWO_PATH = "DyscoIngress.session.out_two_path"
    IN_REWRITE = "DyscoIngress.session.in_rewrite"
    ROUTE = "DyscoIngress.forwarding.route"
    ROUTE_HOST = "DyscoIngress.forwarding.route_host"
    DROP = "DyscoIngress.forwarding.drop"
    NO_ACTION = "NoAction"


MatchKind = str  # "exact" | "lpm"

MATCH_FIELDS: Final[Mapping[Tbl, tuple[tuple[str, int, MatchKind], ...]]] = {
    Tbl.PORT_ROLE: (("ingress_port", PORT_BITS, "exact"),),
    Tbl.LOCAL_ADDR: (("dst_addr", 32, "exact"),),
    Tbl.OUT_SESSION: (
        ("agent_id", 8, "exact"),
        ("src_addr", 32, "exact"),
        ("dst_addr", 32, "exact"),
        ("proto", 8, "exact"),
        ("src_port", 16, "exact"),
        ("dst_port", 16, "exact"),
    ),
    Tbl.IN_SESSION: (
        ("src_addr", 32, "exact"),
        ("dst_addr", 32, "exact"),
        ("proto", 8, "exact"),
        ("src_port", 16, "exact"),
        ("dst_port", 16, "exact"),
    ),
    Tbl.IPV4_FWD: (("dst_addr", 32, "lpm"),),
}
"""Match fields of every table, in P4Info order: (name, bit width, match kind)."""

TABLE_ACTIONS: Final[Mapping[Tbl, tuple[Act, ...]]] = {
    Tbl.PORT_ROLE: (Act.HOST_PORT, Act.NETWORK_PORT),
    Tbl.LOCAL_ADDR: (Act.SET_LOCAL, Act.NO_ACTION),
    Tbl.OUT_SESSION: (Act.OUT_REWRITE, Act.OUT_TWO_PATH, Act.NO_ACTION),
    Tbl.IN_SESSION: (Act.IN_REWRITE, Act.NO_ACTION),
    Tbl.IPV4_FWD: (Act.ROUTE, Act.ROUTE_HOST, Act.DROP),
}
"""Actions each table may hold (``NoAction`` only as the miss action of the session tables)."""

TABLE_SIZES: Final[Mapping[Tbl, int]] = {
    Tbl.PORT_ROLE: PORT_TABLE_SIZE,
    Tbl.LOCAL_ADDR: LOCAL_ADDR_TABLE_SIZE,
    Tbl.OUT_SESSION: SESSION_TABLE_SIZE,
    Tbl.IN_SESSION: SESSION_TABLE_SIZE,
    Tbl.IPV4_FWD: FWD_TABLE_SIZE,
}

IDLE_TIMEOUT_TABLES: Final = frozenset({Tbl.OUT_SESSION, Tbl.IN_SESSION})
"""Tables whose entries report idleness (P4Runtime idle-timeout notifications)."""

_REWRITE_PARAMS: Final[tuple[tuple[str, int], ...]] = (
    ("src_addr", 32),
    ("dst_addr", 32),
    ("src_port", 16),
    ("dst_port", 16),
    ("seq_delta", 32),
    ("ack_delta", 32),
    ("tsval_delta", 32),
    ("tsecr_delta", 32),
    ("win_shift", 8),
)
_ENTRY_PARAMS: Final[tuple[tuple[str, int], ...]] = (
    ("slot", SLOT_BITS),
    ("role", 8),
    ("epoch", 32),
)
_PEER_CUT_PARAMS: Final[tuple[tuple[str, int], ...]] = (("peer_cut", 32), ("peer_cut_valid", 1))

ACTION_PARAMS: Final[Mapping[Act, tuple[tuple[str, int], ...]]] = {
    Act.HOST_PORT: (("agent_id", 8),),
    Act.NETWORK_PORT: (),
    Act.SET_LOCAL: (),
    Act.OUT_REWRITE: _REWRITE_PARAMS + _ENTRY_PARAMS + _PEER_CUT_PARAMS,
    Act.OUT_TWO_PATH: _REWRITE_PARAMS
    + _ENTRY_PARAMS
    + _PEER_CUT_PARAMS
    + tuple(("new_" + n, w) for n, w in _REWRITE_PARAMS),
    Act.IN_REWRITE: _REWRITE_PARAMS + _ENTRY_PARAMS,
    Act.ROUTE: (("port", PORT_BITS), ("src_mac", 48), ("dst_mac", 48)),
    Act.ROUTE_HOST: (("port", PORT_BITS), ("src_mac", 48), ("dst_mac", 48)),
    Act.DROP: (),
    Act.NO_ACTION: (),
}
"""Parameters of every action, in P4Info order: (name, bit width)."""

REGISTERS: Final[Mapping[str, int]] = {
    "DyscoIngress.slots.sent_hi": 32,
    "DyscoIngress.slots.ack_hi": 32,
    "DyscoIngress.slots.rcvd_ack_hi": 32,
    "DyscoIngress.slots.new_rcvd_lo": 32,
    "DyscoIngress.slots.cut": 32,
    "DyscoIngress.slots.old_ack_hi": 32,
    "DyscoIngress.slots.epoch": 32,
    "DyscoIngress.slots.flags": 8,
}
"""Per-slot registers (``NUM_SLOTS`` cells each): name and cell width.

``flags`` holds the valid bits (:class:`RegValid`, bits 0-5) and the two latch bits
(:data:`LATCHED_OWN_BIT`, :data:`LATCHED_PEER_BIT`). bmv2's P4Runtime server cannot read or
write registers: the controller learns their values from PROBE_REPLY and LATCH packet-ins.
"""

PACKET_IN_FIELDS: Final[tuple[tuple[str, int], ...]] = (
    ("ingress_port", 16),
    ("reason", 8),
    ("direction", 8),
    ("flags", 8),
    ("agent_id", 8),
    ("slot", SLOT_BITS),
    ("token", 32),
    ("epoch", 32),
    ("reg_valid", 8),
    ("sent_hi", 32),
    ("ack_hi", 32),
    ("rcvd_ack_hi", 32),
    ("new_rcvd_lo", 32),
    ("cut", 32),
    ("old_ack_hi", 32),
)
"""``@controller_header("packet_in")`` fields (P4Info ``controller_packet_metadata``), in order."""

PACKET_OUT_FIELDS: Final[tuple[tuple[str, int], ...]] = (
    ("op", 8),
    ("flags", 8),
    ("egress_port", 16),
    ("slot", SLOT_BITS),
    ("token", 32),
    ("epoch", 32),
)
"""``@controller_header("packet_out")`` fields, in order."""

PACKET_IN_LEN: Final = sum(w for _, w in PACKET_IN_FIELDS) // 8
PACKET_OUT_LEN: Final = sum(w for _, w in PACKET_OUT_FIELDS) // 8


# --- controller headers -------------------------------------------------------------------


def _encode(fields: tuple[tuple[str, int], ...], values: Mapping[str, int]) -> bytes:
    unknown = set(values) - {n for n, _ in fields}
    if unknown:
        raise ValueError(f"unknown header fields: {sorted(unknown)}")
    out = bytearray()
    for name, width in fields:
        v = int(values.get(name, 0))
        if not 0 <= v < (1 << width):
            raise ValueError(f"{name}={v} does not fit in {width} bits")
        out += v.to_bytes(width // 8, "big")
    return bytes(out)


def _decode(fields: tuple[tuple[str, int], ...], data: bytes) -> tuple[dict[str, int], bytes]:
    n = sum(w for _, w in fields) // 8
    if len(data) < n:
        raise ValueError(f"{len(data)} bytes < header length {n}")
    out: dict[str, int] = {}
    i = 0
    for name, width in fields:
        out[name] = int.from_bytes(data[i : i + width // 8], "big")
        i += width // 8
    return out, bytes(data[n:])


def encode_packet_in(values: Mapping[str, int]) -> bytes:
    """The packet-in header bytes; missing fields are zero."""
    return _encode(PACKET_IN_FIELDS, values)


def decode_packet_in(data: bytes) -> tuple[dict[str, int], bytes]:
    """Split a CPU-port frame into (packet-in fields, the packet that follows)."""
    return _decode(PACKET_IN_FIELDS, data)


def encode_packet_out(values: Mapping[str, int]) -> bytes:
    """The packet-out header bytes; missing fields are zero."""
    return _encode(PACKET_OUT_FIELDS, values)


def decode_packet_out(data: bytes) -> tuple[dict[str, int], bytes]:
    """Split a frame from the controller into (packet-out fields, payload)."""
    return _decode(PACKET_OUT_FIELDS, data)


# --- table entries ------------------------------------------------------------------------

Value = int | str | tuple[int, int]


def _field_width(table: Tbl, name: str) -> tuple[int, str]:
    for n, w, kind in MATCH_FIELDS[table]:
        if n == name:
            return w, kind
    raise KeyError(f"{table} has no match field {name!r}")


def parse_value(value: object, width: int) -> int:
    """An integer from a P4Info value written as int, dotted quad (32 bits) or MAC (48 bits)."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int):
        v = value
    elif isinstance(value, str):
        if width == 32 and "." in value:
            v = int(ipaddress.IPv4Address(value))
        elif width == 48 and ":" in value:
            v = int(value.replace(":", ""), 16)
        else:
            v = int(value, 0)
    else:
        raise TypeError(f"cannot read {value!r} as a {width}-bit value")
    if not 0 <= v < (1 << width):
        raise ValueError(f"{value!r} does not fit in {width} bits")
    return v


@dataclass(frozen=True, slots=True)
class TableEntry:
    """One table entry by P4Info names, with integer values.

    ``match`` maps each match field to its value; an LPM field maps to ``(value, prefix_len)``.
    ``params`` maps each action parameter to its value.
    """

    table: Tbl
    match: Mapping[str, int | tuple[int, int]]
    action: Act
    params: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def build(
        cls,
        table: str,
        match: Mapping[str, object],
        action: str,
        params: Mapping[str, object] | None = None,
    ) -> TableEntry:
        """Validate names against the contract and normalise values to integers.

        Values may be ints, dotted quads (32-bit fields), MACs (48-bit) or, for LPM fields,
        ``"a.b.c.d/len"`` strings or ``(value, len)`` pairs.
        """
        tbl = Tbl(table)
        act = Act(action)
        if act not in TABLE_ACTIONS[tbl] or act is Act.NO_ACTION:
            raise ValueError(f"{act} is not an entry action of {tbl}")
        names = {n for n, _, _ in MATCH_FIELDS[tbl]}
        if set(match) != names:
            raise ValueError(f"{tbl} match fields {sorted(match)} != {sorted(names)}")
        m: dict[str, int | tuple[int, int]] = {}
        for name, raw in match.items():
            width, kind = _field_width(tbl, name)
            if kind == "lpm":
                if isinstance(raw, str) and "/" in raw:
                    addr, plen = raw.split("/")
                    pair = (parse_value(addr, width), int(plen))
                elif isinstance(raw, tuple | list) and len(raw) == 2:
                    pair = (parse_value(raw[0], width), int(raw[1]))
                else:
                    pair = (parse_value(raw, width), width)
                if not 0 <= pair[1] <= width:
                    raise ValueError(f"bad prefix length {pair[1]}")
                m[name] = pair
            else:
                m[name] = parse_value(raw, width)
        p: dict[str, int] = {}
        given = dict(params or {})
        spec = ACTION_PARAMS[act]
        if set(given) != {n for n, _ in spec}:
            raise ValueError(f"{act} params {sorted(given)} != {sorted(n for n, _ in spec)}")
        for name, width in spec:
            p[name] = parse_value(given[name], width)
        return cls(tbl, m, act, p)

    def key(self) -> tuple[object, ...]:
        """The entry's identity in its table (table and match values)."""
        return (self.table, tuple(sorted(self.match.items())))


def _ip(v: int) -> str:
    return str(ipaddress.IPv4Address(v))


@functools.lru_cache(maxsize=1 << 16)
def _ip_int(addr: str) -> int:
    """``int(IPv4Address(addr))``, cached: a device's entries repeat few addresses, and the
    parse was most of the cost of an entry's conversion (an invalid address still raises)."""
    return int(ipaddress.IPv4Address(addr))


def _win_param(shift: int) -> int:
    if not -MAX_WIN_SHIFT <= shift <= MAX_WIN_SHIFT:
        raise ValueError(f"win_shift {shift} outside [-{MAX_WIN_SHIFT}, {MAX_WIN_SHIFT}]")
    return shift & 0xFF


def win_shift_from_param(v: int) -> int:
    """The signed window shift of an 8-bit two's complement ``win_shift`` parameter."""
    return v - 256 if v >= 128 else v


def _rewrite_params(prefix: str, t: FiveTuple, d: Deltas) -> dict[str, int]:
    if t.proto != TCP:
        raise ValueError("the pipeline rewrites TCP only")
    m = 0xFFFF_FFFF
    return {
        prefix + "src_addr": _ip_int(t.src_ip),
        prefix + "dst_addr": _ip_int(t.dst_ip),
        prefix + "src_port": t.src_port,
        prefix + "dst_port": t.dst_port,
        prefix + "seq_delta": d.seq & m,
        prefix + "ack_delta": d.ack & m,
        prefix + "tsval_delta": d.tsval & m,
        prefix + "tsecr_delta": d.tsecr & m,
        prefix + "win_shift": _win_param(d.win_shift),
    }


def _read_rewrite(prefix: str, p: Mapping[str, int]) -> tuple[FiveTuple, Deltas]:
    t = FiveTuple(
        _ip(p[prefix + "src_addr"]),
        p[prefix + "src_port"],
        _ip(p[prefix + "dst_addr"]),
        p[prefix + "dst_port"],
        TCP,
    )
    d = Deltas(
        seq=p[prefix + "seq_delta"],
        ack=p[prefix + "ack_delta"],
        tsval=p[prefix + "tsval_delta"],
        tsecr=p[prefix + "tsecr_delta"],
        win_shift=win_shift_from_param(p[prefix + "win_shift"]),
    )
    return t, d


def _tuple_match(t: FiveTuple) -> dict[str, int | tuple[int, int]]:
    return {
        "src_addr": _ip_int(t.src_ip),
        "dst_addr": _ip_int(t.dst_ip),
        "proto": t.proto,
        "src_port": t.src_port,
        "dst_port": t.dst_port,
    }


def entry_to_table(entry: MappingEntry, agent_id: int = 0) -> TableEntry:
    """The session-table entry that implements ``entry`` (for agent ``agent_id``).

    OUT entries go to ``out_session`` (``out_two_path`` when ``entry.two_path``), IN entries
    to ``in_session``. Raises :class:`ValueError` for what the pipeline cannot represent
    (non-TCP tuples, a slot beyond :data:`SLOT_SPACE`, a window shift beyond 14, a two-path or
    ``peer_cut`` IN entry).
    """
    if not 0 <= entry.slot < SLOT_SPACE:
        raise ValueError(f"slot {entry.slot} outside [0, {SLOT_SPACE})")
    if not 0 <= entry.epoch < (1 << 32):
        raise ValueError(f"epoch {entry.epoch} does not fit in 32 bits")
    if not 0 <= agent_id < 256:
        raise ValueError(f"agent_id {agent_id} does not fit in 8 bits")
    params = _rewrite_params("", entry.rewrite, entry.deltas)
    params.update(slot=entry.slot, role=int(RoleCode.of(entry.role)), epoch=entry.epoch)
    match = _tuple_match(entry.key.match)
    if entry.key.direction is Direction.IN:
        if entry.two_path or entry.peer_cut is not None:
            raise ValueError("IN entries have no second path and no peer cutoff")
        return TableEntry(Tbl.IN_SESSION, match, Act.IN_REWRITE, params)
    match = {"agent_id": agent_id, **match}
    params.update(
        peer_cut=(entry.peer_cut or 0) & 0xFFFF_FFFF,
        peer_cut_valid=int(entry.peer_cut is not None),
    )
    if not entry.two_path:
        return TableEntry(Tbl.OUT_SESSION, match, Act.OUT_REWRITE, params)
    assert entry.new_rewrite is not None
    params.update(_rewrite_params("new_", entry.new_rewrite, entry.new_deltas or Deltas()))
    return TableEntry(Tbl.OUT_SESSION, match, Act.OUT_TWO_PATH, params)


def entry_from_table(te: TableEntry) -> tuple[int, MappingEntry]:
    """Inverse of :func:`entry_to_table`: ``(agent_id, MappingEntry)`` of a session entry."""
    if te.table not in (Tbl.OUT_SESSION, Tbl.IN_SESSION):
        raise ValueError(f"{te.table} is not a session table")
    m = te.match
    vals = {k: v for k, v in m.items() if isinstance(v, int)}
    key_tuple = FiveTuple(
        _ip(vals["src_addr"]),
        vals["src_port"],
        _ip(vals["dst_addr"]),
        vals["dst_port"],
        vals["proto"],
    )
    p = te.params
    rewrite_t, deltas = _read_rewrite("", p)
    role = RoleCode(p["role"]).to_role()
    if te.table is Tbl.IN_SESSION:
        key = EntryKey(Direction.IN, key_tuple)
        return 0, MappingEntry(key, rewrite_t, deltas, p["slot"], role, epoch=p["epoch"])
    key = EntryKey(Direction.OUT, key_tuple)
    peer_cut = p["peer_cut"] if p["peer_cut_valid"] else None
    new_rewrite: FiveTuple | None = None
    new_deltas: Deltas | None = None
    if te.action is Act.OUT_TWO_PATH:
        new_rewrite, new_deltas = _read_rewrite("new_", p)
    entry = MappingEntry(
        key,
        rewrite_t,
        deltas,
        p["slot"],
        role,
        new_rewrite=new_rewrite,
        new_deltas=new_deltas,
        peer_cut=peer_cut,
        epoch=p["epoch"],
    )
    return vals["agent_id"], entry
