"""Reference model of the P4 pipeline: the executable specification and the test oracle.

A pure function of (table and register state, input frame, ingress port) returning the output
frames with their ports, the packet-ins and the new register state
(:func:`process`). Tables are filled by P4Info names (:mod:`dysco_pipeline.pipeline`), exactly as
a controller fills the switch over P4Runtime.

What the abstract data path already defines is not restated here: session entries are turned
into :class:`~dysco_proto.entries.MappingEntry` objects and each packet is run through
:class:`~dysco_proto.datapath.DataPath` (lookup, SYN/SYN-ACK punts, register updates with
epochs, two-path steering, latches, mirrors, probes), whose rewritten
:class:`~dysco_proto.packet.Segment` gives every new header value. This module adds what the
abstract model does not have: bytes (the parse graph and the option layouts a switch can
rewrite, malformed and truncated frames), ports and port roles, the forwarding table (MACs,
TTL), checksums, the packet-in / packet-out headers, and the one-pass limits of a switch
(``SPLIT`` and ``UNSUPPORTED_OPTIONS`` punts). ``docs/pipeline.md`` is the prose version.
"""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace

from dysco_pipeline.checksum import internet_checksum, ones_complement_sum
from dysco_pipeline.completion import (
    MIRRORS,
    Completion,
    complete_punt,
    mirror_host_view,
    registers_from_packet_in,
    window_rescale,
)
from dysco_pipeline.parse import (
    ETH_LEN,
    ETHERTYPE_IPV4,
    IPV4_LEN,
    TCP_LEN,
    UDP_LEN,
    OptionLayout,
    ParseError,
    TcpFrame,
    ipv4_checksum_ok,
    parse_options,
    segment_of,
    tcp_checksum_ok,
    tcp_sum_input,
)
from dysco_pipeline.pipeline import (
    CONTROL_PORT,
    CPU_PORT,
    DROP_PORT,
    HOLD_PUNT_BYTES,
    PACKET_IN_FIELDS,
    RECIRC_PORT,
    Act,
    Direction8,
    PacketInFlag,
    PacketOutFlag,
    PacketOutOp,
    PortRole,
    Reason,
    RegValid,
    TableEntry,
    Tbl,
    decode_packet_in,
    decode_packet_out,
    encode_packet_in,
    entry_from_table,
    is_held,
)
from dysco_proto.datapath import DataPath, DataPathResult, SlotRegisters
from dysco_proto.entries import Direction, MappingEntry
from dysco_proto.events import PuntReason
from dysco_proto.packet import TCP, UDP, FiveTuple, Segment, TcpFlags
from dysco_proto.rewrite import rewrite

__all__ = [
    "Completion",
    "PipelinePacketIn",
    "PipelineResult",
    "PipelineState",
    "TableState",
    "complete_punt",
    "mirror_host_view",
    "process",
    "registers_from_packet_in",
    "segment_of",
    "window_rescale",
]


# --- state ---------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PipelinePacketIn:
    """A packet-in: the ``packet_in`` header fields by P4Info name, and the packet after it."""

    metadata: Mapping[str, int]
    payload: bytes

    def to_bytes(self) -> bytes:
        """The frame as it leaves the CPU port."""
        return encode_packet_in(self.metadata) + self.payload

    @classmethod
    def from_bytes(cls, data: bytes) -> PipelinePacketIn:
        meta, payload = decode_packet_in(data)
        return cls(meta, payload)

    @classmethod
    def make(cls, fields: Mapping[str, int], payload: bytes) -> PipelinePacketIn:
        """A packet-in with every header field present (the ones not given are 0)."""
        meta = {name: 0 for name, _ in PACKET_IN_FIELDS}
        unknown = set(fields) - set(meta)
        if unknown:
            raise ValueError(f"unknown packet-in fields {sorted(unknown)}")
        meta.update({k: int(v) for k, v in fields.items()})
        return cls(meta, payload)


class TableState:
    """Table entries by P4Info names, with the lookups the pipeline performs."""

    def __init__(self, entries: Iterable[TableEntry] = ()) -> None:
        self._tables: dict[Tbl, dict[tuple[object, ...], TableEntry]] = {t: {} for t in Tbl}
        self._sessions: dict[tuple[Tbl, tuple[object, ...]], tuple[int, MappingEntry]] = {}
        for e in entries:
            self.insert(e)

    @classmethod
    def from_dict(cls, tables: Mapping[str, Iterable[object]]) -> TableState:
        """Build from ``{"table name": [[{match}, "action name", {params}], ...]}``.

        Each row may also be a mapping with keys ``match``, ``action`` and ``params``.
        """
        out = cls()
        for table, rows in tables.items():
            for row in rows:
                if isinstance(row, Mapping):
                    match, action, params = row["match"], row["action"], row.get("params", {})
                else:
                    match, action, params = row  # type: ignore[misc]
                out.insert(TableEntry.build(table, match, action, params))
        return out

    def insert(self, entry: TableEntry) -> None:
        """Insert or replace (same table and match) an entry."""
        key = entry.key()
        self._tables[entry.table][key] = entry
        if entry.table in (Tbl.OUT_SESSION, Tbl.IN_SESSION):
            self._sessions[(entry.table, _session_key(entry.match))] = entry_from_table(entry)

    def delete(self, entry: TableEntry) -> None:
        self._tables[entry.table].pop(entry.key(), None)
        self._sessions.pop((entry.table, _session_key(entry.match)), None)

    def entries(self) -> list[TableEntry]:
        return [e for t in Tbl for e in self._tables[t].values()]

    # lookups ----------------------------------------------------------------------------

    def port_role(self, port: int) -> tuple[PortRole, int]:
        """(role, agent_id) of an ingress port; the default is a network port of agent 0."""
        e = self._tables[Tbl.PORT_ROLE].get((Tbl.PORT_ROLE, (("ingress_port", port),)))
        if e is not None and e.action is Act.HOST_PORT:
            return PortRole.HOST, e.params["agent_id"]
        return PortRole.NETWORK, 0

    def is_local(self, addr: int) -> bool:
        e = self._tables[Tbl.LOCAL_ADDR].get((Tbl.LOCAL_ADDR, (("dst_addr", addr),)))
        return e is not None and e.action is Act.SET_LOCAL

    def session(self, direction: Direction, agent_id: int, t: FiveTuple) -> MappingEntry | None:
        """The session entry for a packet with five-tuple ``t``, if any."""
        match: dict[str, int | tuple[int, int]] = {
            "src_addr": _ip_int(t.src_ip),
            "dst_addr": _ip_int(t.dst_ip),
            "proto": t.proto,
            "src_port": t.src_port,
            "dst_port": t.dst_port,
        }
        table = Tbl.IN_SESSION
        if direction is Direction.OUT:
            match["agent_id"] = agent_id
            table = Tbl.OUT_SESSION
        found = self._sessions.get((table, _session_key(match)))
        return None if found is None else found[1]

    def route(self, dst: int) -> TableEntry | None:
        """Longest-prefix match in ``ipv4_fwd``; ``None`` means the default action (drop)."""
        best: TableEntry | None = None
        best_len = -1
        for e in self._tables[Tbl.IPV4_FWD].values():
            value, plen = e.match["dst_addr"]  # type: ignore[misc]
            mask = ((1 << plen) - 1) << (32 - plen) if plen else 0
            if (dst & mask) == (value & mask) and plen > best_len:
                best, best_len = e, plen
        return best


def _session_key(match: Mapping[str, int | tuple[int, int]]) -> tuple[object, ...]:
    return tuple(sorted(match.items()))


def _ip_int(addr: str) -> int:
    return int(ipaddress.IPv4Address(addr))


def _ip_str(v: int) -> str:
    return str(ipaddress.IPv4Address(v))


@dataclass(slots=True)
class PipelineState:
    """Everything the pipeline's behaviour depends on: tables and slot registers."""

    tables: TableState = field(default_factory=TableState)
    registers: dict[int, SlotRegisters] = field(default_factory=dict)


@dataclass(slots=True)
class PipelineResult:
    """What one input frame produced.

    ``outputs``: (egress port, frame) for every frame leaving a non-CPU port;
    ``packet_ins``: what reached the CPU port, in pass order; ``registers``: the slot
    registers afterwards; ``dropped``: why the input was dropped (``None`` if it was
    forwarded or punted; for a hairpin, its IN pass's); ``hairpin``: the frame the first pass
    sent into the IN pass (docs/pipeline.md 4.3), ``None`` if it made one pass.
    """

    outputs: list[tuple[int, bytes]] = field(default_factory=list)
    packet_ins: list[PipelinePacketIn] = field(default_factory=list)
    registers: dict[int, SlotRegisters] = field(default_factory=dict)
    dropped: str | None = None
    hairpin: bytes | None = None


# --- output --------------------------------------------------------------------------------


def _route(
    tables: TableState, frame: bytearray, fwd_dst: int | None = None
) -> tuple[int | None, str | None]:
    """``Forwarding``: TTL check, LPM, MACs, TTL decrement, IPv4 checksum. Edits ``frame``.

    The LPM key is the frame's destination address unless ``fwd_dst`` is given: an
    IN-rewritten packet is routed by the destination it arrived with, the local host's
    address (docs/pipeline.md section 2, ``ipv4_fwd``).
    """
    ttl = frame[ETH_LEN + 8]
    if ttl <= 1:
        return None, "ttl"
    dst = int.from_bytes(frame[ETH_LEN + 16 : ETH_LEN + 20], "big") if fwd_dst is None else fwd_dst
    e = tables.route(dst)
    if e is None or e.action not in (Act.ROUTE, Act.ROUTE_HOST):
        return None, "no_route"
    if e.params["port"] == CPU_PORT:
        return None, "route_to_cpu"  # packet-ins come only from punts and mirrors
    frame[0:6] = e.params["dst_mac"].to_bytes(6, "big")
    frame[6:12] = e.params["src_mac"].to_bytes(6, "big")
    frame[ETH_LEN + 8] = ttl - 1
    frame[ETH_LEN + 10 : ETH_LEN + 12] = b"\x00\x00"
    csum = internet_checksum(bytes(frame[ETH_LEN : ETH_LEN + IPV4_LEN]))
    frame[ETH_LEN + 10 : ETH_LEN + 12] = csum.to_bytes(2, "big")
    return e.params["port"], None


def _send(
    tables: TableState,
    frame: bytearray,
    res: PipelineResult,
    fwd_dst: int | None = None,
    *,
    may_hairpin: bool = False,
) -> None:
    """Route ``frame`` (:func:`_route`) and send it, or record why it is dropped. With
    ``may_hairpin`` (an OUT-rewritten packet or a ``ROUTE`` packet-out of the first pass), a
    ``route_host`` route sends it into the IN pass instead (docs/pipeline.md 4.3)."""
    dst = int.from_bytes(frame[ETH_LEN + 16 : ETH_LEN + 20], "big") if fwd_dst is None else fwd_dst
    out_port, why = _route(tables, frame, fwd_dst)
    if out_port is None:
        _drop(res, why or "no_route")
        return
    e = tables.route(dst)
    if may_hairpin and res.hairpin is None and e is not None and e.action is Act.ROUTE_HOST:
        res.hairpin = bytes(frame)
    else:
        res.outputs.append((out_port, bytes(frame)))


def _write_segment(pkt: TcpFrame, out: Segment, win_shift: int = 0) -> bytearray:
    """The input frame with the header values of ``out`` written into the parsed fields.

    Only fields the pipeline rewrites change (addresses, ports, seq, ack, window, TS, SACK);
    the option layout, payload and trailing bytes are kept; the TCP checksum is recomputed
    over the IPv4 total length only (trailing bytes are not covered). The window is the
    input's rescaled by ``win_shift`` with :func:`window_rescale` (SYN and SYN-ACK keep it).
    """
    f = bytearray(pkt.frame)
    ip, tcp, o = ETH_LEN, ETH_LEN + IPV4_LEN, pkt.opt_off
    f[ip + 12 : ip + 16] = ipaddress.IPv4Address(out.tuple.src_ip).packed
    f[ip + 16 : ip + 20] = ipaddress.IPv4Address(out.tuple.dst_ip).packed
    struct.pack_into("!HHII", f, tcp, out.tuple.src_port, out.tuple.dst_port, out.seq, out.ack)
    syn = bool(pkt.flags & 0x02)
    struct.pack_into(
        "!H", f, tcp + 14, pkt.window if syn else window_rescale(pkt.window, win_shift)
    )
    lay = pkt.layout
    ts = out.options.timestamp
    if lay.ts >= 0 and ts is not None:
        struct.pack_into("!II", f, o + lay.ts + 4, *ts)
    if lay.synopt >= 0 and ts is not None:
        struct.pack_into("!II", f, o + lay.synopt + 8, *ts)
    if lay.sack >= 0:
        for i, (left, right) in enumerate(out.options.sack_blocks):
            struct.pack_into("!II", f, o + lay.sack + 4 + 8 * i, left, right)
    csum = internet_checksum(tcp_sum_input(f, pkt.total_len))
    f[tcp + 16 : tcp + 18] = csum.to_bytes(2, "big")
    return f


def _regs_meta(regs: SlotRegisters, pre_old: int | None) -> dict[str, int]:
    """The register fields of a packet-in (unset registers read as 0)."""
    valid = RegValid.NONE
    values: dict[str, int] = {}
    for name, bit, value in (
        ("sent_hi", RegValid.SENT_HI, regs.sent_hi),
        ("ack_hi", RegValid.ACK_HI, regs.ack_hi),
        ("rcvd_ack_hi", RegValid.RCVD_ACK_HI, regs.rcvd_ack_hi),
        ("new_rcvd_lo", RegValid.NEW_RCVD_LO, regs.new_rcvd_lo),
        ("cut", RegValid.CUT, regs.cut),
        ("old_ack_hi", RegValid.OLD_ACK_HI, pre_old),
    ):
        values[name] = 0 if value is None else value
        if value is not None:
            valid |= bit
    values["reg_valid"] = int(valid)
    values["epoch"] = regs.epoch
    return values


# --- the pipeline --------------------------------------------------------------------------


def process(state: PipelineState, frame: bytes, ingress_port: int) -> PipelineResult:
    """Run one frame through the pipeline. ``state`` is not modified.

    Returns the frames sent out of switch ports, the packet-ins (punts, mirrors, probe
    replies) and the slot registers after the frame.
    """
    regs = {slot: replace(r) for slot, r in state.registers.items()}
    res = PipelineResult(registers=regs)
    try:
        if ingress_port == CPU_PORT:
            _packet_out(state.tables, regs, bytes(frame), res)
        else:
            _packet(state.tables, regs, bytes(frame), ingress_port, res)
    except ParseError:
        res.outputs.clear()
        res.packet_ins.clear()
        res.dropped = "parser_error"
        return res
    if res.hairpin is not None:
        # The IN pass: the first pass's output re-enters by RECIRC_PORT (a network port), as
        # if it had left on a network port and come back; it never hairpins again.
        try:
            _packet(state.tables, regs, res.hairpin, RECIRC_PORT, res)
        except ParseError:
            res.dropped = "parser_error"
    return res


def _drop(res: PipelineResult, why: str) -> None:
    res.dropped = why


def _packet_out(
    tables: TableState, regs: dict[int, SlotRegisters], frame: bytes, res: PipelineResult
) -> None:
    try:
        po, payload = decode_packet_out(frame)
    except ValueError as exc:
        raise ParseError("short packet-out") from exc
    op = po["op"]
    if op == PacketOutOp.FORWARD:
        port = po["egress_port"]
        if port >= DROP_PORT or port == CPU_PORT:
            _drop(res, "bad_egress_port")
        else:
            res.outputs.append((port, payload))
    elif op == PacketOutOp.ROUTE:
        if len(payload) < ETH_LEN:
            raise ParseError("short frame")
        if int.from_bytes(payload[12:14], "big") != ETHERTYPE_IPV4:
            _drop(res, "route_not_ipv4")
            return
        if len(payload) < ETH_LEN + IPV4_LEN:
            raise ParseError("short IPv4 header")
        if payload[ETH_LEN] & 0x0F != 5:
            _drop(res, "route_ip_options")
            return
        _send(tables, bytearray(payload), res, may_hairpin=True)
    elif op == PacketOutOp.PROBE:
        slot = po["slot"]
        dp = DataPath(())
        dp.slots[slot] = regs.get(slot, SlotRegisters())
        freeze = bool(po["flags"] & PacketOutFlag.FREEZE)
        dp.probe(slot, po["token"], freeze, po["epoch"])
        r = dp.slots[slot]
        regs[slot] = r
        meta = {
            "ingress_port": CPU_PORT,
            "reason": int(Reason.PROBE_REPLY),
            "flags": int(PacketInFlag.REGS),
            "slot": slot,
            "token": po["token"],
            **_regs_meta(r, r.old_ack_hi),
        }
        res.packet_ins.append(PipelinePacketIn.make(meta, payload))
    else:
        _drop(res, "bad_op")


def _packet(
    tables: TableState,
    regs: dict[int, SlotRegisters],
    frame: bytes,
    port: int,
    res: PipelineResult,
) -> None:
    # Parse graph (errors raise ParseError) and validation (docs/pipeline.md 3.3).
    if len(frame) < ETH_LEN:
        raise ParseError("short Ethernet")
    if int.from_bytes(frame[12:14], "big") != ETHERTYPE_IPV4:
        return _drop(res, "not_ipv4")
    if len(frame) < ETH_LEN + IPV4_LEN:
        raise ParseError("short IPv4")
    vihl = frame[ETH_LEN]
    version, ihl = vihl >> 4, vihl & 0x0F
    total_len = int.from_bytes(frame[ETH_LEN + 2 : ETH_LEN + 4], "big")
    frag = int.from_bytes(frame[ETH_LEN + 6 : ETH_LEN + 8], "big")
    proto = frame[ETH_LEN + 9]
    l4 = ETH_LEN + IPV4_LEN
    parse_l4 = version == 4 and ihl == 5 and frag & 0x3FFF == 0
    is_tcp = parse_l4 and proto == TCP
    is_udp = parse_l4 and proto == UDP
    doff = 0
    layout = OptionLayout()
    if is_tcp:
        if len(frame) < l4 + TCP_LEN:
            raise ParseError("short TCP")
        doff = frame[l4 + 12] >> 4
        if doff > 7:
            layout = parse_options(frame, l4 + TCP_LEN, doff * 4 - TCP_LEN)
        elif doff >= 5:
            layout = OptionLayout(rem=doff * 4 - TCP_LEN)
    if is_udp and len(frame) < l4 + UDP_LEN:
        raise ParseError("short UDP")

    if version != 4 or ihl != 5 or total_len < IPV4_LEN or total_len + ETH_LEN > len(frame):
        return _drop(res, "malformed_ipv4")
    if is_tcp and (doff < 5 or total_len < IPV4_LEN + doff * 4):
        return _drop(res, "malformed_tcp")
    if is_udp and total_len < IPV4_LEN + UDP_LEN:
        return _drop(res, "malformed_udp")
    if not ipv4_checksum_ok(frame) or (is_tcp and not tcp_checksum_ok(frame, total_len)):
        return _drop(res, "checksum")

    role, agent_id = tables.port_role(port)
    base: dict[str, int] = {"ingress_port": port, "agent_id": agent_id}
    dst = int.from_bytes(frame[ETH_LEN + 16 : ETH_LEN + 20], "big")
    if is_udp:
        udp_dport = int.from_bytes(frame[l4 + 2 : l4 + 4], "big")
        if udp_dport == CONTROL_PORT and tables.is_local(dst):
            res.packet_ins.append(
                PipelinePacketIn.make({**base, "reason": int(Reason.CONTROL)}, frame)
            )
            return None
    if parse_l4 and proto == ICMP:
        return _icmp_error(tables, frame, total_len, role, res)
    if not is_tcp:
        return _forward_plain(tables, frame, res)

    src = int.from_bytes(frame[ETH_LEN + 12 : ETH_LEN + 16], "big")
    sport, dport, seq, ack = struct.unpack_from("!HHII", frame, l4)
    pkt = TcpFrame(
        frame=frame,
        tuple=FiveTuple(_ip_str(src), sport, _ip_str(dst), dport, TCP),
        seq=seq,
        ack=ack,
        flags=frame[l4 + 13],
        window=int.from_bytes(frame[l4 + 14 : l4 + 16], "big"),
        doff=doff,
        total_len=total_len,
        layout=layout,
        opt_off=l4 + TCP_LEN,
    )
    return _tcp(tables, regs, pkt, role, base, res)


ICMP = 1
ICMP_ERRORS = (3, 11)  # destination unreachable (incl. fragmentation needed), time exceeded
ICMP_LEN = 8


def _icmp_error(
    tables: TableState, frame: bytes, total_len: int, role: PortRole, res: PipelineResult
) -> None:
    """An ICMP message (docs/pipeline.md section 4.2).

    A destination-unreachable or time-exceeded error quoting an IPv4 (IHL 5, offset 0) TCP
    header with at least its first 8 bytes is checked (ICMP checksum over the message up to
    the IPv4 total length; wrong: dropped, from any port) and, from a network port, looked up
    in ``in_session`` with the quoted tuple reversed: the quote is a packet the local host
    sent on a subsession, the reverse of the subsession packets the IN entry maps. On a hit
    the quote becomes the packet the host sent on its session (addresses and ports from the
    entry's rewrite tuple, reversed; ``seq += ack_delta``, the delta that maps the
    subsession's acks of the host's data into the host's sequence space), the inner IPv4
    checksum is recomputed, the outer destination becomes the host's session address, the
    ICMP checksum is recomputed, and the packet is routed by the destination it arrived
    with. Anything else is routed unchanged.
    """
    icmp = ETH_LEN + IPV4_LEN
    inner = icmp + ICMP_LEN
    quote_ok = (
        total_len >= IPV4_LEN + ICMP_LEN + IPV4_LEN + 8
        and frame[icmp] in ICMP_ERRORS
        and frame[inner] == 0x45
        and int.from_bytes(frame[inner + 6 : inner + 8], "big") & 0x1FFF == 0
        and frame[inner + 9] == TCP
    )
    if not quote_ok:
        return _forward_plain(tables, frame, res)
    if ones_complement_sum(frame[icmp : ETH_LEN + total_len]) != 0xFFFF:
        return _drop(res, "checksum")
    if role is not PortRole.NETWORK:
        return _forward_plain(tables, frame, res)
    l4 = inner + IPV4_LEN
    src = _ip_str(int.from_bytes(frame[inner + 12 : inner + 16], "big"))
    dst = _ip_str(int.from_bytes(frame[inner + 16 : inner + 20], "big"))
    sport, dport, seq = struct.unpack_from("!HHI", frame, l4)
    entry = tables.session(Direction.IN, 0, FiveTuple(dst, dport, src, sport, TCP))
    if entry is None:
        return _forward_plain(tables, frame, res)
    rw = entry.rewrite
    f = bytearray(frame)
    f[inner + 12 : inner + 16] = ipaddress.IPv4Address(rw.dst_ip).packed
    f[inner + 16 : inner + 20] = ipaddress.IPv4Address(rw.src_ip).packed
    f[inner + 10 : inner + 12] = b"\x00\x00"
    f[inner + 10 : inner + 12] = internet_checksum(bytes(f[inner : inner + 20])).to_bytes(2, "big")
    struct.pack_into(
        "!HHI", f, l4, rw.dst_port, rw.src_port, (seq + entry.deltas.ack) & 0xFFFF_FFFF
    )
    arrival_dst = int.from_bytes(frame[ETH_LEN + 16 : ETH_LEN + 20], "big")
    f[ETH_LEN + 16 : ETH_LEN + 20] = ipaddress.IPv4Address(rw.dst_ip).packed
    f[icmp + 2 : icmp + 4] = b"\x00\x00"
    csum = internet_checksum(bytes(f[icmp : ETH_LEN + total_len]))
    f[icmp + 2 : icmp + 4] = csum.to_bytes(2, "big")
    _send(tables, f, res, arrival_dst)
    return None


def _forward_plain(tables: TableState, frame: bytes, res: PipelineResult) -> None:
    _send(tables, bytearray(frame), res)


def _tcp(
    tables: TableState,
    regs: dict[int, SlotRegisters],
    pkt: TcpFrame,
    role: PortRole,
    base: dict[str, int],
    res: PipelineResult,
) -> None:
    """A TCP frame through the session tables, the registers and the one-pass limits."""
    direction = Direction.OUT if role is PortRole.HOST else Direction.IN
    entry = tables.session(direction, base["agent_id"], pkt.tuple)
    meta: dict[str, int] = {**base, "direction": int(Direction8.of(direction))}
    if entry is not None:
        meta["flags"] = int(PacketInFlag.ENTRY_HIT)
        meta["slot"] = entry.slot

    # The abstract data path decides punts, registers, steering, mirrors and latches.
    dp = DataPath(())
    pre: SlotRegisters | None = None
    if entry is not None:
        dp.install(entry)
        pre = regs.get(entry.slot, SlotRegisters())
        dp.slots[entry.slot] = replace(pre)
    seg = pkt.segment()
    dres = dp.from_host(seg, 0.0) if direction is Direction.OUT else dp.from_network(seg, 0.0)

    punt = next((p for p in dres.punts if p.reason in (PuntReason.SYN, PuntReason.SYNACK)), None)
    if punt is not None:
        meta["reason"] = int(Reason[punt.reason.name])
        res.packet_ins.append(PipelinePacketIn.make(meta, pkt.frame))
        return None
    if entry is None:
        return _forward_plain(tables, pkt.frame, res)

    assert pre is not None
    post = dp.slots[entry.slot]
    regs[entry.slot] = post
    # The epoch as the pipeline saw it before this packet's updates (for old_ack_hi).
    pre_epoch = replace(pre)
    pre_epoch.enter_epoch(entry.epoch)
    flags = PacketInFlag(meta["flags"]) | PacketInFlag.REGS
    if dres.reports:
        flags |= PacketInFlag.LATCH_PEER if direction is Direction.OUT else PacketInFlag.LATCH_OWN
    meta["flags"] = int(flags)
    meta.update(_regs_meta(post, pre_epoch.old_ack_hi))

    if direction is Direction.IN and not dres.to_host:
        # a stale pure ack on an old path (datapath.DataPath._in): dropped, after any latch
        if dres.reports:
            res.packet_ins.append(
                PipelinePacketIn.make({**meta, "reason": int(Reason.LATCH)}, pkt.frame)
            )
        return _drop(res, "stale_ack")

    out, deltas_used = _one_pass(seg, entry, dres, direction)
    if out is None:
        meta["reason"] = int(Reason.SPLIT)
        res.packet_ins.append(PipelinePacketIn.make(meta, pkt.frame))
        return None
    lo_valid = post.new_rcvd_lo is not None
    if pkt.layout.rem and (
        deltas_used.ack or deltas_used.tsval or deltas_used.tsecr or (entry.two_path and lo_valid)
    ):
        meta["reason"] = int(Reason.UNSUPPORTED_OPTIONS)
        res.packet_ins.append(PipelinePacketIn.make(meta, pkt.frame))
        return None

    if direction is Direction.OUT and _held_prefix(seg, entry, out, post):
        meta["reason"] = int(Reason.HOLD)
        res.packet_ins.append(PipelinePacketIn.make(meta, pkt.frame))
        return None
    _emit_mapped(tables, pkt, out, deltas_used.win_shift, meta, dres, direction, res)
    return None


def _held_prefix(seg: Segment, entry: MappingEntry, out: Segment, regs: SlotRegisters) -> bool:
    """Whether ``seg`` (OUT), steered in one pass to ``out``, is data of a hold's first
    :data:`HOLD_PUNT_BYTES` (``docs/pipeline.md`` 5.2, "The held prefix")."""
    return (
        entry.two_path
        and is_held(entry)
        and out.tuple == entry.new_rewrite
        and len(seg.payload) > 0
        and not (seg.flags & (TcpFlags.SYN | TcpFlags.FIN | TcpFlags.RST))
        and regs.cut is not None
        and (seg.seq - regs.cut) % (1 << 32) < HOLD_PUNT_BYTES
    )


def _emit_mapped(
    tables: TableState,
    pkt: TcpFrame,
    out: Segment,
    win_shift: int,
    meta: dict[str, int],
    dres: DataPathResult,
    direction: Direction,
    res: PipelineResult,
) -> None:
    """A mapped packet forwarded in one pass: its mirror or latch packet-in, then the
    rewritten frame routed (or dropped)."""
    mirror = next((p.reason for p in dres.punts if p.reason in MIRRORS), None)
    if mirror is not None:
        res.packet_ins.append(
            PipelinePacketIn.make({**meta, "reason": int(MIRRORS[mirror])}, pkt.frame)
        )
    elif dres.reports:
        res.packet_ins.append(
            PipelinePacketIn.make({**meta, "reason": int(Reason.LATCH)}, pkt.frame)
        )
    f = _write_segment(pkt, out, win_shift)
    # IN: deliver to the local host the packet was addressed to (its arrival destination),
    # not to the rewritten destination (the session's far end); OUT: the new destination.
    arrival_dst = int.from_bytes(pkt.frame[ETH_LEN + 16 : ETH_LEN + 20], "big")
    if direction is Direction.IN:
        _send(tables, f, res, arrival_dst)
    else:
        _send(tables, f, res, may_hairpin=True)


def _one_pass(
    seg: Segment, entry: MappingEntry, dres: DataPathResult, direction: Direction
) -> tuple[Segment | None, _DeltasView]:
    """The single output a switch can produce in one pass, or ``None`` (SPLIT).

    The data path's outputs for a mapped packet are one rewritten segment, or, in two-path
    mode, possibly several pieces or a segment whose ack or SACK blocks were trimmed. A
    switch forwards only an unmodified rewrite of the input on one path; anything else is
    punted and completed by the controller.
    """
    outs = dres.to_network if direction is Direction.OUT else dres.to_host
    d = entry.deltas
    old = _DeltasView(d.ack, d.tsval, d.tsecr, d.win_shift)
    if not entry.two_path:
        return (outs[0] if len(outs) == 1 else None), old
    assert entry.new_rewrite is not None and entry.new_deltas is not None
    nd = entry.new_deltas
    if len(outs) == 1:
        if outs[0] == rewrite(seg, entry.rewrite, entry.deltas):
            return outs[0], old
        if outs[0] == rewrite(seg, entry.new_rewrite, nd):
            return outs[0], _DeltasView(nd.ack, nd.tsval, nd.tsecr, nd.win_shift)
    return None, old


@dataclass(frozen=True, slots=True)
class _DeltasView:
    """The deltas that touch TCP options (the UNSUPPORTED_OPTIONS rule looks at these), and
    the chosen path's window shift."""

    ack: int
    tsval: int
    tsecr: int
    win_shift: int = 0
