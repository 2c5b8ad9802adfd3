"""The controller's side of the pipeline's punts and mirrors (docs/pipeline.md 5.2, 6).

What a controller computes from a packet-in the switch could not finish in one pass
(``SPLIT``, ``UNSUPPORTED_OPTIONS``: :func:`complete_punt`) and the host's view of a
mirrored packet (:func:`mirror_host_view`), with the abstract data path
(:mod:`dysco_proto.datapath`) and the pipeline's window rescale (:func:`window_rescale`).
Re-exported by :mod:`dysco_pipeline.refmodel`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace

from dysco_pipeline.pipeline import Reason, RegValid
from dysco_proto.datapath import DataPath, SlotRegisters
from dysco_proto.entries import Direction, MappingEntry
from dysco_proto.events import PuntReason
from dysco_proto.packet import Segment, TcpFlags
from dysco_proto.rewrite import rescale_window, rewrite

__all__ = [
    "MIRRORS",
    "Completion",
    "complete_punt",
    "mirror_host_view",
    "registers_from_packet_in",
    "window_rescale",
]

MIRRORS = {
    PuntReason.SYNACK_MIRROR: Reason.SYNACK_MIRROR,
    PuntReason.FIN_MIRROR: Reason.FIN_MIRROR,
    PuntReason.RST_MIRROR: Reason.RST_MIRROR,
}
"""The mirror punts of the abstract data path and their packet-in reasons."""


def window_rescale(window: int, shift: int) -> int:
    """The pipeline's window rescale (docs/pipeline.md 4.1): ``min(0xFFFF, w << s)`` for
    ``s > 0``; for ``s < 0`` the right shift rounds up, ``ceil(w / 2**-s)``, so a non-zero
    window never becomes zero (a zero window would stall the sender)."""
    if shift > 0:
        return min(0xFFFF, window << shift)
    if shift < 0:
        return (window + (1 << -shift) - 1) >> -shift
    return window


# --- the controller's side of SPLIT / UNSUPPORTED_OPTIONS punts and mirrors -------------------


@dataclass(frozen=True, slots=True)
class Completion:
    """How the controller finishes a punted packet the switch could not forward in one pass.

    ``outputs``: the segments to packet-out (already rewritten; towards the network for an
    OUT packet, towards the host for an IN one), in order; ``mirror``: the mirror event the
    agent must see (FIN/RST/SYN-ACK), with ``host_view`` the segment as the host sees it.
    """

    outputs: tuple[Segment, ...]
    mirror: PuntReason | None
    host_view: Segment


def registers_from_packet_in(meta: Mapping[str, int]) -> SlotRegisters:
    """The slot registers a packet-in reports, as the steering of its packet saw them.

    ``old_ack_hi`` is the value before the packet; the other registers are after it, which
    changes nothing for the steering (they are maxima/minima the packet already reached).
    Both latches are marked fired: the pipeline reported them in the packet-in's flags.
    """
    valid = RegValid(meta.get("reg_valid", 0))

    def reg(name: str, bit: RegValid) -> int | None:
        return meta.get(name, 0) if valid & bit else None

    return SlotRegisters(
        sent_hi=reg("sent_hi", RegValid.SENT_HI),
        ack_hi=reg("ack_hi", RegValid.ACK_HI),
        rcvd_ack_hi=reg("rcvd_ack_hi", RegValid.RCVD_ACK_HI),
        epoch=meta.get("epoch", 0),
        new_rcvd_lo=reg("new_rcvd_lo", RegValid.NEW_RCVD_LO),
        cut=reg("cut", RegValid.CUT),
        old_ack_hi=reg("old_ack_hi", RegValid.OLD_ACK_HI),
        latched_own=True,
        latched_peer=True,
    )


def complete_punt(
    seg: Segment, direction: Direction, entry: MappingEntry, meta: Mapping[str, int]
) -> Completion:
    """Finish a ``SPLIT`` or ``UNSUPPORTED_OPTIONS`` packet-in with the abstract data path.

    ``seg`` is the punted packet (decoded with all its options), ``entry`` the mapping it
    hit (the packet-in's direction, tuple and agent identify it), ``meta`` the packet-in
    header. The pipeline has already updated the slot registers and reported any latch;
    this only computes what to send, exactly as :class:`~dysco_proto.datapath.DataPath`
    would have.
    """
    dp = DataPath(())
    dp.install(entry)
    dp.slots[entry.slot] = registers_from_packet_in(meta)
    res = dp.from_host(seg, 0.0) if direction is Direction.OUT else dp.from_network(seg, 0.0)
    outs = res.to_network if direction is Direction.OUT else res.to_host
    mirror = next((p for p in res.punts if p.reason in MIRRORS), None)
    return Completion(
        tuple(_pipeline_window(seg, o, entry) for o in outs),
        None if mirror is None else mirror.reason,
        seg if mirror is None else mirror.segment,
    )


def _pipeline_window(seg: Segment, out: Segment, entry: MappingEntry) -> Segment:
    """``out`` (the data path's rewrite of ``seg`` on one of the entry's paths) with the
    window the pipeline writes (:func:`window_rescale`, rounding up) instead of
    ``dysco_proto.rewrite``'s truncating right shift, so that a completed punt carries the
    window the switch would have written."""
    if seg.flags & TcpFlags.SYN:
        return out
    shift = entry.deltas.win_shift
    nd = entry.new_deltas
    if nd is not None and out.tuple == entry.new_rewrite and out.tuple != entry.rewrite:
        shift = nd.win_shift
    if out.window != rescale_window(seg.window, shift):
        return out  # not a rescale of this segment's window: leave it
    return replace(out, window=window_rescale(seg.window, shift))


def mirror_host_view(seg: Segment, direction: Direction, entry: MappingEntry) -> Segment:
    """The host-side view of a mirrored packet, from the frame the packet-in carries.

    Packet-ins always carry the packet as it arrived at the switch. The agent tracks
    handshakes and teardown on the packet as the host sees it: for an OUT packet that is the
    packet itself, for an IN packet its rewrite by the IN entry.
    """
    if direction is Direction.OUT:
        return seg
    return _pipeline_window(seg, rewrite(seg, entry.rewrite, entry.deltas), entry)
