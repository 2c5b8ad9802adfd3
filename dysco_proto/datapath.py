"""Reference semantics of the pipeline contract on abstract segments.

This is the executable specification of what every data plane (P4 program, DPDK agent) does
with the entries an :class:`~dysco_proto.agent.Agent` installs: lookup, rewrite, two-path
steering by cutoff, register updates, punts and mirrors (``docs/protocol-design.md`` section 2,
``docs/pipeline.md``). The simulator runs one per host. It is deliberately small and direct:
clarity over speed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from dysco_proto.entries import Direction, EntryKey, MappingEntry, Role
from dysco_proto.events import PacketIn, PuntReason, SlotSnapshot
from dysco_proto.packet import Segment, TcpFlags, TcpOptions
from dysco_proto.rewrite import rewrite
from dysco_proto.seqnum import seq_add, seq_diff, seq_ge, seq_gt, seq_max, seq_min


@dataclass(slots=True)
class SlotRegisters:
    """Registers the data plane keeps per slot (one slot per session side)."""

    sent_hi: int | None = None
    ack_hi: int | None = None
    rcvd_ack_hi: int | None = None
    epoch: int = 0
    new_rcvd_lo: int | None = None
    cut: int | None = None
    old_ack_hi: int | None = None
    latched_own: bool = False
    latched_peer: bool = False

    def enter_epoch(self, epoch: int) -> None:
        """Clear the two-path registers when a newer reconfiguration epoch shows up.

        Epochs only move forward: an entry still carrying an older epoch (the old path's IN
        entry during two-path mode) must not clear what the current reconfiguration set.
        """
        if epoch > self.epoch:
            self.epoch = epoch
            self.new_rcvd_lo = None
            self.cut = None
            self.old_ack_hi = None
            self.latched_own = False
            self.latched_peer = False

    def snapshot(self, slot: int, token: int = 0) -> SlotSnapshot:
        return SlotSnapshot(
            slot=slot,
            sent_hi=self.sent_hi,
            ack_hi=self.ack_hi,
            rcvd_ack_hi=self.rcvd_ack_hi,
            new_rcvd_lo=self.new_rcvd_lo,
            cut=self.cut,
            token=token,
        )


@dataclass(slots=True)
class DataPathResult:
    """What one packet produced."""

    to_network: list[Segment] = field(default_factory=list)
    to_host: list[Segment] = field(default_factory=list)
    punts: list[PacketIn] = field(default_factory=list)
    reports: list[SlotSnapshot] = field(default_factory=list)


def _smax(a: int | None, b: int) -> int:
    return b if a is None else seq_max(a, b)


def _smin(a: int | None, b: int) -> int:
    return b if a is None else seq_min(a, b)


class DataPath:
    """One device's data plane: the mapping table, the slot registers and the per-packet rules."""

    def __init__(self, local_addresses: Iterable[str], *, idle_timeout: float = 2.0) -> None:
        self.local_addresses = frozenset(local_addresses)
        self.idle_timeout = idle_timeout
        self.entries: dict[EntryKey, MappingEntry] = {}
        self.slots: dict[int, SlotRegisters] = {}
        self._last_used: dict[EntryKey, float] = {}
        self._idle_reported: dict[EntryKey, float] = {}
        self.counters: dict[str, int] = {}

    # --- table management ------------------------------------------------------------------

    def install(self, entry: MappingEntry, now: float = 0.0) -> None:
        """Insert an entry (replacing one with the same key, like a P4Runtime INSERT+MODIFY).

        ``now`` starts the entry's idle clock; pass the current time.
        """
        self.entries[entry.key] = entry
        self._touch(entry.key, now)
        self.slots.setdefault(entry.slot, SlotRegisters())

    def modify(self, entry: MappingEntry, now: float = 0.0) -> None:
        """Replace the entry with the same key; the slot's registers are kept."""
        self.install(entry, now)

    def remove(self, key: EntryKey) -> None:
        entry = self.entries.pop(key, None)
        self._last_used.pop(key, None)
        self._idle_reported.pop(key, None)
        if entry is not None and not any(e.slot == entry.slot for e in self.entries.values()):
            self.slots.pop(entry.slot, None)

    def idle_entries(self, now: float) -> list[EntryKey]:
        """Entries idle for at least the idle timeout.

        An entry that stays idle is reported again once per idle period (an agent may have
        had a reason to keep it the first time, e.g. a reconfiguration in progress).
        """
        out = []
        for key, last in self._last_used.items():
            if now - last < self.idle_timeout:
                continue
            reported = self._idle_reported.get(key)
            if reported is None or now - reported >= self.idle_timeout:
                self._idle_reported[key] = now
                out.append(key)
        return sorted(out)

    def probe(self, slot: int, token: int, freeze: bool, epoch: int = 0) -> SlotSnapshot:
        """Answer a probe; with ``freeze`` first fix ``cut = sent_hi`` (once per epoch) and
        seed ``old_ack_hi = ack_hi``.

        The seed: until the side steers on two paths, every ack its host sent left on the one
        path, which is the old path of this reconfiguration; its boxes have seen them all.
        So a new-path packet needs an old-path pure ack only when its host acknowledges more
        old-path data than that (``docs/pipeline.md`` 5.2, 5.3), which can only happen while
        the peer anchor still has old-path data unacknowledged: never after the peer folded
        and its retired old-path entry went idle.
        """
        regs = self.slots.setdefault(slot, SlotRegisters())
        regs.enter_epoch(epoch)
        if freeze and regs.cut is None and regs.sent_hi is not None:
            regs.cut = regs.sent_hi
        if freeze and regs.ack_hi is not None:
            regs.old_ack_hi = regs.ack_hi
        return regs.snapshot(slot, token)

    # --- packets ---------------------------------------------------------------------------

    def from_host(self, seg: Segment, now: float) -> DataPathResult:
        """A packet the local host (endpoint or middlebox) emitted: OUT lookup."""
        return self._process(seg, Direction.OUT, now)

    def from_network(self, seg: Segment, now: float) -> DataPathResult:
        """A packet that arrived from the network: IN lookup."""
        return self._process(seg, Direction.IN, now)

    def _count(self, name: str) -> None:
        self.counters[name] = self.counters.get(name, 0) + 1

    def _touch(self, key: EntryKey, now: float) -> None:
        self._last_used[key] = now
        self._idle_reported.pop(key, None)

    def _process(self, seg: Segment, direction: Direction, now: float) -> DataPathResult:
        res = DataPathResult()
        key = EntryKey(direction, seg.tuple)
        entry = self.entries.get(key)
        flags = seg.flags
        if seg.is_syn:
            self._count("punt_syn")
            res.punts.append(PacketIn(PuntReason.SYN, direction, seg, key if entry else None))
            return res
        if seg.is_synack and (seg.payload or (entry is not None and entry.role is Role.NEW)):
            self._count("punt_synack")
            if entry is not None:
                self._touch(key, now)
            res.punts.append(PacketIn(PuntReason.SYNACK, direction, seg, key if entry else None))
            return res
        if entry is None:
            self._count("miss")
            (res.to_network if direction is Direction.OUT else res.to_host).append(seg)
            return res
        self._touch(key, now)
        regs = self.slots.setdefault(entry.slot, SlotRegisters())
        regs.enter_epoch(entry.epoch)
        if direction is Direction.OUT:
            outs = self._out(seg, entry, regs, res)
            res.to_network.extend(outs)
        else:
            out = self._in(seg, entry, regs, res)
            if out is None:
                self._count("stale_ack_drop")
                return res
            outs = [out]
            res.to_host.append(out)
        mirror = None
        if seg.is_synack:
            mirror = PuntReason.SYNACK_MIRROR
        elif flags & TcpFlags.RST:
            mirror = PuntReason.RST_MIRROR
        elif flags & TcpFlags.FIN:
            mirror = PuntReason.FIN_MIRROR
        if mirror is not None:
            self._count(f"mirror_{mirror.value}")
            # The agent tracks teardown on the packet as the host sees it (before OUT rewrite,
            # after IN rewrite), so mirrors carry the host-side view.
            host_view = seg if direction is Direction.OUT else outs[0]
            res.punts.append(PacketIn(mirror, direction, host_view, key))
        return res

    def _in(
        self, seg: Segment, entry: MappingEntry, regs: SlotRegisters, res: DataPathResult
    ) -> Segment | None:
        out = rewrite(seg, entry.rewrite, entry.deltas)
        if out.flags & TcpFlags.ACK:
            regs.rcvd_ack_hi = _smax(regs.rcvd_ack_hi, out.ack)
        if entry.role is Role.NEW and (out.payload or out.flags & TcpFlags.FIN):
            regs.new_rcvd_lo = _smin(regs.new_rcvd_lo, out.seq)
        if (
            not regs.latched_own
            and regs.cut is not None
            and regs.rcvd_ack_hi is not None
            and seq_ge(regs.rcvd_ack_hi, regs.cut)
        ):
            regs.latched_own = True
            res.reports.append(regs.snapshot(entry.slot))
        if (
            entry.epoch < regs.epoch
            and out.flags & TcpFlags.ACK
            and not out.flags & (TcpFlags.RST | TcpFlags.SYN)
            and regs.rcvd_ack_hi is not None
            and seq_gt(regs.rcvd_ack_hi, out.ack)
        ):
            # A packet on an old path (its entry predates the slot's reconfiguration): its
            # ack was held back at the far anchor so that the old path's boxes never see an
            # ack for data they did not carry, while the host has already seen a newer one
            # (new path). An ack more than a window behind gets the data dropped (RFC 5961
            # 5.2), and a NAT on the host marks it invalid. So data carries the newest ack
            # instead, and a pure ack that old, which tells the host nothing, is dropped.
            if out.seq_len == 0:
                return None
            out = replace(out, ack=regs.rcvd_ack_hi)
        return out

    def _out(
        self, seg: Segment, entry: MappingEntry, regs: SlotRegisters, res: DataPathResult
    ) -> list[Segment]:
        has_ack = bool(seg.flags & TcpFlags.ACK)
        regs.sent_hi = _smax(regs.sent_hi, seq_add(seg.seq, seg.seq_len))
        if has_ack:
            regs.ack_hi = _smax(regs.ack_hi, seg.ack)
        outs = (
            self._steer(seg, entry, regs)
            if entry.two_path
            else [rewrite(seg, entry.rewrite, entry.deltas)]
        )
        if not regs.latched_peer and _peer_acked(entry, regs):
            regs.latched_peer = True
            res.reports.append(regs.snapshot(entry.slot))
        return outs

    def _steer(self, seg: Segment, entry: MappingEntry, regs: SlotRegisters) -> list[Segment]:
        """Two-path steering: data split at ``cut``, acks split at ``new_rcvd_lo``.

        Each path must see the ack advances for the data it carried, and no path may see an
        ack for data it did not carry; pieces are cloned as pure acks where needed. A pure ack
        goes on the new path once it acks new-path data, or once the host has acknowledged all
        of the peer's old-path data (``ack_hi >= peer_cut``, the peer latch's condition): the
        old path then gets a copy only if it has not seen that ack yet (``old_ack_hi``), so
        duplicate acks, window updates and keepalives never go on an old path whose far end
        may have folded and let its entry go idle (``docs/pipeline.md`` 5.2).
        """
        assert entry.new_rewrite is not None and entry.new_deltas is not None
        if seg.flags & TcpFlags.RST:
            # Reset both paths so every box on either side tears down its state.
            return [
                rewrite(seg, entry.rewrite, entry.deltas),
                rewrite(seg, entry.new_rewrite, entry.new_deltas),
            ]
        has_ack = bool(seg.flags & TcpFlags.ACK)
        lo = regs.new_rcvd_lo
        ack_new = has_ack and lo is not None and seq_gt(seg.ack, lo)
        cut = regs.cut
        end = seq_add(seg.seq, seg.seq_len)
        old_parts: list[Segment] = []
        new_parts: list[Segment] = []
        if seg.seq_len == 0:
            if ack_new or (has_ack and _peer_acked(entry, regs)):
                new_parts.append(seg)
            elif cut is not None and seq_gt(seg.seq, cut):
                # the host's old-path stream ends at the cut; its snd_nxt may be far past it
                # (data sent into the hold or on the new path), beyond the window a proxy or
                # stateful box on the old path opened: conntrack calls such an ack INVALID, a
                # redirect or NAT then leaves it untranslated and the host behind answers RST
                old_parts.append(replace(seg, seq=cut))
            else:
                old_parts.append(seg)
        elif cut is None or not seq_gt(end, cut):
            old_parts.append(seg)
        elif seq_ge(seg.seq, cut):
            new_parts.append(seg)
        else:
            k = seq_diff(cut, seg.seq)  # 0 < k < seq_len: split payload (FIN stays on the tail)
            old_parts.append(replace(seg, payload=seg.payload[:k], flags=seg.flags & ~TcpFlags.FIN))
            new_parts.append(replace(seg, seq=cut, payload=seg.payload[k:]))

        if has_ack:
            a_old = lo if ack_new and lo is not None else seg.ack
            if lo is not None:
                old_parts = [
                    replace(p, ack=a_old, options=_sack_below(p.options, lo)) for p in old_parts
                ]
                new_parts = [replace(p, options=_sack_above(p.options, lo)) for p in new_parts]
            if ack_new and not new_parts:
                new_seq = seg.seq if cut is None else seq_max(seg.seq, cut)
                new_parts.append(_pure_ack(seg, new_seq, seg.ack))
            if not old_parts and (regs.old_ack_hi is None or seq_gt(a_old, regs.old_ack_hi)):
                old_seq = seg.seq if cut is None else seq_min(seg.seq, cut)
                old_parts.append(_pure_ack(seg, old_seq, a_old, lo))
        outs: list[Segment] = []
        for p in old_parts:
            if p.flags & TcpFlags.ACK:
                regs.old_ack_hi = _smax(regs.old_ack_hi, p.ack)
            outs.append(rewrite(p, entry.rewrite, entry.deltas))
        for p in new_parts:
            outs.append(rewrite(p, entry.new_rewrite, entry.new_deltas))
        return outs


def _peer_acked(entry: MappingEntry, regs: SlotRegisters) -> bool:
    """The peer latch's condition: the host has acknowledged all of the peer's old-path data
    (``ack_hi >= peer_cut``; ``docs/pipeline.md`` 5.2, 5.4)."""
    return (
        entry.peer_cut is not None
        and regs.ack_hi is not None
        and seq_ge(regs.ack_hi, entry.peer_cut)
    )


def _pure_ack(seg: Segment, seq: int, ack: int, sack_limit: int | None = None) -> Segment:
    options = seg.options if sack_limit is None else _sack_below(seg.options, sack_limit)
    return replace(seg, seq=seq, ack=ack, payload=b"", flags=TcpFlags.ACK, options=options)


def _sack_below(options: TcpOptions, lo: int) -> TcpOptions:
    """SACK blocks entirely at or below ``lo`` (old-path data), for an old-path copy."""
    if not options.sack_blocks:
        return options
    return replace(
        options, sack_blocks=tuple(b for b in options.sack_blocks if not seq_gt(b[1], lo))
    )


def _sack_above(options: TcpOptions, lo: int) -> TcpOptions:
    """SACK blocks at or above ``lo`` (new-path data), for a new-path copy."""
    if not options.sack_blocks:
        return options
    return replace(options, sack_blocks=tuple(b for b in options.sack_blocks if seq_ge(b[0], lo)))
