"""The held prefix a controller keeps for each held new path (``docs/pipeline.md`` 5.2).

While an anchor's new path is held (its new rewrite is :data:`dysco_proto.agent.HOLD`), the
pipeline punts the first :data:`~dysco_pipeline.pipeline.HOLD_PUNT_BYTES` of data its host
sends at or above the cutoff (reason ``HOLD``) and drops the rest. The controller keeps those
segments here, per session entry, and when the entry's hold ends (the commit gives it the new
path's rewrite, a cancel the old path back) it sends the first :data:`SEND_SEGMENTS` of them
where the entry now sends them, queued ahead of the Write that ends the hold, so they reach
the receiver before anything the host sends through the changed entry. Why: a host whose
window the hold has filled learns of the loss only from its RTO; once the receiver has the
first held bytes it acknowledges them, the host's window opens, its new data is SACKed and
its loss recovery resends the rest at once
(``docs/controller.md``, "The replace-fw stall").

What is sent and kept, from the captures of the real testbed, where the host keeps
acknowledging the other direction's data during the hold (those acks pass it):
- the timestamp option is removed: the host has sent newer timestamps meanwhile, and the
  receiver's PAWS check (RFC 7323 5.3) would drop a segment carrying the older one
  (``PAWSEstab``). Linux accepts a segment without the option on a connection that negotiated
  it, as it accepts the anchors' own window update and third ACK, which never carry one.
- the ack is raised to the newest ``ack_hi`` the controller has seen for the slot (the held
  punts' own registers, and every probe reply or latch report since: the left anchor probes
  just before its commit): a segment whose ack is more than a window below what the receiver
  has already had acknowledged is dropped with a challenge ACK (RFC 5961 5.2,
  ``TCPChallengeACK``), and the host's acks moved on by the whole hold.
- a removed entry forgets its segments; so does a full store (:data:`MAX_SEGMENTS` per entry,
  the first ones kept: a retransmission into the hold replaces its earlier copy).
"""

from __future__ import annotations

import dataclasses

from dysco_pipeline.pipeline import HOLD_ADDRESS, RegValid, is_held
from dysco_pipeline.refmodel import complete_punt
from dysco_proto.entries import Direction, EntryKey, MappingEntry
from dysco_proto.packet import Segment
from dysco_proto.seqnum import seq_max

MAX_SEGMENTS = 64
"""Segments kept per entry: ``HOLD_PUNT_BYTES`` (16 KiB) at an MSS of 256 bytes or more."""

SEND_SEGMENTS = 4
"""How many of the kept segments are sent (the lowest): enough for the host to send new data
and so start its loss recovery (``tools/experiments/hold_reinject``: with the first 4, no RTO
in 42 rounds; with 2 or 3, 26 of 29 rounds took it), and few enough to reach the receiver
before the host's own next segments. Every packet-out here takes 0.5-1.5 ms on the testbed:
when 12 trickled in over 5 ms, the host's new data came in between, its recovery began, and
the copies' acks of segments it had already marked lost looked like reordering
(``TCPSACKReorder``): it undid its recovery and left the rest of the hold to its RTO."""


class HeldPrefix:
    """The ``HOLD`` punts of one controller, per ``(agent id, entry key)``, until released."""

    def __init__(self) -> None:
        self._held: dict[tuple[int, EntryKey], dict[int, tuple[Segment, dict[str, int]]]] = {}
        self._ack_hi: dict[int, int] = {}  # slot -> newest ack_hi seen, while something is kept
        self.kept = 0  # segments taken in
        self.sent = 0  # pieces released
        self.discarded = 0  # segments forgotten (entry removed, store full)

    def __len__(self) -> int:
        return sum(len(v) for v in self._held.values())

    def keep(self, agent_id: int, key: EntryKey, seg: Segment, md: dict[str, int]) -> bool:
        """Keep a ``HOLD`` punt of ``key`` (``md``: its packet-in metadata); ``False`` when the
        entry's store is full."""
        held = self._held.setdefault((agent_id, key), {})
        if seg.seq not in held and len(held) >= MAX_SEGMENTS:
            self.discarded += 1
            return False
        held[seg.seq] = (seg, md)  # the translator's own copy of the metadata
        self.kept += 1
        slot = md.get("slot", -1)
        self._ack_hi[slot] = seq_max(self._ack_hi.get(slot, seg.ack), seg.ack)
        if md.get("reg_valid", 0) & RegValid.ACK_HI:
            self.note_ack_hi(slot, md["ack_hi"])
        return True

    def note_ack_hi(self, slot: int, ack_hi: int | None) -> None:
        """A register report of ``slot`` (probe reply, latch, punt): its ``ack_hi`` is the
        host's newest ack, which the released segments carry (module docstring)."""
        if ack_hi is not None and slot in self._ack_hi:
            self._ack_hi[slot] = seq_max(self._ack_hi[slot], ack_hi)

    def holds(self, agent_id: int, key: EntryKey) -> bool:
        """Whether segments of ``key`` are kept."""
        return (agent_id, key) in self._held

    def release(self, agent_id: int, entry: MappingEntry) -> list[Segment]:
        """The lowest :data:`SEND_SEGMENTS` kept segments of ``entry``'s key (from the cutoff,
        modulo 2**32), in that order, completed with ``entry`` (the entry as the Write that ends
        the hold makes it), ready to send toward the network; the others are discarded.
        Nothing while ``entry`` still holds: they stay."""
        if is_held(entry):
            return []
        held = self._held.pop((agent_id, entry.key), {})
        ack = self._ack_hi.pop(entry.slot, None)
        if not held:
            return []
        cut = next(iter(held.values()))[1].get("cut", 0)  # every kept segment is above it
        out: list[Segment] = []
        for seq in sorted(held, key=lambda s: (s - cut) % (1 << 32))[:SEND_SEGMENTS]:
            seg, md = held[seq]
            if seg.options.timestamp is not None:  # PAWS: see the module docstring
                seg = dataclasses.replace(
                    seg, options=dataclasses.replace(seg.options, timestamp=None)
                )
            if ack is not None:  # RFC 5961 5.2: see the module docstring
                seg = dataclasses.replace(seg, ack=seq_max(seg.ack, ack))
                # no old-path pure ack for a copy (the SPLIT of a_old > old_ack_hi): the
                # device's registers are not moved by it, so the host's own next segment
                # sends that ack copy if the old path still needs one
                md = {**md, "ack_hi": seq_max(md.get("ack_hi", ack), ack),
                      "old_ack_hi": seq_max(md.get("old_ack_hi", ack), ack)}  # fmt: skip
            done = complete_punt(seg, Direction.OUT, entry, md)
            out.extend(p for p in done.outputs if p.tuple.dst_ip != HOLD_ADDRESS)
        self.sent += len(out)
        self.discarded += max(0, len(held) - SEND_SEGMENTS)
        return out

    def forget(self, agent_id: int, key: EntryKey) -> None:
        """Drop what ``key`` kept (its entry is removed)."""
        held = self._held.pop((agent_id, key), {})
        for _seg, md in held.values():
            self._ack_hi.pop(md.get("slot", -1), None)
        self.discarded += len(held)
