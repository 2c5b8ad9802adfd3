"""The agent's records: configuration, session records and their sides, anchors' state.

Plain data, no behaviour beyond the entries a side derives from its fields. The anchors'
phases are those of :mod:`dysco_proto.phase_table`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from dysco_proto.entries import ZERO, Deltas, Direction, EntryKey, MappingEntry, Role
from dysco_proto.events import SlotSnapshot
from dysco_proto.lock import LockState
from dysco_proto.packet import FiveTuple, Segment
from dysco_proto.phase_table import LeftPhase, RightPhase
from dysco_proto.policy import PolicyTable
from dysco_proto.seqnum import seq_ge
from dysco_proto.wire import ControlMessage, Handshake, RequestId, Transform

MOD32 = 1 << 32


@dataclass(frozen=True)
class AgentConfig:
    """Static configuration of one agent."""

    addresses: tuple[str, ...]
    key: bytes
    policies: PolicyTable = field(default_factory=PolicyTable)
    port_low: int = 20000
    port_high: int = 60999
    seed: int = 0
    msg_id_base: int = 0
    rto: float = 0.02  # control-message retransmission timeout
    max_retries: int = 10
    syn_retries: int = 6
    close_timeout: float = 0.5  # after FIN both ways (or RST): check, then remove the session
    # a closed session's entries stay this long once everything is acknowledged (and again
    # after each FIN seen meanwhile): the last ACK may still be lost further on, and what it
    # answers sent again, which without entries reaches the host unrewritten (RST). TCP's
    # own answer to a lost last ACK is TIME_WAIT (Linux: 60 s, TCP_TIMEWAIT_LEN), during
    # which the host re-acknowledges such a retransmission: the entries outlive it
    close_linger: float = 60.0
    # a closed session whose last bytes (FIN included) are not acknowledged is kept this long
    # after its last sign of life (a FIN seen, or acknowledgments that moved between two
    # close checks): its senders retransmit, backing off (Linux retransmits an orphaned
    # socket's FIN 8 times: 0.2 s doubled, 102 s and more; conntrack keeps FIN_WAIT 120 s)
    close_hold: float = 120.0
    # at most this many closed sessions linger (or are held unacknowledged) per agent: a new
    # one beyond it removes the one that closed first (``session.linger_evicted``), as Linux
    # drops TIME_WAIT sockets beyond ``tcp_max_tw_buckets``; a new session finding no free
    # register slot removes the oldest the same way
    max_lingering: int = 4096
    pending_timeout: float = 2.0  # a box that never emits the continuation SYN
    anchor_timeout: float = 2.0  # right anchor staged but never committed: revert
    # a left anchor holds its host's new data (protocol-design.md 4.2) at most this long
    # waiting for the new path's handshake, then cancels (the data goes on the old path
    # again); below anchor_timeout, or the right anchor may revert under a committed path
    hold_timeout: float = 1.5
    done_linger: float = 2.0  # how long finished requests are remembered for duplicates
    max_backoff: float = 0.5
    # a probe answered "not yet" (the host has not sent, or not acknowledged, what the anchor
    # waits for) is sent again after repoll_first (None: rto / 16), doubled per "not yet" in a
    # row up to rto: a poll interval, not a retransmission timeout (nothing was lost; the
    # condition may hold a moment after the answer), so it starts short
    repoll_first: float | None = None
    slot_base: int = 1  # register slots this agent may use: [slot_base, slot_limit)
    slot_limit: int | None = None


@dataclass(slots=True)
class HandshakeRecord:
    """What one side saw of the handshake, in host sequence space."""

    isn_out: int | None = None  # SYN / SYN-ACK seq the local host emitted towards this side
    isn_in: int | None = None  # SYN / SYN-ACK seq the local host received from this side
    ts_out: int | None = None
    ts_in: int | None = None
    wscale_host: int | None = None
    wscale_peer: int | None = None
    sack_ok: bool = False
    ts_ok: bool = False
    mss: int = 0
    # this side's SYN-ACK is known (the peer's on a right side, the host's on a left side):
    # seen in a mirror, filled from the other side's mirror, or the answer a new-path SYN
    # fixes; mirrors are best-effort, and a left anchor that never learnt it refuses
    synack_seen: bool = False


@dataclass(eq=False)
class Side:
    """One neighbour-facing half of a session at this agent (section 1)."""

    record: SessionRecord
    is_left: bool
    local: str
    peer: str
    sub: FiveTuple  # subsession tuple, oriented left to right on the wire
    stuple: FiveTuple  # session tuple at the local host, oriented left to right
    slot: int
    own_port: int | None = None  # allocated by us (we are the subsession's left end)
    in_deltas: Deltas = ZERO
    out_deltas: Deltas = ZERO
    hs: HandshakeRecord = field(default_factory=HandshakeRecord)
    lock: LockState = field(default_factory=LockState)
    epoch: int = 0
    busy: RequestId | None = None  # reconfiguration anchored on this side
    syn_msg: ControlMessage | None = None  # right sides: the chain to resend with SYNs
    installed: set[EntryKey] = field(default_factory=set)
    # Old-path IN entries kept after a fold so late old-path packets still reach the host
    # (as harmless duplicates) instead of surprising it; removed when idle, then the port
    # they used (if ours) is released.
    retired: dict[EntryKey, int | None] = field(default_factory=dict)
    # NEW after a left anchor's fold: the IN entry of the path it folded onto keeps
    # absorbing SYN-ACKs (the data plane punts a SYN-ACK on a NEW entry): late copies of
    # the new path's handshake, which a loaded right anchor's device may emit after the
    # fold, must not reach the host (docs/protocol-design.md 4.2); ONE again before the
    # side's next reconfiguration stages a new path (a NEW entry feeds new_rcvd_lo)
    in_role: Role = Role.ONE
    # One past the FIN the host was sent on this side (an IN FIN mirror, host view): the close
    # check waits until the host's own acks (the slot's ack_hi) cover it, or the peer's
    # retransmission of what the host has not acknowledged would arrive without entries
    fin_in_end: int | None = None
    # True once a reconfiguration anchored on this side held its host's data (a frozen
    # cutoff, then a fold or a cancel): the bytes the hold dropped went on no path and come
    # again only when the host's retransmission timer fires, which the hold backed off. The
    # side's next left-anchor freeze waits (without holding) until everything the host had
    # sent when that reconfiguration locked is acknowledged (docs/protocol-design.md 4.2)
    after_hold: bool = False

    @property
    def in_key(self) -> EntryKey:
        return EntryKey(Direction.IN, self.sub if self.is_left else self.sub.reversed())

    @property
    def out_key(self) -> EntryKey:
        return EntryKey(Direction.OUT, self.stuple.reversed() if self.is_left else self.stuple)

    def in_entry(self, role: Role | None = None) -> MappingEntry:
        target = self.stuple if self.is_left else self.stuple.reversed()
        role = self.in_role if role is None else role
        return MappingEntry(self.in_key, target, self.in_deltas, self.slot, role, epoch=self.epoch)

    def out_entry(self) -> MappingEntry:
        target = self.sub.reversed() if self.is_left else self.sub
        return MappingEntry(self.out_key, target, self.out_deltas, self.slot, epoch=self.epoch)


@dataclass(slots=True)
class Pending:
    """A middlebox host waiting for its box to emit the SYN that continues the chain."""

    hops: tuple[str, ...]
    tag: int
    msg: ControlMessage


@dataclass(eq=False)
class SessionRecord:
    """This agent's state for one session (or two sessions joined by a proxy relation)."""

    id: int
    left: Side | None = None
    right: Side | None = None
    pending: Pending | None = None
    offset_lr: int = 0
    offset_rl: int = 0
    fin_lr: bool = False
    fin_rl: bool = False
    closing: bool = False
    reset: bool = False  # closing because of a RST (no acknowledgment to wait for)
    close_wait: int = 0  # close probes outstanding
    close_ok: bool = True  # every side's last bytes (FIN included) acknowledged so far
    close_tries: int = 0  # close checks answered "not yet" (the interval doubles, CLOSE_CHECK_MAX)
    close_alive: float | None = None  # last sign of life while closing (close_hold counts from it)
    # each side's (sent_hi, ack_hi, rcvd_ack_hi) at the last close check, by slot: a change
    # is a sign of life (a retransmission got through, or was acknowledged)
    close_seen: dict[int, tuple[int | None, ...]] = field(default_factory=dict)
    # one FIN seen (not closing): a sign of life since the last check of the half-closed
    # session (a register that changed, a side without a baseline, the FIN seen again)
    close_moved: bool = False
    lingering: bool = False  # closed, every byte acknowledged: entries kept close_linger

    def sides(self) -> list[Side]:
        return [s for s in (self.left, self.right) if s is not None]


@dataclass(slots=True)
class ProbeWatch:
    """An anchor's watched probe (``Agent._watched_probe``): the token of the one awaiting its
    answer (None: none), when it went (its answer time), and how many in a row went
    unanswered (the watch's back-off)."""

    token: int | None = None
    sent_at: float = 0.0
    losses: int = 0


@dataclass(eq=False)
class LeftAnchor:
    """A reconfiguration this agent runs as the left anchor (its right side is ``side``)."""

    request: RequestId
    side: Side
    right_anchor: str
    new_boxes: tuple[str, ...]
    tag: int
    started: float
    phase: LeftPhase = LeftPhase.LOCKING
    retries: int = 0
    phi_lr: Transform = field(default_factory=Transform)
    phi_rl: Transform = field(default_factory=Transform)
    new_sub: FiveTuple | None = None
    new_port: int | None = None
    syn_seq: int = 0
    syn_ack: int = 0
    synack_seq: int | None = None
    peer_hs: Handshake | None = None
    cut: int | None = None
    peer_cut: int | None = None
    cancel_reason: str = ""
    held_since: float | None = None  # when the freeze started holding the host's new data
    # after a hold on this side: freeze only once the host's bytes up to ``drain_to`` (its
    # sent_hi when this request locked) are acknowledged, or ``drain_deadline`` passed
    drain_to: int | None = None
    drain_deadline: float | None = None
    polls: int = 0  # probes answered "not yet" in a row in this phase (re-poll back-off)
    sent_at: float | None = None  # first transmission of the message it awaits (RTT)
    watch: ProbeWatch = field(default_factory=ProbeWatch)


@dataclass(eq=False)
class RightAnchor:
    """A reconfiguration this agent answers as the right anchor (its left side is ``side``)."""

    request: RequestId
    side: Side
    left_anchor: str
    phi_lr: Transform
    phase: RightPhase = RightPhase.LOCKED
    new_sub: FiveTuple | None = None
    new_in: Deltas = ZERO
    new_out: Deltas = ZERO
    syn_seq: int = 0
    syn_ack: int = 0
    peer_hs: Handshake | None = None
    cut: int | None = None
    peer_cut: int | None = None
    polls: int = 0  # probes answered "not yet" in a row (re-poll back-off)
    watch: ProbeWatch = field(default_factory=ProbeWatch)
    # after a hold on this side the ackLock waits (``lock_msg``, the requestLock to answer)
    # until the host's bytes up to ``drain_to`` are acknowledged or ``drain_deadline`` passed
    lock_msg: ControlMessage | None = None
    drain_to: int | None = None
    drain_deadline: float | None = None


@dataclass(eq=False)
class RightRequestState:
    """A rightRequest this agent sent to its left neighbour (phase WAITING while it exists)."""

    request: RequestId
    side: Side
    right_anchor: str
    tag: int
    retries: int = 0


CLOSE_CHECK_MAX = 4.0  # longest interval between two close checks (close_timeout doubled)

HOLD = FiveTuple("0.0.0.0", 0, "0.0.0.0", 0)
"""The new rewrite an anchor stages while its new path is not yet a TCP connection to the new
boxes (protocol-design.md 4.2): data at or above the frozen cutoff is rewritten towards an
address no data plane routes (``ipv4_fwd`` misses: drop), i.e. held back; the host
retransmits it once the new path carries it (or, on a cancel, the old path does)."""


THIRD_ACK_WINDOW = 0xFFFF
"""64 KiB: the window the new path's third ACK and the right anchor's window update announce,
as ``THIRD_ACK_WINDOW >> wscale`` in their sender's window scale (the SYN-ACK's own window is
unscaled, the same 64 KiB). Each reaches two readers. A stateful box on the new path lets the
other side send up to ``ack + (window << wscale)`` (conntrack's ``td_maxend``) until a segment
with the real window passes. The far host (the segment is passed on to it) takes the window as
a window update. The anchor does not know its host's current window. The field at its largest
(``0xFFFF``, 64 MiB at a window scale of 10) made the far host send beyond the real receive
window: the receiver dropped those bytes (``BeyondWindow``) without a SACK, so the sender
waited for its RTO (the replace-fw stall, ``docs/controller.md``). 64 KiB lets the box pass
what the host sends before the first real window comes (it sends no more than the window it
was told), and tells the far host nothing larger than the handshake did."""


def strip(seg: Segment) -> Segment:
    """A SYN as a host must see it: no Dysco payload, no tag option."""
    return replace(seg, payload=b"", options=replace(seg.options, dysco_tag=None))


def tr(d: Deltas) -> Transform:
    """The sequence/timestamp part of deltas as a wire transform."""
    return Transform.wrap(d.seq, d.tsval)


def complete(snap: SlotSnapshot, peer_cut: int | None) -> bool:
    """Section 4.3: all we sent on the old path is acked, and our host acked the peer's."""
    return (
        snap.cut is not None
        and snap.rcvd_ack_hi is not None
        and seq_ge(snap.rcvd_ack_hi, snap.cut)
        and peer_cut is not None
        and snap.ack_hi is not None
        and seq_ge(snap.ack_hi, peer_cut)
    )
