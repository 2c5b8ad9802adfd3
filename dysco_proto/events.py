"""Events an agent consumes. A target adapter turns what happens on a device into these."""

from __future__ import annotations

import enum
from dataclasses import dataclass

from dysco_proto.entries import Direction, EntryKey
from dysco_proto.packet import FiveTuple, Segment
from dysco_proto.timers import TimerKey


class PuntReason(enum.StrEnum):
    """Why the data plane handed a packet to the agent (same names as the P4 packet-in)."""

    SYN = "syn"  # SYN without ACK: never forwarded by the data plane
    SYNACK = "synack"  # SYN-ACK with payload, or on a NEW-role entry: not forwarded
    SYNACK_MIRROR = "synack_mirror"  # SYN-ACK forwarded and copied
    FIN_MIRROR = "fin_mirror"
    RST_MIRROR = "rst_mirror"


@dataclass(frozen=True, slots=True)
class PacketIn:
    """A punted or mirrored TCP segment.

    ``segment`` is the packet as it arrived (before any rewrite) for punts, and as it left
    (after rewrite) for mirrors. ``entry`` is the key of the entry it matched, if any.
    """

    reason: PuntReason
    direction: Direction
    segment: Segment
    entry: EntryKey | None = None


@dataclass(frozen=True, slots=True)
class ControlIn:
    """A UDP datagram received on the control port of one of the agent's addresses."""

    src_ip: str
    dst_ip: str
    data: bytes


@dataclass(frozen=True, slots=True)
class SlotSnapshot:
    """Register values of one slot, answered to a probe or reported by a latch."""

    slot: int
    sent_hi: int | None
    ack_hi: int | None
    rcvd_ack_hi: int | None
    new_rcvd_lo: int | None
    cut: int | None
    token: int = 0  # the probe's token; 0 for latch reports


@dataclass(frozen=True, slots=True)
class TimerFired:
    """A timer the agent started (:class:`~dysco_proto.actions.StartTimer`) expired."""

    timer_id: TimerKey


@dataclass(frozen=True, slots=True)
class EntryIdle:
    """The data plane saw no packet on this entry for the idle timeout."""

    key: EntryKey


# --- management commands -------------------------------------------------------------------


class ReconfigKind(enum.StrEnum):
    INSERT = "insert"
    REMOVE = "remove"
    REPLACE = "replace"


@dataclass(frozen=True, slots=True)
class Reconfigure:
    """Replace the segment of a session between two anchors by a new list of boxes.

    The agent receiving it must be the left anchor (it holds the session's right side named
    by ``session``, the session tuple as the local host emits it rightwards).
    ``right_anchor`` is the address of the right anchor; ``new_boxes`` the middlebox addresses
    of the new segment, in order (empty: remove everything between the anchors).
    ``request_tag`` lets the caller correlate outcomes.
    """

    session: FiveTuple
    right_anchor: str
    new_boxes: tuple[str, ...] = ()
    kind: ReconfigKind = ReconfigKind.REPLACE
    request_tag: int = 0


@dataclass(frozen=True, slots=True)
class RemoveMe:
    """A box host asks its left neighbour to remove it (rightRequest).

    ``session`` is the inbound session tuple (as the box receives it); for a proxy,
    ``outbound`` names its outbound session so the two are related first.
    """

    session: FiveTuple
    outbound: FiveTuple | None = None
    request_tag: int = 0


@dataclass(frozen=True, slots=True)
class BoxOffset:
    """The local box declares a byte offset it applies to a session (an offset box)."""

    session: FiveTuple  # as the box receives it from the left
    offset_lr: int = 0
    offset_rl: int = 0


@dataclass(frozen=True, slots=True)
class RelateProxy:
    """The local TCP-terminating proxy splices ``inbound`` to ``outbound``."""

    inbound: FiveTuple
    outbound: FiveTuple


Command = Reconfigure | RemoveMe | BoxOffset | RelateProxy

Event = PacketIn | ControlIn | SlotSnapshot | TimerFired | EntryIdle | Command
