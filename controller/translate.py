"""Translation between the agent's world and the device's P4Runtime world.

- ``MappingEntry`` <-> P4Runtime ``TableEntry``: via the pipeline contract
  (:mod:`dysco_pipeline.pipeline`: ``entry_to_table``/``entry_from_table``, table, action and
  parameter names), with ids resolved from the device's P4Info. Session-entry updates take a
  fast path (:mod:`controller.entry_encoder`: the ``Update`` serialised directly from the
  entry, in C when ``controller._fastenc`` is built; tests check both against the contract
  path);
- agent ``SendPacket``/``Probe`` -> packet-out (payload + named ``packet_out`` metadata);
- packet-in -> agent events (``docs/pipeline.md`` sections 4-6, :meth:`Translator.packet_in`):
  punts and mirrors carry the frame *as it arrived*, so the entry key is always
  ``(direction, frame tuple)``; IN mirrors are shown to the agent as the host sees them
  (``refmodel.mirror_host_view``); ``SPLIT`` / ``UNSUPPORTED_OPTIONS`` punts are completed with
  ``refmodel.complete_punt`` (the pieces go out as packet-outs, a FIN/RST/SYN-ACK among them
  becomes a mirror event); a latch flag on any packet-in and ``LATCH`` / ``PROBE_REPLY``
  packet-ins become ``SlotSnapshot`` events;
- the device-wide entries a daemon owns: port roles, local addresses, IPv4 routes.

Frames are parsed and built by :mod:`dysco_pipeline.frames` (TCP options by
:mod:`dysco_proto.wire`).
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from controller.config import Config
from controller.entry_encoder import ENCODERS, IDLE_TTL_NS, new_encoder
from controller.p4rt.client import DevicePacketIn
from controller.p4rt.gen.p4.v1 import p4runtime_pb2 as p4r
from controller.p4rt.p4info import (
    P4InfoError,
    P4InfoIndex,
    decode_uint,
    encode_uint,
    slot_capacity,
)
from dysco_pipeline import pipeline as pl
from dysco_pipeline.frames import build_frame, build_probe_frame, parse_frame
from dysco_pipeline.refmodel import complete_punt, mirror_host_view
from dysco_proto.actions import Probe, Toward
from dysco_proto.agent import HOLD
from dysco_proto.entries import Direction, EntryKey, MappingEntry
from dysco_proto.events import ControlIn, Event, PacketIn, PuntReason, SlotSnapshot
from dysco_proto.packet import Segment
from dysco_proto.wire import CONTROL_PORT

__all__ = ["ENCODERS", "IDLE_TTL_NS", "StaticKey", "Translated", "Translator", "new_encoder"]


StaticKey = tuple[str, Any]
"""Key of a device-wide entry for the writer's conflict detection."""

_UPDATE = {"insert": p4r.Update.INSERT, "modify": p4r.Update.MODIFY}

_MIRRORS = {
    pl.Reason.SYNACK_MIRROR: PuntReason.SYNACK_MIRROR,
    pl.Reason.FIN_MIRROR: PuntReason.FIN_MIRROR,
    pl.Reason.RST_MIRROR: PuntReason.RST_MIRROR,
}
_LATCHES = int(pl.PacketInFlag.LATCH_OWN | pl.PacketInFlag.LATCH_PEER)


@dataclass(slots=True)
class Translated:
    """What one packet-in means: agent events (in order) and packet-outs to send first.

    ``sends`` are the pieces of a completed ``SPLIT`` / ``UNSUPPORTED_OPTIONS`` punt (already
    rewritten); ``entry`` the key of the session entry the packet hit (for idle tracking);
    ``kind`` names the packet-in for counters (``syn``, ``split``, ``latch``, ...); ``held``
    a ``HOLD`` punt to keep (:mod:`controller.held_prefix`);
    ``dropped`` says why nothing could be done with it (``""``: translated); ``agent_id``
    the daemon's agent it is for: OUT by the host port it entered (or the packet-in's
    ``agent_id``), IN and ``CONTROL`` by the local address it is sent to, ``None`` for
    register reports (the slot's owner decides).
    """

    events: list[Event] = field(default_factory=list)
    sends: list[p4r.StreamMessageRequest] = field(default_factory=list)
    entry: EntryKey | None = None
    kind: str = ""
    dropped: str = ""
    agent_id: int | None = None  # the agent the packet-in is for (None: find it by slot)
    held: tuple[Segment, dict[str, int]] | None = None  # a HOLD punt: segment, metadata


# --- fast serialisation of session-entry updates -------------------------------------------


class Translator:
    """Translations for one device and its agents (ids resolved once from the P4Info).

    ``lookup_entry(key)`` returns the session entry with that key as the daemon believes the
    device holds it (mirrors need its rewrite for the host view, punt completion all of it);
    with several agents per device (``Config.agents``) the daemon sets
    ``lookup_agent_entry(agent_id, key)`` instead (an OUT key is unique per agent only).
    Entry methods take the owning agent's id (default: the first agent's, ``agent_id``).
    """

    def __init__(
        self,
        p4info: P4InfoIndex,
        config: Config,
        lookup_entry: Callable[[EntryKey], MappingEntry | None] | None = None,
    ) -> None:
        self.p4info = p4info
        self.config = config
        self.agent_id = config.agent_id
        self.lookup_entry = lookup_entry
        self.lookup_agent_entry: Callable[[int, EntryKey], MappingEntry | None] | None = None
        specs = config.agent_specs()
        self.agent_ids = frozenset(a.agent_id for a in specs)
        # local address -> its agent; host port -> its agent (port_role)
        self.agent_of_addr = {addr: a.agent_id for a in specs for addr in a.addresses}
        self.agent_of_port = {h.port: h.agent_id for h in config.hosts}
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
        self.fast, self.encoder = new_encoder(self.tables, self.actions, self.agent_id)
        # register slots the device holds: an entry with a slot beyond them is refused
        self.slots = slot_capacity(p4info, config.device.slots)

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

    def entry_update(self, kind: int, e: MappingEntry, agent_id: int | None = None) -> p4r.Update:
        """An INSERT or MODIFY (``p4r.Update.*``) of ``e`` (fast path: ``entry_encoder``).
        :class:`ValueError` for what the device cannot hold, a slot beyond its registers
        included (:attr:`slots`)."""
        self._check_slot(e)
        raw = self.fast.update(kind, e, agent_id)
        if raw is None:
            return self.entry_update_contract(kind, e, agent_id)
        return p4r.Update.FromString(raw)

    def entry_update_raw(self, kind: int, e: MappingEntry, agent_id: int | None = None) -> bytes:
        """:meth:`entry_update` serialized, without building the message: what the writer
        and the client pass on as is (``P4RuntimeClient.write`` takes ``bytes`` updates)."""
        self._check_slot(e)
        raw = self.fast.update(kind, e, agent_id)
        if raw is None:
            return self.entry_update_contract(kind, e, agent_id).SerializeToString()
        return raw

    def _check_slot(self, e: MappingEntry) -> None:
        if e.slot >= self.slots:
            raise ValueError(f"slot {e.slot} beyond the device's {self.slots} register slots")

    def entry_update_contract(
        self, kind: int, e: MappingEntry, agent_id: int | None = None
    ) -> p4r.Update:
        """:meth:`entry_update` through ``pipeline.entry_to_table`` (the reference path)."""
        te = self.p4_entry(pl.entry_to_table(e, self.agent_id if agent_id is None else agent_id))
        te.idle_timeout_ns = IDLE_TTL_NS
        return p4r.Update(type=kind, entity=p4r.Entity(table_entry=te))  # type: ignore[arg-type]

    def delete_update(self, key: EntryKey, agent_id: int | None = None) -> p4r.Update:
        """A DELETE of the session entry with ``key`` (an OUT key: of agent ``agent_id``)."""
        raw = self.fast.delete(key, agent_id)
        if raw is None:
            return self.delete_update_contract(key, agent_id)
        return p4r.Update.FromString(raw)

    def delete_update_raw(self, key: EntryKey, agent_id: int | None = None) -> bytes:
        """:meth:`delete_update` serialized."""
        raw = self.fast.delete(key, agent_id)
        if raw is None:
            return self.delete_update_contract(key, agent_id).SerializeToString()
        return raw

    def delete_update_contract(self, key: EntryKey, agent_id: int | None = None) -> p4r.Update:
        """:meth:`delete_update` through the contract's table entry (the reference path)."""
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
            match = {"agent_id": self.agent_id if agent_id is None else agent_id, **match}
        else:
            tbl, act = pl.Tbl.IN_SESSION, pl.Act.IN_REWRITE
        te = self.p4_entry(pl.TableEntry(tbl, match, act, {}))
        te.ClearField("action")
        return p4r.Update(type=p4r.Update.DELETE, entity=p4r.Entity(table_entry=te))

    def entry_from_p4(self, te: p4r.TableEntry) -> tuple[MappingEntry, float | None] | None:
        """The mapping entry of a read-back session-table entry of this daemon's agents and
        its idle time in seconds when the device reports one; ``None`` for anything else."""
        got = self.owned_entry_from_p4(te)
        return None if got is None else (got[1], got[2])

    def owned_entry_from_p4(
        self, te: p4r.TableEntry
    ) -> tuple[int, MappingEntry, float | None] | None:
        """:meth:`entry_from_p4` with the agent the entry belongs to: an OUT entry's by its
        key, an IN entry's by the local address its key is sent to."""
        ce = self.contract_entry(te)
        if ce is None or ce.table not in (pl.Tbl.OUT_SESSION, pl.Tbl.IN_SESSION):
            return None
        try:
            agent_id, entry = pl.entry_from_table(ce)
        except (ValueError, KeyError):
            return None
        if ce.table is pl.Tbl.OUT_SESSION:
            if agent_id not in self.agent_ids:
                return None
        else:
            owner = self.agent_of_addr.get(entry.key.match.dst_ip)
            if owner is None:
                return None
            agent_id = owner
        idle = None
        if te.HasField("time_since_last_hit"):
            self.reports_idle = True
            idle = te.time_since_last_hit.elapsed_ns / 1e9
        return agent_id, entry, idle

    def same(self, a: MappingEntry, b: MappingEntry, agent_id: int | None = None) -> bool:
        """Whether two entries program the device identically (read-back comparison)."""
        aid = self.agent_id if agent_id is None else agent_id
        return pl.entry_to_table(a, aid) == pl.entry_to_table(b, aid)

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
                    {"agent_id": h.agent_id},
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
        # Routes to host ports are route_host: an OUT-rewritten packet or a ROUTE packet-out
        # taking one hairpins through the IN pass (docs/pipeline.md 4.3: adjacent hops of a
        # chain behind this device).
        for h in c.hosts:
            out.append(
                pl.TableEntry.build(
                    pl.Tbl.IPV4_FWD.value,
                    {"dst_addr": f"{h.address}/32"},
                    pl.Act.ROUTE_HOST.value,
                    {"port": h.port, "src_mac": c.device.mac, "dst_mac": h.mac},
                )
            )
        host_ports = {h.port for h in c.hosts}
        for prefix, port, mac in c.routes:
            act = pl.Act.ROUTE_HOST if port in host_ports else pl.Act.ROUTE
            out.append(
                pl.TableEntry.build(
                    pl.Tbl.IPV4_FWD.value,
                    {"dst_addr": prefix},
                    act.value,
                    {"port": port, "src_mac": c.device.mac, "dst_mac": mac},
                )
            )
        # Data an anchor holds during a new path's handshake is rewritten to the agent's HOLD
        # tuple (0.0.0.0): drop it here, or a default route would send it to the network.
        out.append(
            pl.TableEntry.build(
                pl.Tbl.IPV4_FWD.value,
                {"dst_addr": f"{HOLD.dst_ip}/32"},
                pl.Act.DROP.value,
                {},
            )
        )
        return out

    def static_updates(self) -> Iterable[tuple[StaticKey, p4r.Update]]:
        """INSERTs of :meth:`static_entries` and of the mirror-to-CPU clone session the
        pipeline clones into (``device.clone_session``, default ``pipeline.CPU_CLONE_SESSION``,
        one replica to ``device.cpu_port``; without it a switch drops every mirror; on Tofino
        the P4Runtime server makes it a mirror session). The writer turns ALREADY_EXISTS into
        MODIFY."""
        dev = self.config.device
        clone = p4r.CloneSessionEntry(
            session_id=dev.clone_session,
            replicas=[p4r.Replica(egress_port=dev.cpu_port, instance=0)],
            packet_length_bytes=dev.clone_max_len,
        )
        yield (
            ("static", ("clone_session", dev.clone_session)),
            p4r.Update(
                type=p4r.Update.INSERT,
                entity=p4r.Entity(
                    packet_replication_engine_entry=p4r.PacketReplicationEngineEntry(
                        clone_session_entry=clone
                    )
                ),
            ),
        )
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

    def packet_out(
        self, seg: Segment, toward: Toward, host_addr: str | None = None
    ) -> p4r.StreamMessageRequest:
        """The packet-out of an agent ``SendPacket``.

        Towards the network: ``ROUTE`` (the pipeline's ``ipv4_fwd`` picks port and MACs).
        Towards a host: ``FORWARD`` to the port of ``host_addr`` (the agent names the local
        host), else of the host whose address the segment is sent to, or, when that is not a
        local address (a middlebox receives the session tuple), to
        the first host port.
        """
        c = self.config
        if toward is Toward.NETWORK:
            frame = build_frame(seg, c.device.mac, c.network.mac)
            return self._pkt(frame, {"op": int(pl.PacketOutOp.ROUTE)})
        host = self.hosts.get(host_addr or "") or self.hosts.get(seg.tuple.dst_ip)
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

    def packet_in(self, msg: DevicePacketIn) -> Translated:
        """What one packet-in means for the agent (``docs/pipeline.md`` sections 4-6).

        - ``PROBE_REPLY``: a ``SlotSnapshot`` with the probe's token;
        - ``LATCH``: a ``SlotSnapshot`` (token 0) of the registers after the packet;
        - ``CONTROL``: ``ControlIn``;
        - ``SYN`` / ``SYNACK`` punts: ``PacketIn`` with the frame and, when an entry matched,
          its key ``(direction, frame tuple)``;
        - mirrors: ``PacketIn`` keyed the same way, with the host's view of the packet (the
          frame itself for OUT, its rewrite by the IN entry for IN);
        - ``SPLIT`` / ``UNSUPPORTED_OPTIONS``: completed with ``refmodel.complete_punt`` on the
          entry and the reported registers; the pieces become packet-outs (``ROUTE`` towards the
          network, ``FORWARD`` to the host) and a FIN/RST/SYN-ACK among them a mirror event;
        - a ``LATCH_OWN`` / ``LATCH_PEER`` flag on any of these adds a ``SlotSnapshot``
          (token 0) after the packet's own event: at most one packet-in per frame.
        """
        md = msg.metadata
        out = Translated()
        try:
            reason = pl.Reason(md.get("reason", 0))
        except ValueError:
            out.dropped = "unknown_reason"
            return out
        out.kind = reason.name.lower()
        flags = md.get("flags", 0)
        if reason is pl.Reason.PROBE_REPLY:
            out.events.append(self.snapshot(md, reason))
            return out
        if reason is pl.Reason.CONTROL:
            parsed = parse_frame(msg.payload)
            if parsed is None or parsed.udp is None or parsed.udp[2] != CONTROL_PORT:
                out.dropped = "not_control"
                return out
            src, dst, _dport, data = parsed.udp
            out.agent_id = self.agent_of_addr.get(dst)
            out.events.append(ControlIn(src, dst, data))
            return out
        latch = bool(flags & _LATCHES) and bool(flags & pl.PacketInFlag.REGS)
        if reason is pl.Reason.LATCH:
            if latch or flags & pl.PacketInFlag.REGS:
                out.events.append(self.snapshot(md, reason))
            else:
                out.dropped = "latch_without_registers"
            return out
        parsed = parse_frame(msg.payload)
        seg = parsed.segment if parsed is not None else None
        if seg is None:
            # Registers were updated and a latch may have fired even if we cannot decode it.
            out.dropped = "undecodable_frame"
            if latch:
                out.events.append(self.snapshot(md, pl.Reason.LATCH))
            return out
        self._segment_packet_in(reason, md, seg, out)
        if latch:
            out.events.append(self.snapshot(md, pl.Reason.LATCH))
        return out

    def _segment_packet_in(
        self, reason: pl.Reason, md: dict[str, int], seg: Segment, out: Translated
    ) -> None:
        """The events (and packet-outs) of a punt or mirror carrying a decoded TCP segment."""
        flags = md.get("flags", 0)
        direction = pl.Direction8(md.get("direction", 0)).to_direction()
        if direction is None:
            direction = Direction.OUT if md.get("ingress_port") in self.host_ports else Direction.IN
        key = EntryKey(direction, seg.tuple) if flags & pl.PacketInFlag.ENTRY_HIT else None
        out.entry = key
        out.agent_id = self.packet_agent(direction, md, seg)
        punt = reason.punt_reason
        if reason in (pl.Reason.SYN, pl.Reason.SYNACK):
            assert punt is not None
            out.events.append(PacketIn(punt, direction, seg, key))
        elif reason in _MIRRORS:
            entry = self._entry(key, out.agent_id)
            if entry is not None:
                view = mirror_host_view(seg, direction, entry)
                out.events.append(PacketIn(_MIRRORS[reason], direction, view, key))
            elif direction is Direction.OUT:
                out.events.append(PacketIn(_MIRRORS[reason], direction, seg, key))
            else:
                out.dropped = "mirror_entry_unknown"
        elif reason is pl.Reason.HOLD:
            if key is None:
                out.dropped = "punt_entry_unknown"
            else:  # the daemon keeps it until the hold ends (controller.held_prefix)
                out.held = (seg, dict(md))
        elif reason in (pl.Reason.SPLIT, pl.Reason.UNSUPPORTED_OPTIONS):
            entry = self._entry(key, out.agent_id)
            if entry is None:
                out.dropped = "punt_entry_unknown"  # the sender's TCP retransmits
            else:
                done = complete_punt(seg, direction, entry, md)
                toward = Toward.NETWORK if direction is Direction.OUT else Toward.HOST
                host = entry.key.match.dst_ip if direction is Direction.IN else None
                out.sends = [self.packet_out(p, toward, host) for p in done.outputs]
                if done.mirror is not None:
                    out.events.append(PacketIn(done.mirror, direction, done.host_view, key))
        else:
            out.dropped = "unexpected_reason"

    def packet_agent(self, direction: Direction, md: Mapping[str, int], seg: Segment) -> int | None:
        """The agent a packet-in carrying a segment is for: OUT, the agent of the host port
        it entered by (else the packet-in's ``agent_id`` when it is one of ours); IN, the
        agent of the local address it was sent to."""
        if direction is Direction.OUT:
            aid = self.agent_of_port.get(md.get("ingress_port", -1))
            if aid is None and md.get("agent_id") in self.agent_ids:
                aid = md["agent_id"]
            return aid
        return self.agent_of_addr.get(seg.tuple.dst_ip)

    def _entry(self, key: EntryKey | None, agent_id: int | None = None) -> MappingEntry | None:
        if key is None:
            return None
        if self.lookup_agent_entry is not None and agent_id is not None:
            return self.lookup_agent_entry(agent_id, key)
        if self.lookup_entry is None:
            return None
        return self.lookup_entry(key)

    @staticmethod
    def snapshot(md: Mapping[str, int], reason: pl.Reason) -> SlotSnapshot:
        """The register snapshot of a packet-in carrying registers (token only for a
        ``PROBE_REPLY``; latch reports have token 0)."""
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
