"""The Dysco agent: a sans-IO state machine (``handle(event, now) -> actions``).

One agent serves the hosts behind one device. It never touches a packet on the fast path: it
sees what the data plane punts or mirrors (SYNs, SYN-ACKs, FIN/RST), control messages from peer
agents, register snapshots, timers and management commands, and answers with entry writes,
packet-outs, control messages, timers and observations. ``docs/protocol-design.md`` is the
normative description; section numbers below refer to it.
"""

from __future__ import annotations

import enum
import random
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from dysco_proto.actions import (
    Action,
    CancelTimer,
    InstallEntry,
    ModifyEntry,
    Observe,
    Probe,
    RemoveEntry,
    SendControl,
    SendPacket,
    StartTimer,
    Toward,
)
from dysco_proto.entries import ZERO, Deltas, Direction, EntryKey, MappingEntry, Role
from dysco_proto.events import (
    BoxOffset,
    ControlIn,
    EntryIdle,
    Event,
    PacketIn,
    PuntReason,
    Reconfigure,
    RelateProxy,
    RemoveMe,
    SlotSnapshot,
    TimerFired,
)
from dysco_proto.lock import LockState, LockStatus, Verdict, on_ack, on_cancel, on_nack, on_request
from dysco_proto.packet import FiveTuple, Segment, TcpFlags, TcpOptions
from dysco_proto.policy import PolicyTable
from dysco_proto.ports import PortPool, PortsExhausted
from dysco_proto.seqnum import seq_add, seq_ge
from dysco_proto.wire import (
    ControlCodec,
    ControlMessage,
    Handshake,
    MsgType,
    NackReason,
    RequestId,
    Transform,
    WireError,
    can_add_tag,
)

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
    close_timeout: float = 0.5  # after FIN both ways (or RST): remove the session
    pending_timeout: float = 2.0  # a box that never emits the continuation SYN
    anchor_timeout: float = 2.0  # right anchor staged but never committed: revert
    # a left anchor holds its host's new data (protocol-design.md 4.2) at most this long
    # waiting for the new path's handshake, then cancels (the data goes on the old path
    # again); below anchor_timeout, or the right anchor may revert under a committed path
    hold_timeout: float = 1.5
    done_linger: float = 2.0  # how long finished requests are remembered for duplicates
    max_backoff: float = 0.5
    slot_base: int = 1  # register slots this agent may use: [slot_base, slot_limit)
    slot_limit: int | None = None


@dataclass(frozen=True)
class AgentState:
    """Introspection snapshot (for the management API, the simulator and leak checks)."""

    sessions: int
    sides: int
    pending: int
    entries: frozenset[EntryKey]
    ports_in_use: int
    timers: int
    locks: Mapping[FiveTuple, tuple[str, RequestId | None]]
    active_reconfigs: int


@dataclass(frozen=True)
class SideView:
    """Read-only view of one session side (management API)."""

    which: str  # "left" | "right"
    local: str
    peer: str
    subsession: FiveTuple
    session: FiveTuple
    in_deltas: Deltas
    out_deltas: Deltas
    lock: str
    lock_request: RequestId | None
    busy: RequestId | None
    entries: int


@dataclass(frozen=True)
class SessionView:
    """Read-only view of this agent's state for one session (or a related proxy pair)."""

    id: int
    left: SideView | None
    right: SideView | None
    pending: bool
    closing: bool
    fin_lr: bool
    fin_rl: bool

    @property
    def session(self) -> FiveTuple:
        """The session tuple as the local host sees it (left side first)."""
        side = self.left or self.right
        assert side is not None
        return side.session


@dataclass(frozen=True)
class ReconfigView:
    """Read-only view of a reconfiguration this agent anchors."""

    request: RequestId
    role: str  # "left" | "right"
    phase: str
    tag: int
    session: FiveTuple
    peer_anchor: str


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


@dataclass(eq=False)
class Side:
    """One neighbour-facing half of a session at this agent (section 1)."""

    hop: Hop
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

    @property
    def in_key(self) -> EntryKey:
        return EntryKey(Direction.IN, self.sub if self.is_left else self.sub.reversed())

    @property
    def out_key(self) -> EntryKey:
        return EntryKey(Direction.OUT, self.stuple.reversed() if self.is_left else self.stuple)

    def in_entry(self, role: Role = Role.ONE) -> MappingEntry:
        target = self.stuple if self.is_left else self.stuple.reversed()
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
class Hop:
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
    close_tries: int = 0

    def sides(self) -> list[Side]:
        return [s for s in (self.left, self.right) if s is not None]


class LeftPhase(enum.StrEnum):
    LOCKING = "locking"
    PREPARING = "preparing"  # locked; probing registers for the new-path SYN
    SYN_SENT = "syn_sent"
    COMMITTING = "committing"  # freezing the cutoff
    COMMITTED = "committed"  # ack sent, waiting for ackAck
    SWITCHED = "switched"
    CANCELLING = "cancelling"


class RightPhase(enum.StrEnum):
    LOCKED = "locked"
    PREPARING = "preparing"  # new path staged on hold; probing (freeze) for the SYN-ACK
    SYN_RCVD = "syn_rcvd"
    SWITCHING = "switching"  # freezing the cutoff
    SWITCHED = "switched"


@dataclass(eq=False)
class LeftAnchor:
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


@dataclass(eq=False)
class RightAnchor:
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


@dataclass(eq=False)
class RightRequestState:
    request: RequestId
    side: Side
    right_anchor: str
    tag: int
    retries: int = 0


def _rid(r: RequestId) -> str:
    return f"{r.anchor}/{r.number}"


def _tr(d: Deltas) -> Transform:
    return Transform.wrap(d.seq, d.tsval)


MAX_CLOSE_TRIES = 20  # close checks before a closed session is removed anyway

HOLD = FiveTuple("0.0.0.0", 0, "0.0.0.0", 0)
"""The new rewrite an anchor stages while its new path is not yet a TCP connection to the new
boxes (protocol-design.md 4.2): data at or above the frozen cutoff is rewritten towards an
address no data plane routes (``ipv4_fwd`` misses: drop), i.e. held back; the host
retransmits it once the new path carries it (or, on a cancel, the old path does)."""


THIRD_ACK_WINDOW = 0xFFFF
"""The window field of the new path's third ACK. A stateful box on the new path lets the peer
send up to ``ack + (window << wscale)`` (conntrack's ``td_maxend``) until a segment of the host
with its real window passes; the peer has already sent up to its cutoff and, once the left
anchor commits, sends what it held back since. The agent does not know the host's current
window, so the ACK says the largest the field can: the peer's host may take it as a window
update until the host's next segment, which follows on the same path with the real one."""


def _strip(seg: Segment) -> Segment:
    """A SYN as a host must see it: no Dysco payload, no tag option."""
    return replace(seg, payload=b"", options=replace(seg.options, dysco_tag=None))


class Agent:
    """The sans-IO Dysco agent. Feed events to :meth:`handle`; execute the returned actions."""

    def __init__(self, config: AgentConfig) -> None:
        if not config.addresses:
            raise ValueError("an agent needs at least one address")
        self.config = config
        self.addresses = frozenset(config.addresses)
        self.policies = config.policies
        self.codec = ControlCodec(config.key)
        self.ports = PortPool(config.port_low, config.port_high, seed=config.seed)
        self._rng = random.Random(config.seed)
        self._msg_id = config.msg_id_base or 1
        self._req_number = self._rng.getrandbits(31)
        self._next_hop_id = 1
        self._next_slot = config.slot_base
        self._next_token = 1
        self._now = 0.0
        self._out: list[Action] = []
        self.hops: dict[int, Hop] = {}
        self.by_key: dict[EntryKey, Side] = {}
        self.left_by_sub: dict[FiveTuple, Side] = {}
        self.right_by_sub: dict[FiveTuple, Side] = {}
        self.left_by_stuple: dict[FiveTuple, Side] = {}
        self.right_by_stuple: dict[FiveTuple, Side] = {}
        self.slot_owner: dict[int, Side] = {}
        self.pending_by_tuple: dict[FiveTuple, Hop] = {}
        self.pending_by_tag: dict[int, Hop] = {}
        self.lefts: dict[RequestId, LeftAnchor] = {}
        self.rights: dict[RequestId, RightAnchor] = {}
        self.right_done: dict[RequestId, tuple[str, str, int]] = {}  # r -> (src, dst, cut)
        self.left_done: set[RequestId] = set()
        self.right_requests: dict[RequestId, RightRequestState] = {}
        self.abandoned: set[RequestId] = set()
        self.held_msgs: dict[tuple[FiveTuple, RequestId], tuple[ControlMessage, Side]] = {}
        self.tokens: dict[int, tuple[str, RequestId]] = {}
        self.timers: set[str] = set()
        self.counters: dict[str, int] = {}
        #: when set, every decoded control message is also reported as a ``control.in``
        #: observation (a protocol trace for debugging; off by default: it costs per message)
        self.trace = False

    # ------------------------------------------------------------------ entry point

    def handle(self, event: Event, now: float) -> list[Action]:
        """Process one event; return the actions to execute, in order."""
        self._now = now
        self._out = []
        if isinstance(event, PacketIn):
            self._on_packet(event)
        elif isinstance(event, ControlIn):
            self._on_control(event)
        elif isinstance(event, SlotSnapshot):
            self._on_snapshot(event)
        elif isinstance(event, TimerFired):
            self.timers.discard(event.timer_id)
            self._on_timer(event.timer_id)
        elif isinstance(event, EntryIdle):
            self._on_idle(event.key)
        elif isinstance(event, Reconfigure):
            self._cmd_reconfigure(event)
        elif isinstance(event, RemoveMe):
            self._cmd_remove_me(event)
        elif isinstance(event, RelateProxy):
            self._cmd_relate(event.inbound, event.outbound)
        elif isinstance(event, BoxOffset):
            self._cmd_box_offset(event)
        out, self._out = self._out, []
        return out

    def state(self) -> AgentState:
        """A snapshot of this agent's state sizes and lock table."""
        entries: set[EntryKey] = set()
        sides = 0
        locks: dict[FiveTuple, tuple[str, RequestId | None]] = {}
        for hop in self.hops.values():
            for s in hop.sides():
                sides += 1
                entries |= s.installed
                if not s.is_left:
                    locks[s.sub] = (s.lock.status.value, s.lock.request)
        return AgentState(
            sessions=len(self.hops),
            sides=sides,
            pending=len(self.pending_by_tag) + len(self.pending_by_tuple),
            entries=frozenset(entries),
            ports_in_use=sum(
                (s.own_port is not None) + sum(p is not None for p in s.retired.values())
                for h in self.hops.values()
                for s in h.sides()
            )
            + sum(1 for la in self.lefts.values() if la.new_port is not None),
            timers=len(self.timers),
            locks=locks,
            active_reconfigs=len(self.lefts) + len(self.rights),
        )

    def locks(self) -> dict[FiveTuple, tuple[str, RequestId | None]]:
        """Subsessions whose lock is not free (cheap: for per-step invariant checks)."""
        return {
            sub: (side.lock.status.value, side.lock.request)
            for sub, side in self.right_by_sub.items()
            if side.lock.status is not LockStatus.UNLOCKED
        }

    def sessions(self) -> list[SessionView]:
        """Views of every session (hop) this agent holds state for, by id."""

        def view(side: Side | None) -> SideView | None:
            if side is None:
                return None
            return SideView(
                "left" if side.is_left else "right",
                side.local,
                side.peer,
                side.sub,
                side.stuple,
                side.in_deltas,
                side.out_deltas,
                side.lock.status.value,
                side.lock.request,
                side.busy,
                len(side.installed),
            )

        return [
            SessionView(
                h.id,
                view(h.left),
                view(h.right),
                h.pending is not None,
                h.closing,
                h.fin_lr,
                h.fin_rl,
            )
            for h in sorted(self.hops.values(), key=lambda h: h.id)
        ]

    def reconfigs(self) -> list[ReconfigView]:
        """Reconfigurations in progress at this agent, as left or right anchor."""
        out = [
            ReconfigView(
                la.request, "left", la.phase.value, la.tag, la.side.stuple, la.right_anchor
            )
            for la in self.lefts.values()
        ]
        out += [
            ReconfigView(ra.request, "right", ra.phase.value, 0, ra.side.stuple, ra.left_anchor)
            for ra in self.rights.values()
        ]
        return out

    # ------------------------------------------------------------------ action helpers

    def _emit(self, action: Action) -> None:
        self._out.append(action)

    def _observe(self, kind: str, **fields: object) -> None:
        self.counters[kind] = self.counters.get(kind, 0) + 1
        self._emit(Observe(kind, dict(fields)))

    def _timer(self, timer_id: str, delay: float) -> None:
        self.timers.add(timer_id)
        self._emit(StartTimer(timer_id, delay))

    def _cancel_timer(self, timer_id: str) -> None:
        if timer_id in self.timers:
            self.timers.discard(timer_id)
            self._emit(CancelTimer(timer_id))

    def _backoff(self, retries: int) -> float:
        return float(min(self.config.max_backoff, self.config.rto * (2 ** min(retries, 10))))

    def _install(self, side: Side, entry: MappingEntry) -> None:
        side.installed.add(entry.key)
        self.by_key[entry.key] = side
        self._emit(InstallEntry(entry))

    def _modify(self, side: Side, entry: MappingEntry) -> None:
        self._emit(ModifyEntry(entry))

    def _remove_entry(self, side: Side, key: EntryKey) -> None:
        if key in side.installed:
            side.installed.discard(key)
            if self.by_key.get(key) is side:
                del self.by_key[key]
            self._emit(RemoveEntry(key))
        if key in side.retired:
            port = side.retired.pop(key)
            if port is not None:
                # the key is the reversed subsession: (peer, dport) -> (local, port)
                self.ports.release(key.match.dst_ip, key.match.src_ip, port)

    def _probe(self, side: Side, purpose: str, r: RequestId, freeze: bool = False) -> None:
        token = self._next_token
        self._next_token += 1
        self.tokens[token] = (purpose, r)
        self._emit(Probe(side.slot, token, freeze, side.epoch))

    def _send(self, msg: ControlMessage, src: str, dst: str) -> None:
        self._msg_id += 1
        data = self.codec.encode(replace(msg, sender=src, msg_id=self._msg_id))
        self._emit(SendControl(src, dst, data))

    def _new_request_id(self, anchor: str) -> RequestId:
        self._req_number = (self._req_number + 1) % MOD32
        return RequestId(anchor, self._req_number)

    # ------------------------------------------------------------------ sides and hops

    def _new_hop(self) -> Hop:
        hop = Hop(self._next_hop_id)
        self._next_hop_id += 1
        self.hops[hop.id] = hop
        return hop

    def _new_slot(self) -> int | None:
        """A register slot not used by a live side (wraps within the configured range)."""
        limit = self.config.slot_limit
        for _ in range(len(self.slot_owner) + 1):
            slot = self._next_slot
            self._next_slot += 1
            if limit is not None and self._next_slot >= limit:
                self._next_slot = self.config.slot_base
            if slot not in self.slot_owner:
                return slot
        return None

    def _index_side(self, side: Side) -> None:
        if side.is_left:
            self.left_by_sub[side.sub] = side
            self.left_by_stuple[side.stuple] = side
        else:
            self.right_by_sub[side.sub] = side
            self.right_by_stuple[side.stuple] = side
        self.slot_owner[side.slot] = side

    def _drop_pending(self, hop: Hop) -> None:
        if hop.pending is not None:
            self.pending_by_tag.pop(hop.pending.tag, None)
            if hop.left is not None and self.pending_by_tuple.get(hop.left.stuple) is hop:
                del self.pending_by_tuple[hop.left.stuple]
            hop.pending = None
            self._cancel_timer(f"pending:{hop.id}")

    def _remove_side(self, side: Side) -> None:
        hop = side.hop
        for key in list(side.installed):
            self._remove_entry(side, key)
        if side.is_left:
            if self.left_by_sub.get(side.sub) is side:
                del self.left_by_sub[side.sub]
            if self.left_by_stuple.get(side.stuple) is side:
                del self.left_by_stuple[side.stuple]
            self._drop_pending(hop)
            hop.left = None
        else:
            if self.right_by_sub.get(side.sub) is side:
                del self.right_by_sub[side.sub]
            if self.right_by_stuple.get(side.stuple) is side:
                del self.right_by_stuple[side.stuple]
            hop.right = None
        if side.own_port is not None:
            self.ports.release(side.local, side.peer, side.own_port)
            side.own_port = None
        if self.slot_owner.get(side.slot) is side:
            del self.slot_owner[side.slot]
        for (sub, r), (_m, from_side) in list(self.held_msgs.items()):
            if sub == side.sub or from_side is side:
                del self.held_msgs[(sub, r)]
        self._abort_anchors(side, "session-removed")
        for rr in [rr for rr in self.right_requests.values() if rr.side is side]:
            self._finish_right_request(rr, "cancelled", "session-removed")
        if not hop.sides():
            self._cancel_timer(f"close:{hop.id}")
            self._cancel_timer(f"pending:{hop.id}")
            self.hops.pop(hop.id, None)

    def _remove_hop(self, hop: Hop, reason: str) -> None:
        for side in hop.sides():
            self._remove_side(side)
        self.hops.pop(hop.id, None)
        self._observe("session.removed", hop=hop.id, reason=reason)

    def _abort_anchors(self, side: Side, reason: str) -> None:
        for la in [la for la in self.lefts.values() if la.side is side]:
            self._left_finish(la, "cancelled", reason)
        for ra in [ra for ra in self.rights.values() if ra.side is side]:
            self._right_forget(ra)

    # ------------------------------------------------------------------ packets

    def _on_packet(self, ev: PacketIn) -> None:
        seg = ev.segment
        if ev.reason is PuntReason.SYN:
            if ev.direction is Direction.OUT:
                self._syn_from_host(seg, ev.entry)
            else:
                self._syn_from_net(seg, ev.entry)
        elif ev.reason is PuntReason.SYNACK:
            self._synack_punt(seg, ev.entry)
        elif ev.reason is PuntReason.SYNACK_MIRROR:
            side = self.by_key.get(ev.entry) if ev.entry else None
            if side is not None:
                self._record_handshake(side, seg, outgoing=ev.direction is Direction.OUT)
        elif ev.reason in (PuntReason.FIN_MIRROR, PuntReason.RST_MIRROR):
            side = self.by_key.get(ev.entry) if ev.entry else None
            if side is not None and not self._held(side, ev.direction, seg):
                self._on_fin(side, ev.direction, ev.reason is PuntReason.RST_MIRROR)

    def _record_handshake(self, side: Side, seg: Segment, outgoing: bool) -> None:
        hs = side.hs
        opts = seg.options
        if outgoing:
            hs.isn_out = seg.seq
            hs.ts_out = opts.timestamp[0] if opts.timestamp else None
            hs.wscale_host = opts.wscale
            hs.mss = opts.mss or hs.mss
        else:
            hs.isn_in = seg.seq
            hs.ts_in = opts.timestamp[0] if opts.timestamp else None
            hs.wscale_peer = opts.wscale
        hs.sack_ok = hs.sack_ok or opts.sack_permitted
        hs.ts_ok = hs.ts_ok or opts.timestamp is not None

    def _syn_from_host(self, seg: Segment, key: EntryKey | None) -> None:
        side = self.by_key.get(key) if key else None
        if side is not None and not side.is_left and side.syn_msg is not None:
            self._record_handshake(side, seg, outgoing=True)
            self._send_chain_syn(side, seg)  # the host retransmitted its SYN
            return
        hop = None
        tag = seg.options.dysco_tag
        if tag is not None:
            hop = self.pending_by_tag.get(tag)
        if hop is None:
            hop = self.pending_by_tuple.get(seg.tuple)
        if hop is not None and hop.pending is not None and hop.right is None:
            pend = hop.pending
            self._drop_pending(hop)
            self._create_right_side(hop, seg, pend.hops[0], pend.hops[1:], pend.msg)
            return
        policy = self.policies.match(seg.tuple) if seg.tuple.src_ip in self.addresses else None
        if policy is None or seg.tuple.src_ip in policy.chain:
            self._emit(SendPacket(_strip(seg), Toward.NETWORK))
            return
        if seg.tuple in self.right_by_stuple:
            self._observe("setup.conflict", tuple=str(seg.tuple))
            return
        chain = (*policy.chain, seg.tuple.dst_ip)
        hop = self._new_hop()
        self._observe("session.new", hop=hop.id, tuple=str(seg.tuple), policy=policy.name)
        if not self._create_right_side(hop, seg, chain[0], chain[1:], None):
            self.hops.pop(hop.id, None)

    def _evict_stale(self, side: Side) -> bool:
        """Remove the hop of ``side`` if it is an idle remnant (an old path not yet collected).

        A session re-enters a box host it left (a box removed, then inserted again) with the
        same session tuple; the old hop's entries would collide with the new ones. A hop with
        a reconfiguration in progress is never evicted.
        """
        hop = side.hop
        if any(s.busy is not None for s in hop.sides()) or hop.pending is not None:
            return False
        if any(rr.side.hop is hop for rr in self.right_requests.values()):
            return False
        self._remove_hop(hop, "replaced")
        return True

    def _create_right_side(
        self,
        hop: Hop,
        seg: Segment,
        next_hop: str,
        remaining: tuple[str, ...],
        template: ControlMessage | None,
    ) -> bool:
        stale = self.right_by_stuple.get(seg.tuple)
        if stale is not None and stale.hop is not hop and not self._evict_stale(stale):
            self._observe("setup.conflict", tuple=str(seg.tuple))
            return False
        local = hop.left.local if hop.left is not None else seg.tuple.src_ip
        slot = self._new_slot()
        if slot is None:
            self._observe("setup.slots_exhausted", local=local)
            return False
        try:
            port = self.ports.allocate(local, next_hop)
        except PortsExhausted:
            self._observe("setup.ports_exhausted", local=local, peer=next_hop)
            return False
        sub = FiveTuple(local, port, next_hop, seg.tuple.dst_port)
        side = Side(hop, False, local, next_hop, sub, seg.tuple, slot, own_port=port)
        self._record_handshake(side, seg, outgoing=True)
        hop.right = side
        self._index_side(side)
        self._install(side, side.in_entry())
        self._install(side, side.out_entry())
        if template is None:
            msg = ControlMessage(
                MsgType.CHAIN, RequestId(local, 0), local, left_session=seg.tuple, hops=remaining
            )
        else:
            msg = replace(template, left_session=seg.tuple, hops=remaining)
        side.syn_msg = msg
        self._send_chain_syn(side, seg)
        return True

    def _send_chain_syn(self, side: Side, seg: Segment) -> None:
        assert side.syn_msg is not None
        self._msg_id += 1
        payload = self.codec.encode(replace(side.syn_msg, sender=side.local, msg_id=self._msg_id))
        out = replace(_strip(seg), tuple=side.sub, payload=payload)
        self._emit(SendPacket(out, Toward.NETWORK))

    def _syn_from_net(self, seg: Segment, key: EntryKey | None) -> None:
        side = self.by_key.get(key) if key else None
        if side is not None:
            if key != side.in_key:  # new-path IN entry of a right anchor: a repeated new-path SYN
                ra = self._right_for_side(side)
                if (
                    ra is not None
                    and ra.new_sub == seg.tuple
                    and ra.phase in (RightPhase.SYN_RCVD, RightPhase.SWITCHED)
                ):
                    self._ra_send_synack(ra)  # (while still preparing: the answer follows)
                return
            self._deliver_syn(side, seg)  # a retransmitted chain SYN
            return
        if not seg.payload or ControlCodec.peek_type(seg.payload) is None:
            self._emit(SendPacket(seg, Toward.HOST, seg.tuple.dst_ip))  # not ours: plain TCP
            return
        try:
            msg = self.codec.decode(seg.payload)
        except WireError as err:
            self._observe("control.rejected", code=err.code, src=seg.tuple.src_ip, where="syn")
            return
        if msg.type is MsgType.SYN and not msg.hops:
            self._ra_syn(seg, msg)
            return
        if msg.type not in (MsgType.CHAIN, MsgType.SYN) or msg.left_session is None:
            self._observe("control.unexpected", type=msg.type.name, where="syn")
            return
        if seg.tuple.dst_ip not in self.addresses:
            return
        stale = self.left_by_stuple.get(msg.left_session)
        if stale is not None and not self._evict_stale(stale):
            self._observe("setup.conflict", tuple=str(msg.left_session))
            return
        slot = self._new_slot()
        if slot is None:
            self._observe("setup.slots_exhausted", local=seg.tuple.dst_ip)
            return
        hop = self._new_hop()
        local = seg.tuple.dst_ip
        side = Side(hop, True, local, seg.tuple.src_ip, seg.tuple, msg.left_session, slot)
        hop.left = side
        self._index_side(side)
        self._install(side, side.in_entry())
        self._install(side, side.out_entry())
        if msg.hops:
            tag = self._rng.getrandbits(32)
            while tag in self.pending_by_tag:
                tag = self._rng.getrandbits(32)
            hop.pending = Pending(msg.hops, tag, msg)
            self.pending_by_tag[tag] = hop
            self.pending_by_tuple[side.stuple] = hop
            self._timer(f"pending:{hop.id}", self.config.pending_timeout)
        self._deliver_syn(side, seg)

    def _deliver_syn(self, side: Side, seg: Segment) -> None:
        host = replace(_strip(seg), tuple=side.stuple)
        self._record_handshake(side, host, outgoing=False)
        pend = side.hop.pending
        if pend is not None:
            if can_add_tag(host.options):
                host = replace(host, options=replace(host.options, dysco_tag=pend.tag))
            else:
                self._observe("setup.no_tag_space", tuple=str(side.stuple))
        self._emit(SendPacket(host, Toward.HOST, side.local))

    def _synack_punt(self, seg: Segment, key: EntryKey | None) -> None:
        side = self.by_key.get(key) if key else None
        if side is None:
            return
        la = self._left_for_side(side)
        if la is not None and la.new_sub is not None and seg.tuple == la.new_sub.reversed():
            if la.synack_seq is None:
                la.synack_seq = seg.seq
            self._left_maybe_commit(la)

    def _on_fin(self, side: Side, direction: Direction, rst: bool) -> None:
        hop = side.hop
        rightward = (direction is Direction.OUT) != side.is_left
        if rightward:
            hop.fin_lr = True
        else:
            hop.fin_rl = True
        hop.reset = hop.reset or rst
        if (rst or (hop.fin_lr and hop.fin_rl)) and not hop.closing:
            hop.closing = True
            self._timer(f"close:{hop.id}", self.config.close_timeout)

    def _close_check(self, hop: Hop) -> None:
        """Both FINs were seen: remove the session once everything each side sent (the FIN
        included) is acknowledged. A FIN seen here may still be lost further on (or held by a
        new path's anchor, 4.2): its retransmission must still find the entries."""
        sides = hop.sides()
        if hop.reset or not sides or hop.close_tries >= MAX_CLOSE_TRIES:
            self._remove_hop(hop, "closed")
            return
        hop.close_wait = len(sides)
        hop.close_ok = True
        for side in sides:
            self._probe(side, "close", RequestId("0.0.0.0", hop.id))

    def is_retired(self, key: EntryKey) -> bool:
        """Whether ``key`` is an old path's IN entry kept after a fold for late packets (a
        data-plane adapter may report those idle sooner than a session's own entries)."""
        side = self.by_key.get(key)
        return side is not None and key in side.retired

    def _on_idle(self, key: EntryKey) -> None:
        side = self.by_key.get(key)
        if side is None:
            return
        if key in side.retired:
            self._remove_entry(side, key)
            return
        if side.busy is not None or any(rr.side is side for rr in self.right_requests.values()):
            return
        if side.hop.pending is not None:
            return
        self._remove_entry(side, key)
        if not side.installed:
            hop = side.hop
            self._remove_side(side)
            if not hop.sides():
                self._observe("session.removed", hop=hop.id, reason="idle")

    # ------------------------------------------------------------------ timers

    def _on_timer(self, tid: str) -> None:
        kind, _, arg = tid.partition(":")
        if kind == "close" or kind == "pending":
            hop = self.hops.get(int(arg))
            if hop is None:
                return
            if kind == "close":
                self._close_check(hop)
            else:
                self._drop_pending(hop)
            return
        r = self._parse_rid(arg)
        if r is None:
            return
        la = self.lefts.get(r)
        ra = self.rights.get(r)
        if kind == "lock" and la is not None and la.phase is LeftPhase.LOCKING:
            self._left_retry(la)
        elif kind == "syn" and la is not None and la.phase is LeftPhase.SYN_SENT:
            if la.retries >= self.config.syn_retries or self._held_too_long(la):
                self._left_cancel(la, "new-path-timeout")
            else:
                la.retries += 1
                self._left_send_syn(la)
        elif kind == "ack" and la is not None and la.phase is LeftPhase.COMMITTED:
            la.retries += 1  # committed: never give up while the session lives
            self._left_send_ack(la)
        elif kind == "cancel" and la is not None and la.phase is LeftPhase.CANCELLING:
            if la.retries >= self.config.max_retries:
                self._left_finish(la, "cancelled", la.cancel_reason)
            else:
                la.retries += 1
                self._left_send_cancel(la)
        elif kind == "probe" and la is not None and la.phase is LeftPhase.SWITCHED:
            self._probe(la.side, "check", r)
            self._timer(f"probe:{_rid(r)}", self.config.rto * 4)
        elif kind == "lprobe" and la is not None and la.phase is LeftPhase.PREPARING:
            self._probe(la.side, "syn", r, freeze=True)
        elif kind == "cprobe" and la is not None and la.phase is LeftPhase.COMMITTING:
            if self._held_too_long(la):  # not committed yet: the right anchor only holds
                self._left_cancel(la, "new-path-timeout")
            else:
                self._probe(la.side, "commit", r)
        elif kind == "cprobe" and ra is not None and ra.phase is RightPhase.SWITCHING:
            self._probe(ra.side, "rcommit", r, freeze=True)
        elif kind == "rsprobe" and ra is not None and ra.phase is RightPhase.PREPARING:
            self._probe(ra.side, "rsyn", r, freeze=True)
        elif kind == "rprobe" and ra is not None and ra.phase is RightPhase.SWITCHED:
            self._probe(ra.side, "rcheck", r)
            self._timer(f"rprobe:{_rid(r)}", self.config.rto * 4)
        elif (
            kind == "ranchor"
            and ra is not None
            and ra.phase
            in (
                RightPhase.LOCKED,
                RightPhase.PREPARING,
                RightPhase.SYN_RCVD,
            )
        ):
            self._observe("reconfig.right_timeout", request=r)
            self._right_revert(ra)
        elif kind == "done":
            self.right_done.pop(r, None)
            self.left_done.discard(r)
        elif kind == "rr":
            rr = self.right_requests.get(r)
            if rr is not None:
                if rr.retries >= self.config.max_retries:
                    self.abandoned.add(r)
                    self._timer(f"done:{_rid(r)}", self.config.done_linger * 10)
                    self._finish_right_request(rr, "cancelled", "right-request-timeout")
                else:
                    rr.retries += 1
                    self._send_right_request(rr)

    def _held_too_long(self, la: LeftAnchor) -> bool:
        return la.held_since is not None and self._now - la.held_since >= self.config.hold_timeout

    @staticmethod
    def _parse_rid(arg: str) -> RequestId | None:
        anchor, _, num = arg.rpartition("/")
        if not anchor or not num.isdigit():
            return None
        return RequestId(anchor, int(num))

    # ------------------------------------------------------------------ commands

    def _cmd_reconfigure(self, cmd: Reconfigure) -> None:
        side = self.right_by_stuple.get(cmd.session)
        if side is None:
            self._observe("reconfig.refused", tag=cmd.request_tag, reason="no-session")
            return
        reason = self._left_refusal(side, cmd.right_anchor, cmd.new_boxes)
        if reason:
            self._observe("reconfig.refused", tag=cmd.request_tag, reason=reason)
            return
        r = self._new_request_id(side.local)
        self._left_start(side, r, cmd.right_anchor, tuple(cmd.new_boxes), cmd.request_tag)

    def _left_refusal(self, side: Side, right_anchor: str, new_boxes: tuple[str, ...]) -> str:
        if side.hop.closing:
            return "closing"
        if side.busy is not None or not side.lock.free:
            return "busy"
        if len(new_boxes) > 14:
            return "too-many-boxes"
        if right_anchor in self.addresses or right_anchor in new_boxes:
            return "bad-anchor"
        if right_anchor == side.peer and not new_boxes:
            return "nothing-to-do"
        return ""

    def _cmd_remove_me(self, cmd: RemoveMe) -> None:
        if cmd.outbound is not None:
            self._cmd_relate(cmd.session, cmd.outbound)
        side = self.left_by_stuple.get(cmd.session)
        if side is None or side.hop.right is None:
            self._observe("reconfig.refused", tag=cmd.request_tag, reason="no-session")
            return
        r = self._new_request_id(side.local)
        rr = RightRequestState(r, side, side.hop.right.peer, cmd.request_tag)
        self.right_requests[r] = rr
        self._observe("reconfig.right_request", tag=cmd.request_tag, request=r)
        self._send_right_request(rr)

    def _send_right_request(self, rr: RightRequestState) -> None:
        side = rr.side
        msg = ControlMessage(
            MsgType.RIGHT_REQUEST,
            rr.request,
            side.local,
            left_anchor=side.peer,
            right_anchor=rr.right_anchor,
            subsession=side.sub,
            tag=rr.tag,
        )
        self._send(msg, side.local, side.peer)
        self._timer(f"rr:{_rid(rr.request)}", self._backoff(rr.retries))

    def _finish_right_request(self, rr: RightRequestState, outcome: str, reason: str) -> None:
        self.right_requests.pop(rr.request, None)
        self._cancel_timer(f"rr:{_rid(rr.request)}")
        if outcome:
            self._observe(f"reconfig.{outcome}", tag=rr.tag, request=rr.request, reason=reason)

    def _cmd_relate(self, inbound: FiveTuple, outbound: FiveTuple) -> None:
        lside = self.left_by_stuple.get(inbound)
        rside = self.right_by_stuple.get(outbound)
        if lside is None or rside is None:
            self._observe("relate.unknown", inbound=str(inbound), outbound=str(outbound))
            return
        h1, h2 = lside.hop, rside.hop
        if h1 is h2:
            return
        if h1.right is not None or h2.left is not None:
            self._observe("relate.conflict", inbound=str(inbound), outbound=str(outbound))
            return
        self._drop_pending(h1)
        h1.right = rside
        rside.hop = h1
        h1.fin_lr = h1.fin_lr or h2.fin_lr
        h1.fin_rl = h1.fin_rl or h2.fin_rl
        self._cancel_timer(f"close:{h2.id}")
        self.hops.pop(h2.id, None)
        self._observe("relate.ok", hop=h1.id)

    def _cmd_box_offset(self, cmd: BoxOffset) -> None:
        side = self.left_by_stuple.get(cmd.session)
        if side is None:
            self._observe("offset.unknown", session=str(cmd.session))
            return
        side.hop.offset_lr = cmd.offset_lr
        side.hop.offset_rl = cmd.offset_rl

    # ------------------------------------------------------------------ control messages

    def _on_control(self, ev: ControlIn) -> None:
        try:
            msg = self.codec.decode(ev.data)
        except WireError as err:
            self._observe("control.rejected", code=err.code, src=ev.src_ip)
            return
        if self.trace:
            self._observe(
                "control.in",
                type=msg.type.name,
                request=_rid(msg.request),
                sender=msg.sender,
                sub=str(msg.subsession),
                reason=msg.reason.name,
            )
        handler = {
            MsgType.REQUEST_LOCK: self._on_request_lock,
            MsgType.ACK_LOCK: self._on_ack_lock,
            MsgType.NACK_LOCK: self._on_nack_lock,
            MsgType.CANCEL_LOCK: self._on_cancel_lock,
            MsgType.ACK_CANCEL: self._on_ack_cancel,
            MsgType.RIGHT_REQUEST: self._on_right_request,
            MsgType.SYN_ACK: self._on_syn_ack_msg,
            MsgType.ACK: self._on_ack_msg,
            MsgType.ACK_ACK: self._on_ack_ack_msg,
        }.get(msg.type)
        if handler is None:
            self._observe("control.unexpected", type=msg.type.name)
            return
        handler(msg)

    def _hop_transform_lr(self, hop: Hop) -> Transform:
        left, right = hop.left, hop.right
        assert left is not None and right is not None
        box_seq = box_ts = 0
        if left.hs.isn_in is not None and right.hs.isn_out is not None:
            box_seq = right.hs.isn_out - left.hs.isn_in
        if left.hs.ts_in is not None and right.hs.ts_out is not None:
            box_ts = right.hs.ts_out - left.hs.ts_in
        box = Transform.wrap(box_seq + hop.offset_lr, box_ts)
        return _tr(left.in_deltas) + box + _tr(right.out_deltas)

    def _hop_transform_rl(self, hop: Hop) -> Transform:
        left, right = hop.left, hop.right
        assert left is not None and right is not None
        box_seq = box_ts = 0
        if right.hs.isn_in is not None and left.hs.isn_out is not None:
            box_seq = left.hs.isn_out - right.hs.isn_in
        if right.hs.ts_in is not None and left.hs.ts_out is not None:
            box_ts = left.hs.ts_out - right.hs.ts_in
        box = Transform.wrap(box_seq + hop.offset_rl, box_ts)
        return _tr(right.in_deltas) + box + _tr(left.out_deltas)

    def _nack_left(self, msg: ControlMessage, side: Side, reason: NackReason) -> None:
        """Refuse request ``msg.request`` towards the left neighbour on ``side``."""
        nack = ControlMessage(
            MsgType.NACK_LOCK,
            msg.request,
            side.local,
            left_anchor=msg.left_anchor,
            right_anchor=msg.right_anchor,
            subsession=side.sub,
            reason=reason,
            tag=msg.tag,
        )
        self._send(nack, side.local, side.peer)

    def _reply_unknown(self, msg: ControlMessage, mtype: MsgType) -> None:
        """Answer a hop-by-hop message for a subsession we hold no state for (it ended)."""
        if msg.subsession is None or msg.subsession.dst_ip not in self.addresses:
            return
        reply = ControlMessage(
            mtype,
            msg.request,
            msg.subsession.dst_ip,
            left_anchor=msg.left_anchor,
            right_anchor=msg.right_anchor,
            subsession=msg.subsession,
            reason=NackReason.NOT_FOUND if mtype is MsgType.NACK_LOCK else NackReason.NONE,
            tag=msg.tag,
        )
        self._send(reply, msg.subsession.dst_ip, msg.subsession.src_ip)

    def _on_request_lock(self, msg: ControlMessage) -> None:
        side = self.left_by_sub.get(msg.subsession) if msg.subsession else None
        if side is None:
            self._observe("lock.unknown_subsession", request=msg.request)
            self._reply_unknown(msg, MsgType.NACK_LOCK)
            return
        r = msg.request
        rr = self.right_requests.get(r)
        if rr is not None:
            self._finish_right_request(rr, "", "")  # our rightRequest was taken up
        if msg.right_anchor in self.addresses:
            self._ra_request(msg, side)
            return
        if r in self.abandoned:
            self._nack_left(msg, side, NackReason.POLICY)
            return
        hop = side.hop
        rside = hop.right
        if rside is None:
            self._nack_left(msg, side, NackReason.NOT_FOUND)
            return
        verdict = on_request(rside.lock, r)
        if verdict is Verdict.FORWARD:
            fwd = replace(
                msg, subsession=rside.sub, delta_lr=msg.delta_lr + self._hop_transform_lr(hop)
            )
            self._send(fwd, rside.local, rside.peer)
        elif verdict is Verdict.HOLD:
            self.held_msgs[(rside.sub, r)] = (msg, side)
            self._observe("lock.held", request=r)
        else:
            self._nack_left(msg, side, NackReason.LOCKED)

    def _ra_request(self, msg: ControlMessage, side: Side) -> None:
        r = msg.request
        ra = self.rights.get(r)
        if ra is None:
            if r in self.right_done:
                return
            if side.busy is not None or side.hop.closing:
                self._nack_left(msg, side, NackReason.BUSY)
                return
            phi = msg.delta_lr + _tr(side.in_deltas)
            ra = RightAnchor(r, side, msg.left_anchor, phi)
            self.rights[r] = ra
            side.busy = r
            self._timer(f"ranchor:{_rid(r)}", self.config.anchor_timeout)
            self._observe("reconfig.right_locked", request=r)
        ack = ControlMessage(
            MsgType.ACK_LOCK,
            r,
            side.local,
            left_anchor=msg.left_anchor,
            right_anchor=msg.right_anchor,
            subsession=side.sub,
            delta_lr=ra.phi_lr,
            delta_rl=_tr(side.out_deltas),
            tag=msg.tag,
        )
        self._send(ack, side.local, side.peer)

    def _release_held(self, rside: Side, nxt: RequestId | None) -> None:
        if nxt is None:
            return
        held = self.held_msgs.pop((rside.sub, nxt), None)
        if held is not None:
            self._on_request_lock(held[0])

    def _on_ack_lock(self, msg: ControlMessage) -> None:
        rside = self.right_by_sub.get(msg.subsession) if msg.subsession else None
        if rside is None:
            self._observe("lock.unknown_subsession", request=msg.request)
            return
        r = msg.request
        verdict, refused = on_ack(rside.lock, r)
        if verdict is Verdict.DROP:
            self._observe("lock.stale", type="ackLock", request=r)
            if r in self.left_done:
                # A late retransmission of our finished request re-took locks down the path
                # (found by the Spin model): release them.
                cancel = ControlMessage(
                    MsgType.CANCEL_LOCK,
                    r,
                    rside.local,
                    left_anchor=msg.left_anchor,
                    right_anchor=msg.right_anchor,
                    subsession=rside.sub,
                    tag=msg.tag,
                )
                self._send(cancel, rside.local, rside.peer)
            return
        for h in refused:
            held = self.held_msgs.pop((rside.sub, h), None)
            if held is not None:
                self._nack_left(held[0], held[1], NackReason.LOCKED)
        la = self.lefts.get(r)
        if la is not None:
            if la.phase is LeftPhase.LOCKING and la.side is rside:
                self._left_locked(la, msg)
            return
        lside = rside.hop.left
        if lside is None:
            return
        fwd = replace(
            msg, subsession=lside.sub, delta_rl=msg.delta_rl + self._hop_transform_rl(rside.hop)
        )
        self._send(fwd, lside.local, lside.peer)

    def _on_nack_lock(self, msg: ControlMessage) -> None:
        r = msg.request
        rside = self.right_by_sub.get(msg.subsession) if msg.subsession else None
        if rside is None:
            # A refusal of our rightRequest comes from the left neighbour.
            rr = self.right_requests.get(r)
            if rr is not None and msg.subsession == rr.side.sub:
                self._finish_right_request(rr, "refused", f"nack-{msg.reason.name.lower()}")
            return
        verdict, nxt = on_nack(rside.lock, r)
        if verdict is Verdict.DROP:
            self._observe("lock.stale", type="nackLock", request=r)
            return
        la = self.lefts.get(r)
        if la is not None:
            if la.side is rside:
                outcome = "" if msg.reason is NackReason.POLICY else "refused"
                self._left_finish(la, outcome, f"nack-{msg.reason.name.lower()}")
        else:
            rr = self.right_requests.get(r)
            if rr is not None:
                self._finish_right_request(rr, "", "")
            lside = rside.hop.left
            if lside is not None:
                self._send(replace(msg, subsession=lside.sub), lside.local, lside.peer)
        self._release_held(rside, nxt)

    def _on_cancel_lock(self, msg: ControlMessage) -> None:
        side = self.left_by_sub.get(msg.subsession) if msg.subsession else None
        if side is None:
            self._reply_unknown(msg, MsgType.ACK_CANCEL)
            return
        r = msg.request
        reply = ControlMessage(
            MsgType.ACK_CANCEL,
            r,
            side.local,
            left_anchor=msg.left_anchor,
            right_anchor=msg.right_anchor,
            subsession=side.sub,
            tag=msg.tag,
        )
        if msg.right_anchor in self.addresses:
            ra = self.rights.get(r)
            if ra is not None and ra.phase in (
                RightPhase.LOCKED,
                RightPhase.PREPARING,
                RightPhase.SYN_RCVD,
            ):
                self._right_revert(ra)
            self._send(reply, side.local, side.peer)
            return
        rside = side.hop.right
        if rside is None:
            self._send(reply, side.local, side.peer)
            return
        _verdict, nxt = on_cancel(rside.lock, r)
        self.held_msgs.pop((rside.sub, r), None)
        self._send(replace(msg, subsession=rside.sub), rside.local, rside.peer)
        self._release_held(rside, nxt)

    def _on_ack_cancel(self, msg: ControlMessage) -> None:
        rside = self.right_by_sub.get(msg.subsession) if msg.subsession else None
        if rside is None:
            return
        la = self.lefts.get(msg.request)
        if la is not None and la.side is rside:
            if la.phase is LeftPhase.CANCELLING:
                self._left_finish(la, "cancelled", la.cancel_reason)
            return
        lside = rside.hop.left
        if lside is not None:
            self._send(replace(msg, subsession=lside.sub), lside.local, lside.peer)

    def _on_right_request(self, msg: ControlMessage) -> None:
        rside = self.right_by_sub.get(msg.subsession) if msg.subsession else None
        r = msg.request
        if rside is None:
            return
        if r in self.lefts or r in self.left_done:
            return  # a retransmission of a request we already run or ran
        reason = self._left_refusal(rside, msg.right_anchor, msg.hops)
        if reason:
            nack = ControlMessage(
                MsgType.NACK_LOCK,
                r,
                rside.local,
                left_anchor=rside.local,
                right_anchor=msg.right_anchor,
                subsession=rside.sub,
                reason=NackReason.BUSY,
                tag=msg.tag,
            )
            self._send(nack, rside.local, rside.peer)
            return
        self._left_start(rside, r, msg.right_anchor, msg.hops, msg.tag)

    # ------------------------------------------------------------------ left anchor

    def _held(self, side: Side, direction: Direction, seg: Segment) -> bool:
        """Whether our host's segment went into the hold of a new path (4.2): the data plane
        mirrored it but dropped it, so its FIN does not count (the host sends it again)."""
        if direction is not Direction.OUT or seg.flags & TcpFlags.RST:
            return False
        la = self._left_for_side(side)
        if la is not None and la.phase in (LeftPhase.SYN_SENT, LeftPhase.COMMITTING):
            cut = la.cut
        else:
            ra = self._right_for_side(side)
            held = ra is not None and ra.phase in (RightPhase.PREPARING, RightPhase.SYN_RCVD)
            cut = ra.cut if held and ra is not None else None
        return cut is not None and seq_ge(seq_add(seg.seq, len(seg.payload)), cut)

    def _left_for_side(self, side: Side) -> LeftAnchor | None:
        return self.lefts.get(side.busy) if side.busy is not None else None

    def _right_for_side(self, side: Side) -> RightAnchor | None:
        return self.rights.get(side.busy) if side.busy is not None else None

    def _left_start(
        self, side: Side, r: RequestId, right_anchor: str, boxes: tuple[str, ...], tag: int
    ) -> None:
        la = LeftAnchor(r, side, right_anchor, boxes, tag, self._now)
        self.lefts[r] = la
        side.busy = r
        verdict = on_request(side.lock, r)
        assert verdict is Verdict.FORWARD
        self._observe("reconfig.started", tag=tag, request=r, right_anchor=right_anchor)
        self._left_send_request(la)

    def _left_retry(self, la: LeftAnchor) -> None:
        if la.retries >= self.config.max_retries:
            self._left_cancel(la, "lock-timeout")
            return
        la.retries += 1
        self._left_send_request(la)

    def _left_msg(self, la: LeftAnchor, mtype: MsgType, **kw: Any) -> ControlMessage:
        return replace(
            ControlMessage(
                mtype,
                la.request,
                la.side.local,
                left_anchor=la.side.local,
                right_anchor=la.right_anchor,
                tag=la.tag,
            ),
            **kw,
        )

    def _left_send_request(self, la: LeftAnchor) -> None:
        side = la.side
        msg = self._left_msg(
            la,
            MsgType.REQUEST_LOCK,
            subsession=side.sub,
            delta_lr=_tr(side.out_deltas),
            hops=la.new_boxes,
        )
        self._send(msg, side.local, side.peer)
        self._timer(f"lock:{_rid(la.request)}", self._backoff(la.retries))

    def _left_locked(self, la: LeftAnchor, msg: ControlMessage) -> None:
        side = la.side
        self._cancel_timer(f"lock:{_rid(la.request)}")
        la.phi_lr = msg.delta_lr
        la.phi_rl = msg.delta_rl + _tr(side.in_deltas)
        first = la.new_boxes[0] if la.new_boxes else la.right_anchor
        try:
            port = self.ports.allocate(side.local, first)
        except PortsExhausted:
            self._left_cancel(la, "ports-exhausted")
            return
        la.new_port = port
        la.new_sub = FiveTuple(side.local, port, first, side.stuple.dst_port)
        side.epoch += 1
        new_in = MappingEntry(
            EntryKey(Direction.IN, la.new_sub.reversed()),
            side.stuple.reversed(),
            ZERO,
            side.slot,
            Role.NEW,
            epoch=side.epoch,
        )
        self._install(side, new_in)
        # Held until the new path is a TCP connection through the new boxes: the freeze below
        # fixes the cutoff, the SYN starts exactly there, and nothing at or above it travels
        # on either path before the SYN-ACK came back (4.2).
        staged = replace(side.out_entry(), new_rewrite=HOLD, new_deltas=ZERO)
        self._modify(side, staged)
        la.phase = LeftPhase.PREPARING
        la.retries = 0
        self._probe(side, "syn", la.request, freeze=True)

    def _left_send_syn(self, la: LeftAnchor) -> None:
        side = la.side
        hs = side.hs
        assert la.new_sub is not None
        hops = (*la.new_boxes[1:], la.right_anchor) if la.new_boxes else ()
        msg = self._left_msg(
            la,
            MsgType.SYN,
            left_session=side.stuple,
            delta_lr=la.phi_lr,
            delta_rl=la.phi_rl,
            hops=hops,
            handshake=Handshake(
                seq=la.syn_seq,
                ack=la.syn_ack,
                tsval=hs.ts_out or 0,
                tsecr=hs.ts_in or 0,
                wscale_host=hs.wscale_host,
                wscale_peer=hs.wscale_peer,
                sack_ok=hs.sack_ok,
                ts_ok=hs.ts_ok,
                mss=hs.mss,
            ),
            cutoff=la.cut,
        )
        self._msg_id += 1
        payload = self.codec.encode(replace(msg, msg_id=self._msg_id))
        opts = TcpOptions(
            mss=hs.mss or None,
            wscale=hs.wscale_host,
            sack_permitted=hs.sack_ok,
            timestamp=(hs.ts_out or 0, 0) if hs.ts_ok else None,
        )
        # a SYN as the host's stack would send it at the cutoff: the session's options, no ack
        syn = Segment(la.new_sub, la.syn_seq, 0, TcpFlags.SYN, 65535, opts, payload)
        self._emit(SendPacket(syn, Toward.NETWORK))
        self._timer(f"syn:{_rid(la.request)}", self._backoff(la.retries + 1))

    def _left_maybe_commit(self, la: LeftAnchor) -> None:
        if la.phase is not LeftPhase.SYN_SENT or la.synack_seq is None or la.peer_hs is None:
            return
        self._cancel_timer(f"syn:{_rid(la.request)}")
        la.phase = LeftPhase.COMMITTING
        la.retries = 0
        self._probe(la.side, "commit", la.request)

    def _left_commit(self, la: LeftAnchor) -> None:
        """Our host has acknowledged everything the peer sent on the old path (up to the
        peer's cutoff, the SYN-ACK's seq + 1): the third ACK can acknowledge exactly the
        SYN-ACK, as in a real handshake, and it is a true claim when it reaches the peer's
        host. Then the held data goes on the new path (same epoch: the cutoff stays)."""
        assert la.new_sub is not None and la.cut is not None and la.synack_seq is not None
        side = la.side
        ack = Segment(la.new_sub, la.cut, seq_add(la.synack_seq, 1), TcpFlags.ACK, THIRD_ACK_WINDOW)
        self._emit(SendPacket(ack, Toward.NETWORK))
        self._modify(side, replace(side.out_entry(), new_rewrite=la.new_sub, new_deltas=ZERO))
        la.phase = LeftPhase.COMMITTED
        la.retries = 0
        self._left_send_ack(la)

    def _left_send_ack(self, la: LeftAnchor) -> None:
        msg = self._left_msg(la, MsgType.ACK, cutoff=la.cut)
        self._send(msg, la.side.local, la.right_anchor)
        self._timer(f"ack:{_rid(la.request)}", self._backoff(la.retries))

    def _left_send_cancel(self, la: LeftAnchor) -> None:
        side = la.side
        msg = self._left_msg(la, MsgType.CANCEL_LOCK, subsession=side.sub)
        self._send(msg, side.local, side.peer)
        self._timer(f"cancel:{_rid(la.request)}", self._backoff(la.retries))

    def _left_unstage(self, la: LeftAnchor) -> None:
        """Undo a staged new path (never after commit). The new IN entry is retired, not
        removed: the right anchor's SYN-ACK and window update may still be on their way, and
        without an entry they would reach the host with the new subsession's tuple (its RST
        would travel the new path back to the peer's host with an in-window seq)."""
        side = la.side
        if la.new_sub is not None:
            key = EntryKey(Direction.IN, la.new_sub.reversed())
            if key in side.installed:
                side.retired[key] = la.new_port  # port released with the entry
                la.new_port = None
            self._restamp(side)
        if la.new_port is not None and la.new_sub is not None:
            self.ports.release(side.local, la.new_sub.dst_ip, la.new_port)
            la.new_port = None

    def _left_cancel(self, la: LeftAnchor, reason: str) -> None:
        for t in ("lock", "syn", "lprobe", "cprobe"):
            self._cancel_timer(f"{t}:{_rid(la.request)}")
        self._left_unstage(la)
        la.phase = LeftPhase.CANCELLING
        la.cancel_reason = reason
        la.retries = 0
        self._left_send_cancel(la)

    def _left_finish(self, la: LeftAnchor, outcome: str, reason: str) -> None:
        """End a request at its left anchor with a terminal outcome ('' for none)."""
        r = la.request
        for t in ("lock", "syn", "ack", "cancel", "probe", "lprobe", "cprobe"):
            self._cancel_timer(f"{t}:{_rid(r)}")
        if la.phase is not LeftPhase.SWITCHED:
            self._left_unstage(la)
        side = la.side
        if side.lock.request == r:
            side.lock.release()
            self._release_held(side, side.lock.held.pop(0) if side.lock.held else None)
        if side.busy == r:
            side.busy = None
        self.lefts.pop(r, None)
        self.left_done.add(r)
        self._timer(f"done:{_rid(r)}", self.config.done_linger)
        if outcome:
            elapsed = self._now - la.started
            self._observe(
                f"reconfig.{outcome}", tag=la.tag, request=r, reason=reason, elapsed=elapsed
            )

    def _left_fold(self, la: LeftAnchor) -> None:
        side = la.side
        assert la.new_sub is not None and la.new_port is not None
        side.retired[side.in_key] = side.own_port
        if self.right_by_sub.get(side.sub) is side:
            del self.right_by_sub[side.sub]
        side.sub = la.new_sub
        side.peer = la.new_sub.dst_ip
        side.own_port = la.new_port
        la.new_port = None
        side.out_deltas = ZERO
        side.in_deltas = ZERO
        self.right_by_sub[side.sub] = side
        self._modify(side, side.out_entry())
        self._modify(side, side.in_entry())
        la.phase = LeftPhase.SWITCHED
        self._left_finish(la, "completed", "")

    def _left_check(self, la: LeftAnchor, snap: SlotSnapshot) -> None:
        if _complete(snap, la.peer_cut):
            self._left_fold(la)

    # ------------------------------------------------------------------ right anchor

    def _ra_syn(self, seg: Segment, msg: ControlMessage) -> None:
        ra = self.rights.get(msg.request)
        if ra is None:
            self._observe("reconfig.stale_syn", request=msg.request)
            return
        if ra.phase is not RightPhase.LOCKED:
            if ra.new_sub == seg.tuple and ra.phase in (RightPhase.SYN_RCVD, RightPhase.SWITCHED):
                self._ra_send_synack(ra)
            return
        side = ra.side
        h = msg.handshake or Handshake()
        phi_lr, phi_rl = msg.delta_lr, msg.delta_rl
        win_in = (
            (h.wscale_host - side.hs.wscale_peer)
            if h.wscale_host is not None and side.hs.wscale_peer is not None
            else 0
        )
        win_out = (
            (side.hs.wscale_host - h.wscale_peer)
            if side.hs.wscale_host is not None and h.wscale_peer is not None
            else 0
        )
        ra.new_in = Deltas(phi_lr.seq, -phi_rl.seq % MOD32, phi_lr.ts, -phi_rl.ts % MOD32, win_in)
        ra.new_out = Deltas(phi_rl.seq, -phi_lr.seq % MOD32, phi_rl.ts, -phi_lr.ts % MOD32, win_out)
        ra.new_sub = seg.tuple
        ra.syn_seq, ra.syn_ack = seg.seq, seg.ack
        ra.peer_hs = h
        ra.left_anchor = msg.left_anchor
        side.epoch += 1
        new_in = MappingEntry(
            EntryKey(Direction.IN, seg.tuple),
            side.stuple,
            ra.new_in,
            side.slot,
            Role.NEW,
            epoch=side.epoch,
        )
        self._install(side, new_in)
        # held like the left anchor's (4.2): the freeze fixes our cutoff, the SYN-ACK starts
        # there, and our data at or above it waits for the left anchor's commit
        staged = replace(side.out_entry(), new_rewrite=HOLD, new_deltas=ra.new_out)
        self._modify(side, staged)
        ra.phase = RightPhase.PREPARING
        self._timer(f"ranchor:{_rid(ra.request)}", self.config.anchor_timeout)
        self._probe(side, "rsyn", ra.request, freeze=True)

    def _ra_send_synack(self, ra: RightAnchor) -> None:
        assert ra.new_sub is not None and ra.cut is not None
        side = ra.side
        h = ra.peer_hs or Handshake()
        opts = TcpOptions(
            mss=side.hs.mss or None,
            wscale=h.wscale_peer,
            sack_permitted=h.sack_ok,
            timestamp=(side.hs.ts_out or 0, h.tsval) if h.ts_ok else None,
        )
        # at our cutoff (in the new path's sequence space), acknowledging exactly the SYN
        synack = Segment(
            ra.new_sub.reversed(),
            seq_add(ra.cut, ra.new_out.seq - 1),
            seq_add(ra.syn_seq, 1),
            TcpFlags.SYN | TcpFlags.ACK,
            65535,
            opts,
        )
        self._emit(SendPacket(synack, Toward.NETWORK))
        # a window update right behind it: the SYN-ACK's window is unscaled (at most 64 KiB),
        # but the left anchor's host has kept sending (into the hold) since its cutoff, and a
        # stateful box must let those bytes through once they come (conntrack's td_maxend)
        update = Segment(
            ra.new_sub.reversed(),
            seq_add(ra.cut, ra.new_out.seq),
            seq_add(ra.syn_seq, 1),
            TcpFlags.ACK,
            THIRD_ACK_WINDOW,
        )
        self._emit(SendPacket(update, Toward.NETWORK))
        hs = side.hs
        msg = ControlMessage(
            MsgType.SYN_ACK,
            ra.request,
            side.local,
            left_anchor=ra.left_anchor,
            right_anchor=side.local,
            handshake=Handshake(
                seq=hs.isn_out or 0,
                ack=hs.isn_in or 0,
                tsval=hs.ts_out or 0,
                tsecr=hs.ts_in or 0,
                wscale_host=hs.wscale_host,
                wscale_peer=hs.wscale_peer,
                sack_ok=hs.sack_ok,
                ts_ok=hs.ts_ok,
                mss=hs.mss,
            ),
            cutoff=ra.cut,
        )
        self._send(msg, side.local, ra.left_anchor)

    def _on_syn_ack_msg(self, msg: ControlMessage) -> None:
        la = self.lefts.get(msg.request)
        if la is None or la.phase is not LeftPhase.SYN_SENT:
            return
        la.peer_hs = msg.handshake or Handshake()
        self._left_maybe_commit(la)

    def _on_ack_msg(self, msg: ControlMessage) -> None:
        r = msg.request
        done = self.right_done.get(r)
        if done is not None:
            src, dst, cut = done
            self._send(ControlMessage(MsgType.ACK_ACK, r, src, cutoff=cut), src, dst)
            return
        ra = self.rights.get(r)
        if ra is None or msg.cutoff is None:
            return
        if ra.phase is RightPhase.SYN_RCVD:
            ra.peer_cut = seq_add(msg.cutoff, ra.phi_lr.seq)
            self._cancel_timer(f"ranchor:{_rid(r)}")
            self._ra_switch(ra)
        elif ra.phase is RightPhase.SWITCHED:
            self._ra_send_ack_ack(ra)

    def _ra_switch(self, ra: RightAnchor) -> None:
        """The left anchor committed: our held data goes on the new path (cutoff kept)."""
        assert ra.new_sub is not None
        ra.phase = RightPhase.SWITCHED
        staged = replace(
            ra.side.out_entry(),
            new_rewrite=ra.new_sub.reversed(),
            new_deltas=ra.new_out,
            peer_cut=ra.peer_cut,
        )
        self._modify(ra.side, staged)
        self._ra_send_ack_ack(ra)
        self._probe(ra.side, "rcheck", ra.request)
        self._timer(f"rprobe:{_rid(ra.request)}", self.config.rto * 4)

    def _ra_send_ack_ack(self, ra: RightAnchor) -> None:
        msg = ControlMessage(
            MsgType.ACK_ACK, ra.request, ra.side.local, left_anchor=ra.left_anchor, cutoff=ra.cut
        )
        self._send(msg, ra.side.local, ra.left_anchor)

    def _on_ack_ack_msg(self, msg: ControlMessage) -> None:
        la = self.lefts.get(msg.request)
        if la is None or la.phase is not LeftPhase.COMMITTED or msg.cutoff is None:
            return
        self._cancel_timer(f"ack:{_rid(la.request)}")
        la.peer_cut = seq_add(msg.cutoff, la.phi_rl.seq)
        la.phase = LeftPhase.SWITCHED
        assert la.new_sub is not None
        staged = replace(
            la.side.out_entry(), new_rewrite=la.new_sub, new_deltas=ZERO, peer_cut=la.peer_cut
        )
        self._modify(la.side, staged)
        self._probe(la.side, "check", la.request)
        self._timer(f"probe:{_rid(la.request)}", self.config.rto * 4)

    def _right_revert(self, ra: RightAnchor) -> None:
        side = ra.side
        if ra.new_sub is not None:
            self._remove_entry(side, EntryKey(Direction.IN, ra.new_sub))
            self._restamp(side)
        self._right_forget(ra)

    def _restamp(self, side: Side) -> None:
        """After a new path was abandoned: the one path's entries carry the side's current
        epoch again (an IN entry older than its slot is an old path to the data plane,
        whose stale acks it drops; docs/pipeline.md 5.5)."""
        if side.out_key in side.installed:
            self._modify(side, side.out_entry())
        if side.in_key in side.installed:
            self._modify(side, side.in_entry())

    def _right_forget(self, ra: RightAnchor) -> None:
        r = ra.request
        for t in ("ranchor", "rprobe", "cprobe", "rsprobe"):
            self._cancel_timer(f"{t}:{_rid(r)}")
        if ra.side.busy == r:
            ra.side.busy = None
        self.rights.pop(r, None)

    def _right_fold(self, ra: RightAnchor) -> None:
        side = ra.side
        assert ra.new_sub is not None and ra.cut is not None
        side.retired[side.in_key] = None
        if self.left_by_sub.get(side.sub) is side:
            del self.left_by_sub[side.sub]
        side.sub = ra.new_sub
        side.peer = ra.new_sub.src_ip
        side.in_deltas = ra.new_in
        side.out_deltas = ra.new_out
        self.left_by_sub[side.sub] = side
        self._modify(side, side.out_entry())
        self._modify(side, side.in_entry())
        self.right_done[ra.request] = (side.local, ra.left_anchor, ra.cut)
        self._timer(f"done:{_rid(ra.request)}", self.config.done_linger)
        self._observe("reconfig.right_completed", request=ra.request)
        self._right_forget(ra)

    # ------------------------------------------------------------------ snapshots

    def _on_snapshot(self, snap: SlotSnapshot) -> None:
        if snap.token == 0:
            side = self.slot_owner.get(snap.slot)
            if side is None or side.busy is None:
                return
            la = self.lefts.get(side.busy)
            if la is not None and la.phase is LeftPhase.SWITCHED:
                self._left_check(la, snap)
            ra = self.rights.get(side.busy)
            if ra is not None and ra.phase is RightPhase.SWITCHED and _complete(snap, ra.peer_cut):
                self._right_fold(ra)
            return
        purpose, r = self.tokens.pop(snap.token, ("", RequestId("0.0.0.0", 0)))
        if purpose == "close":
            hop = self.hops.get(r.number)
            if hop is None or hop.close_wait <= 0:
                return
            acked = snap.sent_hi is None or (
                snap.rcvd_ack_hi is not None and seq_ge(snap.rcvd_ack_hi, snap.sent_hi)
            )
            hop.close_ok = hop.close_ok and acked
            hop.close_wait -= 1
            if hop.close_wait == 0:
                if hop.close_ok:
                    self._remove_hop(hop, "closed")
                else:
                    hop.close_tries += 1
                    self._timer(f"close:{hop.id}", self.config.close_timeout)
            return
        la = self.lefts.get(r)
        ra = self.rights.get(r)
        if purpose == "syn" and la is not None and la.phase is LeftPhase.PREPARING:
            if snap.cut is None:  # the host has sent nothing through the entry yet
                self._timer(f"lprobe:{_rid(r)}", self.config.rto)
                return
            la.cut = snap.cut
            la.held_since = self._now
            la.syn_seq = seq_add(snap.cut, -1)
            la.syn_ack = snap.ack_hi or 0
            la.phase = LeftPhase.SYN_SENT
            self._left_send_syn(la)
        elif purpose == "commit" and la is not None and la.phase is LeftPhase.COMMITTING:
            assert la.synack_seq is not None
            if snap.ack_hi is None or not seq_ge(snap.ack_hi, seq_add(la.synack_seq, 1)):
                # the peer's last old-path bytes are still on their way to our host
                self._timer(f"cprobe:{_rid(r)}", self.config.rto)
                return
            self._left_commit(la)
        elif purpose == "check" and la is not None and la.phase is LeftPhase.SWITCHED:
            self._left_check(la, snap)
        elif purpose == "rsyn" and ra is not None and ra.phase is RightPhase.PREPARING:
            if snap.cut is None:  # our host has sent nothing through the entry yet
                self._timer(f"rsprobe:{_rid(r)}", self.config.rto)
                return
            ra.cut = snap.cut
            # the SYN-ACK's companion window update acknowledges the SYN exactly: wait until
            # our host has acknowledged everything the left anchor sent on the old path
            need = seq_add(ra.syn_seq, 1 + ra.phi_lr.seq)
            if snap.ack_hi is None or not seq_ge(snap.ack_hi, need):
                self._timer(f"rsprobe:{_rid(r)}", self.config.rto)
                return
            ra.phase = RightPhase.SYN_RCVD
            self._ra_send_synack(ra)
        elif purpose == "rcommit" and ra is not None and ra.phase is RightPhase.SWITCHING:
            if snap.cut is None:
                self._timer(f"cprobe:{_rid(r)}", self.config.rto)
                return
            ra.cut = snap.cut
            ra.phase = RightPhase.SWITCHED
            staged = replace(
                ra.side.out_entry(),
                new_rewrite=ra.new_sub.reversed() if ra.new_sub else None,
                new_deltas=ra.new_out,
                peer_cut=ra.peer_cut,
            )
            self._modify(ra.side, staged)
            self._ra_send_ack_ack(ra)
            if _complete(snap, ra.peer_cut):
                self._right_fold(ra)
            else:
                self._timer(f"rprobe:{_rid(r)}", self.config.rto * 4)
        elif (
            purpose == "rcheck"
            and ra is not None
            and ra.phase is RightPhase.SWITCHED
            and _complete(snap, ra.peer_cut)
        ):
            self._right_fold(ra)


def _complete(snap: SlotSnapshot, peer_cut: int | None) -> bool:
    """Section 4.3: all we sent on the old path is acked, and our host acked the peer's."""
    return (
        snap.cut is not None
        and snap.rcvd_ack_hi is not None
        and seq_ge(snap.rcvd_ack_hi, snap.cut)
        and peer_cut is not None
        and snap.ack_hi is not None
        and seq_ge(snap.ack_hi, peer_cut)
    )
