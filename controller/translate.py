"""Translation between the agent's world and the device's P4Runtime world.

- ``MappingEntry`` <-> P4Runtime ``TableEntry``: via the pipeline contract
  (:mod:`dysco_proto.pipeline`: ``entry_to_table``/``entry_from_table``, table, action and
  parameter names), with ids resolved from the device's P4Info;
- agent ``SendPacket``/``Probe`` -> packet-out (payload + named ``packet_out`` metadata);
- packet-in -> ``PacketIn`` / ``SlotSnapshot`` / ``ControlIn`` events;
- the device-wide entries a daemon owns: port roles, local addresses, IPv4 routes.

Frames are parsed and built by :mod:`controller.frames` (TCP options by
:mod:`dysco_proto.wire`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from controller.config import Config
from controller.frames import build_frame, build_probe_frame, parse_frame
from controller.p4rt.client import PacketInMsg
from controller.p4rt.gen.p4.v1 import p4runtime_pb2 as p4r
from controller.p4rt.p4info import P4InfoError, P4InfoIndex, decode_uint, encode_uint
from dysco_proto import pipeline as pl
from dysco_proto.actions import Probe, Toward
from dysco_proto.entries import Direction, EntryKey, MappingEntry
from dysco_proto.events import ControlIn, Event, PacketIn, SlotSnapshot
from dysco_proto.packet import FiveTuple, Segment
from dysco_proto.wire import CONTROL_PORT

__all__ = ["StaticKey", "Translator"]

StaticKey = tuple[str, Any]
"""Key of a device-wide entry for the writer's conflict detection."""

_UPDATE = {"insert": p4r.Update.INSERT, "modify": p4r.Update.MODIFY}


class Translator:
    """Translations for one device and one agent (ids resolved once from the P4Info).

    ``lookup_mirror(direction, slot, tuple)`` resolves the entry key of a mirrored packet
    (the pipeline reports the slot, not the key, and the copy is already rewritten).
    """

    def __init__(
        self,
        p4info: P4InfoIndex,
        config: Config,
        lookup_mirror: Callable[[Direction, int, FiveTuple], EntryKey | None] | None = None,
    ) -> None:
        self.p4info = p4info
        self.config = config
        self.agent_id = config.agent_id
        self.lookup_mirror = lookup_mirror
        self.reports_idle = False
        self.tables: dict[pl.Tbl, tuple[int, dict[str, tuple[int, int]]]] = {}
        for tbl in pl.Tbl:
            info = p4info.table(tbl.value)
            fields = {}
            for name, width, _kind in pl.MATCH_FIELDS[tbl]:
                if name not in info.match:
                    raise P4InfoError(f"table {tbl.value}: no match field {name!r}")
                fields[name] = (info.match[name][0], width)
            self.tables[tbl] = (info.id, fields)
        self.actions: dict[pl.Act, tuple[int, list[tuple[str, int, int]]]] = {}
        for act in pl.Act:
            ainfo = p4info.action(act.value)
            params = []
            for name, width in pl.ACTION_PARAMS[act]:
                if name not in ainfo.params:
                    raise P4InfoError(f"action {act.value}: no parameter {name!r}")
                params.append((name, ainfo.params[name][0], width))
            self.actions[act] = (ainfo.id, params)
        self._tbl_by_id = {tid: tbl for tbl, (tid, _f) in self.tables.items()}
        self._act_by_id = {aid: act for act, (aid, _p) in self.actions.items()}
        for name, _w in pl.PACKET_OUT_FIELDS:
            if name not in p4info.packet_out:
                raise P4InfoError(f"packet_out metadata {name!r} missing from the P4Info")
        self.hosts = config.host_by_address()
        self.host_ports = [h.port for h in config.hosts]

    # -- entries ------------------------------------------------------------------------------

    def p4_entry(self, te: pl.TableEntry) -> p4r.TableEntry:
        """The P4Runtime message of a contract table entry."""
        tid, fields = self.tables[te.table]
        match = []
        for name, value in te.match.items():
            fid, width = fields[name]
            if isinstance(value, tuple):
                v, plen = value
                if plen == 0:
                    continue  # a /0 LPM is the wildcard: omitted (P4Runtime spec)
                match.append(
                    p4r.FieldMatch(
                        field_id=fid,
                        lpm=p4r.FieldMatch.LPM(value=encode_uint(v, width), prefix_len=plen),
                    )
                )
            else:
                match.append(
                    p4r.FieldMatch(
                        field_id=fid, exact=p4r.FieldMatch.Exact(value=encode_uint(value, width))
                    )
                )
        aid, params = self.actions[te.action]
        action = p4r.Action(
            action_id=aid,
            params=[
                p4r.Action.Param(param_id=pid, value=encode_uint(te.params.get(name, 0), width))
                for name, pid, width in params
            ],
        )
        return p4r.TableEntry(table_id=tid, match=match, action=p4r.TableAction(action=action))

    def contract_entry(self, te: p4r.TableEntry) -> pl.TableEntry | None:
        """The contract table entry of a read-back P4Runtime entry (``None``: not ours)."""
        tbl = self._tbl_by_id.get(te.table_id)
        if tbl is None:
            return None
        _tid, fields = self.tables[tbl]
        by_id = {fid: name for name, (fid, _w) in fields.items()}
        match: dict[str, int | tuple[int, int]] = {}
        for fm in te.match:
            name = by_id.get(fm.field_id)
            if name is None:
                return None
            if fm.HasField("lpm"):
                match[name] = (decode_uint(fm.lpm.value), fm.lpm.prefix_len)
            else:
                match[name] = decode_uint(fm.exact.value)
        for name, _width, kind in pl.MATCH_FIELDS[tbl]:
            if name not in match:
                if kind != "lpm":
                    return None
                match[name] = (0, 0)
        act = self._act_by_id.get(te.action.action.action_id)
        if act is None:
            return None
        _aid, params = self.actions[act]
        pid_name = {pid: name for name, pid, _w in params}
        pv = {pid_name.get(p.param_id, "?"): decode_uint(p.value) for p in te.action.action.params}
        for name, _pid, _w in params:
            pv.setdefault(name, 0)
        pv.pop("?", None)
        return pl.TableEntry(tbl, match, act, pv)

    def entry_update(self, kind: int, e: MappingEntry) -> p4r.Update:
        """An INSERT or MODIFY (``p4r.Update.*``) of ``e``."""
        te = self.p4_entry(pl.entry_to_table(e, self.agent_id))
        return p4r.Update(type=kind, entity=p4r.Entity(table_entry=te))  # type: ignore[arg-type]

    def delete_update(self, key: EntryKey) -> p4r.Update:
        """A DELETE of the session entry with ``key``."""
        m = key.match
        match: dict[str, int | tuple[int, int]] = {
            "src_addr": int(ipaddress.IPv4Address(m.src_ip)),
            "dst_addr": int(ipaddress.IPv4Address(m.dst_ip)),
            "proto": m.proto,
            "src_port": m.src_port,
            "dst_port": m.dst_port,
        }
        if key.direction is Direction.OUT:
            tbl, act = pl.Tbl.OUT_SESSION, pl.Act.OUT_REWRITE
            match["agent_id"] = self.agent_id
        else:
            tbl, act = pl.Tbl.IN_SESSION, pl.Act.IN_REWRITE
        te = self.p4_entry(pl.TableEntry(tbl, match, act, {}))
        te.ClearField("action")
        return p4r.Update(type=p4r.Update.DELETE, entity=p4r.Entity(table_entry=te))

    def entry_from_p4(self, te: p4r.TableEntry) -> tuple[MappingEntry, float | None] | None:
        """The mapping entry of a read-back session-table entry of this agent and its idle
        time in seconds when the device reports one; ``None`` for anything else."""
        ce = self.contract_entry(te)
        if ce is None or ce.table not in (pl.Tbl.OUT_SESSION, pl.Tbl.IN_SESSION):
            return None
        try:
            agent_id, entry = pl.entry_from_table(ce)
        except (ValueError, KeyError):
            return None
        if ce.table is pl.Tbl.OUT_SESSION and agent_id != self.agent_id:
            return None
        if ce.table is pl.Tbl.IN_SESSION and entry.key.match.dst_ip not in self.config.addresses:
            return None
        idle = None
        if te.HasField("time_since_last_hit"):
            self.reports_idle = True
            idle = te.time_since_last_hit.elapsed_ns / 1e9
        return entry, idle

    def same(self, a: MappingEntry, b: MappingEntry) -> bool:
        """Whether two entries program the device identically (read-back comparison)."""
        return pl.entry_to_table(a, self.agent_id) == pl.entry_to_table(b, self.agent_id)

    def static_entries(self) -> list[pl.TableEntry]:
        """The device-wide entries of this daemon: port roles, local addresses, routes."""
        c = self.config
        out: list[pl.TableEntry] = []
        for h in c.hosts:
            out.append(
                pl.TableEntry.build(
                    pl.Tbl.PORT_ROLE.value,
                    {"ingress_port": h.port},
                    pl.Act.HOST_PORT.value,
                    {"agent_id": self.agent_id},
                )
            )
        out.append(
            pl.TableEntry.build(
                pl.Tbl.PORT_ROLE.value,
                {"ingress_port": c.network.port},
                pl.Act.NETWORK_PORT.value,
                {},
            )
        )
        for addr in c.addresses:
            out.append(
                pl.TableEntry.build(
                    pl.Tbl.LOCAL_ADDR.value, {"dst_addr": addr}, pl.Act.SET_LOCAL.value, {}
                )
            )
        for h in c.hosts:
            out.append(
                pl.TableEntry.build(
                    pl.Tbl.IPV4_FWD.value,
                    {"dst_addr": f"{h.address}/32"},
                    pl.Act.ROUTE.value,
                    {"port": h.port, "src_mac": c.device.mac, "dst_mac": h.mac},
                )
            )
        for prefix, port, mac in c.routes:
            out.append(
                pl.TableEntry.build(
                    pl.Tbl.IPV4_FWD.value,
                    {"dst_addr": prefix},
                    pl.Act.ROUTE.value,
                    {"port": port, "src_mac": c.device.mac, "dst_mac": mac},
                )
            )
        return out

    def static_updates(self) -> Iterable[tuple[StaticKey, p4r.Update]]:
        """INSERTs of :meth:`static_entries` (the writer turns ALREADY_EXISTS into MODIFY)."""
        for te in self.static_entries():
            yield (
                ("static", te.key()),
                p4r.Update(
                    type=p4r.Update.INSERT, entity=p4r.Entity(table_entry=self.p4_entry(te))
                ),
            )

    # -- packet-out ---------------------------------------------------------------------------

    def _pkt(self, payload: bytes, md: Mapping[str, int]) -> p4r.StreamMessageRequest:
        ids = self.p4info.packet_out
        meta = [
            p4r.PacketMetadata(metadata_id=ids[n][0], value=encode_uint(v, ids[n][1]))
            for n, v in md.items()
        ]
        return p4r.StreamMessageRequest(packet=p4r.PacketOut(payload=payload, metadata=meta))

    def packet_out(self, seg: Segment, toward: Toward) -> p4r.StreamMessageRequest:
        """The packet-out of an agent ``SendPacket``.

        Towards the network: ``ROUTE`` (the pipeline's ``ipv4_fwd`` picks port and MACs).
        Towards a host: ``FORWARD`` to the port of the host whose address the segment is sent
        to, or, when that is not a local address (a middlebox receives the session tuple), to
        the first host port.
        """
        c = self.config
        if toward is Toward.NETWORK:
            frame = build_frame(seg, c.device.mac, c.network.mac)
            return self._pkt(frame, {"op": int(pl.PacketOutOp.ROUTE)})
        host = self.hosts.get(seg.tuple.dst_ip)
        port = host.port if host is not None else self.host_ports[0]
        mac = host.mac if host is not None else c.hosts[0].mac
        frame = build_frame(seg, c.device.mac, mac)
        return self._pkt(frame, {"op": int(pl.PacketOutOp.FORWARD), "egress_port": port})

    def probe_out(self, probe: Probe) -> p4r.StreamMessageRequest:
        """The packet-out that asks the pipeline for a slot's registers."""
        return self._pkt(
            build_probe_frame(),
            {
                "op": int(pl.PacketOutOp.PROBE),
                "flags": int(pl.PacketOutFlag.FREEZE) if probe.freeze else 0,
                "slot": probe.slot,
                "token": probe.token & 0xFFFF_FFFF,
                "epoch": probe.epoch & 0xFFFF_FFFF,
            },
        )

    # -- packet-in ----------------------------------------------------------------------------

    def packet_in(self, msg: PacketInMsg) -> Event | None:
        """The agent event of one packet-in (``None``: nothing for the agent)."""
        md = msg.metadata
        try:
            reason = pl.Reason(md.get("reason", 0))
        except ValueError:
            return None
        if reason is pl.Reason.PROBE_REPLY or (
            reason is pl.Reason.LATCH and md.get("flags", 0) & pl.PacketInFlag.REGS
        ):
            return self.snapshot(md, reason)
        if reason in (pl.Reason.UNSUPPORTED_OPTIONS, pl.Reason.SPLIT, pl.Reason.LATCH):
            return None
        parsed = parse_frame(msg.payload)
        if parsed is None:
            return None
        if reason is pl.Reason.CONTROL:
            if parsed.udp is None:
                return None
            src, dst, dport, data = parsed.udp
            return ControlIn(src, dst, data) if dport == CONTROL_PORT else None
        seg = parsed.segment
        punt = reason.punt_reason
        if seg is None or punt is None:
            return None
        d8 = pl.Direction8(md.get("direction", 0))
        direction = d8.to_direction()
        if direction is None:
            direction = Direction.OUT if md.get("ingress_port") in self.host_ports else Direction.IN
        entry: EntryKey | None = None
        if md.get("flags", 0) & pl.PacketInFlag.ENTRY_HIT:
            if reason in (pl.Reason.SYN, pl.Reason.SYNACK):
                entry = EntryKey(direction, seg.tuple)  # not forwarded: as it arrived
            elif self.lookup_mirror is not None:
                entry = self.lookup_mirror(direction, md.get("slot", 0), seg.tuple)
        return PacketIn(punt, direction, seg, entry)

    @staticmethod
    def snapshot(md: Mapping[str, int], reason: pl.Reason) -> SlotSnapshot:
        """The register snapshot of a PROBE_REPLY or LATCH packet-in."""
        valid = md.get("reg_valid", 0)

        def reg(name: str, bit: pl.RegValid) -> int | None:
            return md.get(name, 0) if valid & bit else None

        return SlotSnapshot(
            slot=md.get("slot", 0),
            sent_hi=reg("sent_hi", pl.RegValid.SENT_HI),
            ack_hi=reg("ack_hi", pl.RegValid.ACK_HI),
            rcvd_ack_hi=reg("rcvd_ack_hi", pl.RegValid.RCVD_ACK_HI),
            new_rcvd_lo=reg("new_rcvd_lo", pl.RegValid.NEW_RCVD_LO),
            cut=reg("cut", pl.RegValid.CUT),
            token=md.get("token", 0) if reason is pl.Reason.PROBE_REPLY else 0,
        )
