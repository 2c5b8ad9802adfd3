"""The agent's state, its action helpers and the phase steps every anchor goes through.

:class:`AgentBase` holds what all parts of the agent share: the indexes of sessions and
sides, the anchors' records, the timers it runs, and the helpers that emit actions. The parts
(:mod:`.session`, :mod:`.relay`, :mod:`.left`, :mod:`.right`, :mod:`.views`) are mixins on it;
the methods one part calls in another are declared here (``raise NotImplementedError``) and
defined by the part that owns them.
"""

from __future__ import annotations

import random
from dataclasses import replace

from dysco_proto.actions import (
    Action,
    CancelTimer,
    InstallEntry,
    ModifyEntry,
    Observe,
    Outcome,
    Probe,
    ReconfigFinished,
    RemoveEntry,
    SendControl,
    StartTimer,
)
from dysco_proto.agent.records import (
    AgentConfig,
    LeftAnchor,
    RightAnchor,
    RightRequestState,
    SessionRecord,
    Side,
)
from dysco_proto.entries import EntryKey, MappingEntry
from dysco_proto.events import SlotSnapshot
from dysco_proto.packet import FiveTuple, Segment
from dysco_proto.phase_table import (
    Guard,
    LeftPhase,
    RequesterPhase,
    RightPhase,
    Role,
    Row,
    Trigger,
    row_for,
)
from dysco_proto.policy import PolicyTable
from dysco_proto.ports import PortPool
from dysco_proto.seqnum import seq_ge
from dysco_proto.timers import TimerKey, TimerKind
from dysco_proto.wire import ControlCodec, ControlMessage, MsgType, NackReason, RequestId

MOD32 = 1 << 32

PhaseStep = tuple[RequestId, Row]
"""One step an anchor took: the request and the row of :data:`dysco_proto.phase_table.TABLE`."""


PROBE_WATCH_FACTOR = 4
"""A watched probe (:meth:`Agent._watched_probe`) is sent again after this many of the probe
exchange's timeouts without an answer. A loss is rare (a device's CPU queue overflowing);
a slow answer is not: a loaded device's controller queues a probe behind its writes, and on
the rack (bmv2, 100 reconfigurations at once) answers came after more than one timeout
hundreds of times per burst, each re-probe adding a packet-out and a packet-in to the burst."""


class AgentBase:
    """Shared state and helpers of the agent (see :class:`dysco_proto.agent.Agent`)."""

    def __init__(self, config: AgentConfig) -> None:
        if not config.addresses:
            raise ValueError("an agent needs at least one address")
        self.config = config
        self.addresses = frozenset(config.addresses)
        self.policies: PolicyTable = config.policies
        self.codec = ControlCodec(config.key)
        self.ports = PortPool(config.port_low, config.port_high, seed=config.seed)
        self._rng = random.Random(config.seed)
        self._msg_id = config.msg_id_base or 1
        self._req_number = self._rng.getrandbits(31)
        self._next_record_id = 1
        self._next_slot = config.slot_base
        self._next_token = 1
        self._now = 0.0
        self._out: list[Action] = []
        self.records: dict[int, SessionRecord] = {}
        self.by_key: dict[EntryKey, Side] = {}
        self.left_by_sub: dict[FiveTuple, Side] = {}
        self.right_by_sub: dict[FiveTuple, Side] = {}
        self.left_by_stuple: dict[FiveTuple, Side] = {}
        self.right_by_stuple: dict[FiveTuple, Side] = {}
        self.slot_owner: dict[int, Side] = {}
        self.pending_by_tuple: dict[FiveTuple, SessionRecord] = {}
        self.pending_by_tag: dict[int, SessionRecord] = {}
        self.lefts: dict[RequestId, LeftAnchor] = {}
        self.rights: dict[RequestId, RightAnchor] = {}
        self.right_done: dict[RequestId, tuple[str, str, int]] = {}  # r -> (src, dst, cut)
        self.left_done: set[RequestId] = set()
        self.right_requests: dict[RequestId, RightRequestState] = {}
        self.abandoned: set[RequestId] = set()
        self.held_msgs: dict[tuple[FiveTuple, RequestId], tuple[ControlMessage, Side]] = {}
        self.tokens: dict[int, tuple[str, RequestId]] = {}
        self.timers: set[TimerKey] = set()
        #: records lingering after their close, oldest first by linger start (``max_lingering``
        #: bounds it); a closed session with bytes unacknowledged is not in it: its hosts still
        #: retransmit, it is kept like a live one until ``close_hold`` without a sign of life
        self.linger_queue: dict[int, None] = {}
        #: per exchange kind: smoothed answer time and its variation (s), RFC 6298
        self._rtt: dict[TimerKind, tuple[float, float]] = {}
        self.counters: dict[str, int] = {}
        #: when set, every decoded control message is also reported as a ``control.in``
        #: observation (a protocol trace for debugging; off by default: it costs per message)
        self.trace = False
        #: when a list, every anchor phase step is appended to it (the check against the
        #: phase table, :mod:`dysco_proto.model.phase_link`; off by default)
        self.phase_log: list[PhaseStep] | None = None

    # ------------------------------------------------------------------ phase steps

    def _log(self, r: RequestId, row: Row) -> None:
        if self.phase_log is not None:
            self.phase_log.append((r, row))

    def _lstep(self, la: LeftAnchor, trigger: Trigger, guard: Guard = Guard.ANY) -> Row:
        """Step a left anchor by the table; the anchor keeps its last phase at DONE."""
        row = row_for(Role.LEFT, la.phase, trigger, guard)
        self._log(la.request, row)
        nxt = LeftPhase(row.next)
        if nxt is not LeftPhase.DONE:
            la.phase = nxt
        return row

    def _rstep(self, ra: RightAnchor, trigger: Trigger, guard: Guard = Guard.ANY) -> Row:
        """Step a right anchor by the table; the anchor keeps its last phase at DONE."""
        row = row_for(Role.RIGHT, ra.phase, trigger, guard)
        self._log(ra.request, row)
        nxt = RightPhase(row.next)
        if nxt is not RightPhase.DONE:
            ra.phase = nxt
        return row

    def _pstep(
        self,
        r: RequestId,
        role: Role,
        phase: LeftPhase | RightPhase | RequesterPhase,
        trigger: Trigger,
        guard: Guard = Guard.ANY,
    ) -> Row:
        """A step of a request with no record in that phase (IDLE, DONE, the requester)."""
        row = row_for(role, phase, trigger, guard)
        self._log(r, row)
        return row

    # ------------------------------------------------------------------ action helpers

    def _emit(self, action: Action) -> None:
        self._out.append(action)

    def _observe(self, kind: str, **fields: object) -> None:
        self.counters[kind] = self.counters.get(kind, 0) + 1
        self._emit(Observe(kind, dict(fields)))

    def _finished(
        self,
        tag: int,
        outcome: Outcome,
        reason: str,
        request: RequestId | None = None,
        elapsed: float | None = None,
    ) -> None:
        """Report the end of a reconfiguration to whoever asked for it."""
        action = ReconfigFinished(tag, outcome, reason, request, elapsed)
        self.counters[action.kind] = self.counters.get(action.kind, 0) + 1
        self._emit(action)

    def _timer(self, key: TimerKey, delay: float) -> None:
        self.timers.add(key)
        self._emit(StartTimer(key, delay))

    def _cancel_timer(self, key: TimerKey) -> None:
        if key in self.timers:
            self.timers.discard(key)
            self._emit(CancelTimer(key))

    def _rtimer(self, kind: TimerKind, r: RequestId, delay: float) -> None:
        self._timer(TimerKey.for_request(kind, r), delay)

    def _cancel_rtimers(self, r: RequestId, *kinds: TimerKind) -> None:
        for kind in kinds:
            self._cancel_timer(TimerKey.for_request(kind, r))

    def _backoff(self, retries: int, kind: TimerKind | None = None) -> float:
        """The retransmission delay after ``retries`` retransmissions of an exchange of
        ``kind``: its adaptive timeout (:meth:`_rto`) doubled per retransmission, up to
        ``max_backoff`` or the adaptive timeout itself if that is longer."""
        base = self._rto(kind)
        cap = max(self.config.max_backoff, base)
        return float(min(cap, base * (2 ** min(retries, 10))))

    def _repoll(self, polls: int) -> float:
        """The delay before probing again after ``polls`` earlier "not yet" answers in a row
        (0: the first): ``config.repoll_first`` (default ``rto / 16``) doubled per answer, at
        most ``config.rto``. The wait is for the host (to send, to acknowledge), which may be
        done a moment after the answer: polling every ``rto`` would add up to ``rto`` each."""
        cfg = self.config
        first = cfg.rto / 16 if cfg.repoll_first is None else cfg.repoll_first
        return min(cfg.rto, first * float(1 << min(polls, 32)))

    def _hold_drained(self, a: LeftAnchor | RightAnchor, snap: SlotSnapshot) -> bool:
        """After a hold on ``a``'s side (protocol-design.md 4.2): whether everything its host
        had sent at the first snapshot (``drain_to``; none: nothing) is acknowledged, or the
        drain's deadline passed; then the side is no longer after a hold."""
        if a.drain_to is None:
            a.drain_to = snap.sent_hi
        done = (
            a.drain_to is None
            or (snap.rcvd_ack_hi is not None and seq_ge(snap.rcvd_ack_hi, a.drain_to))
            or (a.drain_deadline is not None and self._now >= a.drain_deadline)
        )
        if done:
            a.side.after_hold = False
        return done

    def _rto(self, kind: TimerKind | None = None) -> float:
        """The retransmission timeout of an exchange of ``kind`` (lock, new-path SYN, ack):
        ``config.rto``, or longer when the measured answer times of that exchange say so
        (RFC 6298: SRTT + 4 RTTVAR). On a loaded control plane (controllers that handle
        packet-ins seconds late) a fixed short timeout retransmits every message several
        times, each copy loads every hop's controller again and the answers slow down
        further; timing out after the measured answer time does not."""
        # no sample of this exchange yet: the lock exchange's (a round trip on the old path,
        # which every other exchange takes at least)
        est = self._rtt.get(kind) or self._rtt.get(TimerKind.LOCK) if kind is not None else None
        if est is None:
            return self.config.rto
        srtt, rttvar = est
        return max(self.config.rto, srtt + 4 * rttvar)

    def _rtt_sample(self, kind: TimerKind, sent_at: float | None, retries: int) -> None:
        """Fold one answer time of an exchange of ``kind`` into its estimate: only for an
        exchange whose request was sent once (Karn: an answer to a retransmitted one is
        ambiguous)."""
        if sent_at is None or retries:
            return
        r = max(0.0, self._now - sent_at)
        est = self._rtt.get(kind)
        if est is None:
            self._rtt[kind] = (r, r / 2)
        else:
            srtt, rttvar = est
            rttvar = 0.75 * rttvar + 0.25 * abs(srtt - r)
            self._rtt[kind] = (0.875 * srtt + 0.125 * r, rttvar)

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

    def _probe(self, side: Side, purpose: str, r: RequestId, freeze: bool = False) -> int:
        """Ask the device for ``side``'s slot registers (freezing the cutoff with ``freeze``);
        the probe's token."""
        token = self._next_token
        self._next_token += 1
        self.tokens[token] = (purpose, r)
        self._emit(Probe(side.slot, token, freeze, side.epoch))
        return token

    def _watched_probe(
        self, a: LeftAnchor | RightAnchor, purpose: str, kind: TimerKind, freeze: bool = False
    ) -> None:
        """Probe ``a``'s side and arm ``kind``, whose firing probes again, in case no answer
        comes: a probe's answer is a packet-in, which a device may drop (its CPU queue
        full), and the probe may have taken effect all the same. A freeze whose answer was
        lost has fixed the cutoff, so the side's data from there on goes to the held new
        path: without a second probe nothing would ever end that hold (rack e2e 8, 15 of
        100 sessions held for good). Freezing again is harmless (5.3: the cutoff stays, the
        seed is the same). The wait is :data:`PROBE_WATCH_FACTOR` times the probe exchange's
        own timeout (answer times measured as for the control messages, ``TimerKind.PROBE``),
        doubled per unanswered probe in a row (each says ``reconfig.probe_unanswered``); an
        answer resets it (:meth:`_probe_answered`)."""
        w = a.watch
        if w.token is not None:
            w.losses += 1
            self._observe("reconfig.probe_unanswered", request=a.request, purpose=purpose)
        w.token = self._probe(a.side, purpose, a.request, freeze)
        w.sent_at = self._now
        self._rtimer(kind, a.request, PROBE_WATCH_FACTOR * self._backoff(w.losses, TimerKind.PROBE))

    def _probe_answered(self, a: LeftAnchor | RightAnchor, token: int) -> None:
        """An answer (``token``) to one of ``a``'s probes came: the device answers, so no
        watched probe counts as lost; the answer time of the watched probe itself, sent once,
        is a sample of the probe exchange's (not a late answer to an earlier probe)."""
        w = a.watch
        if token == w.token:
            self._rtt_sample(TimerKind.PROBE, w.sent_at, w.losses)
        w.token = None
        w.losses = 0

    def _send(self, msg: ControlMessage, src: str, dst: str) -> None:
        self._msg_id += 1
        data = self.codec.encode(replace(msg, sender=src, msg_id=self._msg_id))
        self._emit(SendControl(src, dst, data))

    def _new_request_id(self, anchor: str) -> RequestId:
        self._req_number = (self._req_number + 1) % MOD32
        return RequestId(anchor, self._req_number)

    def _left_for_side(self, side: Side) -> LeftAnchor | None:
        return self.lefts.get(side.busy) if side.busy is not None else None

    def _right_for_side(self, side: Side) -> RightAnchor | None:
        return self.rights.get(side.busy) if side.busy is not None else None

    # ------------------------------------------------------------------ defined by the parts

    def _remove_record(self, rec: SessionRecord, reason: str) -> None:
        raise NotImplementedError  # session

    def _evict_stale(self, side: Side, request: RequestId | None = None) -> bool:
        raise NotImplementedError  # session

    def _send_chain_syn(self, side: Side, seg: Segment) -> None:
        raise NotImplementedError  # session

    def _nack_left(self, msg: ControlMessage, side: Side, reason: NackReason) -> None:
        raise NotImplementedError  # relay

    def _release_held(self, rside: Side, nxt: RequestId | None) -> None:
        raise NotImplementedError  # relay

    def _reply_unknown(self, msg: ControlMessage, mtype: MsgType) -> None:
        raise NotImplementedError  # relay

    def _left_start(
        self,
        side: Side,
        r: RequestId,
        right_anchor: str,
        boxes: tuple[str, ...],
        tag: int,
        trigger: Trigger,
    ) -> None:
        raise NotImplementedError  # left

    def _left_refusal(self, side: Side, right_anchor: str, new_boxes: tuple[str, ...]) -> str:
        raise NotImplementedError  # left

    def _left_locked(self, la: LeftAnchor, msg: ControlMessage) -> None:
        raise NotImplementedError  # left

    def _left_finish(self, la: LeftAnchor, trigger: Trigger, guard: Guard, reason: str) -> None:
        raise NotImplementedError  # left

    def _left_maybe_commit(self, la: LeftAnchor, trigger: Trigger) -> None:
        raise NotImplementedError  # left

    def _left_check(self, la: LeftAnchor, snap: SlotSnapshot) -> None:
        raise NotImplementedError  # left

    def _ra_request(self, msg: ControlMessage, side: Side) -> None:
        raise NotImplementedError  # right

    def _ra_syn(self, seg: Segment, msg: ControlMessage) -> None:
        raise NotImplementedError  # right

    def _ra_repeated_syn(self, ra: RightAnchor, seg: Segment) -> None:
        raise NotImplementedError  # right

    def _ra_cancel(self, ra: RightAnchor) -> None:
        raise NotImplementedError  # right

    def _ra_check(self, ra: RightAnchor, snap: SlotSnapshot) -> None:
        raise NotImplementedError  # right

    def _right_forget(self, ra: RightAnchor) -> None:
        raise NotImplementedError  # right

    def _restamp(self, side: Side) -> None:
        raise NotImplementedError  # right

    def _finish_right_request(
        self, rr: RightRequestState, trigger: Trigger, guard: Guard, reason: str
    ) -> None:
        raise NotImplementedError  # right (requester)

    def _cmd_relate(self, inbound: FiveTuple, outbound: FiveTuple) -> None:
        raise NotImplementedError  # session
