"""The left anchor: it runs a reconfiguration (``docs/protocol-design.md`` 4.1 to 4.3).

Its phases and their steps are the LEFT rows of :mod:`dysco_proto.phase_table`: lock the
old path, stage the new one on hold and freeze the cutoff, the new-path SYN, wait for the
SYN-ACK and synAck, commit (third ACK, ack), then the fold once the old path drained; or
cancel (cancelLock until ackCancel) at any point before the commit.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from dysco_proto.actions import Outcome, SendPacket, Toward
from dysco_proto.agent.base import AgentBase
from dysco_proto.agent.records import (
    HOLD,
    THIRD_ACK_WINDOW,
    LeftAnchor,
    Side,
    complete,
    tr,
)
from dysco_proto.entries import ZERO, Direction, EntryKey, MappingEntry, Role
from dysco_proto.events import Reconfigure, SlotSnapshot
from dysco_proto.lock import Verdict, on_request
from dysco_proto.packet import FiveTuple, Segment, TcpFlags, TcpOptions
from dysco_proto.phase_table import Guard, LeftPhase, Trigger, finish_outcome
from dysco_proto.ports import PortsExhausted
from dysco_proto.seqnum import seq_add, seq_ge
from dysco_proto.timers import TimerKey, TimerKind
from dysco_proto.wire import ControlMessage, Handshake, MsgType, RequestId


class LeftAnchorMixin(AgentBase):
    """The left anchor's part of the agent (see :class:`dysco_proto.agent.Agent`)."""

    def _cmd_reconfigure(self, cmd: Reconfigure) -> None:
        side = self.right_by_stuple.get(cmd.session)
        if side is None:
            self._finished(cmd.request_tag, Outcome.REFUSED, "no-session")
            return
        reason = self._left_refusal(side, cmd.right_anchor, cmd.new_boxes)
        if reason:
            self._finished(cmd.request_tag, Outcome.REFUSED, reason)
            return
        r = self._new_request_id(side.local)
        boxes = tuple(cmd.new_boxes)
        self._left_start(side, r, cmd.right_anchor, boxes, cmd.request_tag, Trigger.RECONFIGURE)

    def _left_refusal(self, side: Side, right_anchor: str, new_boxes: tuple[str, ...]) -> str:
        """Why ``side`` cannot start this reconfiguration ('' if it can)."""
        if side.record.closing:
            return "closing"
        if side.busy is not None or not side.lock.free:
            return "busy"
        if len(new_boxes) > 14:
            return "too-many-boxes"
        if right_anchor in self.addresses or right_anchor in new_boxes:
            return "bad-anchor"
        if right_anchor == side.peer and not new_boxes:
            return "nothing-to-do"
        if side.peer in new_boxes:
            # the next hop is already on the path (an insert after its removal was cancelled)
            return "box-on-path"
        return ""

    def _left_start(
        self,
        side: Side,
        r: RequestId,
        right_anchor: str,
        boxes: tuple[str, ...],
        tag: int,
        trigger: Trigger,
    ) -> None:
        la = LeftAnchor(r, side, right_anchor, boxes, tag, self._now, phase=LeftPhase.IDLE)
        self._lstep(la, trigger)
        self.lefts[r] = la
        side.busy = r
        verdict = on_request(side.lock, r)
        assert verdict is Verdict.FORWARD
        self._observe("reconfig.started", tag=tag, request=r, right_anchor=right_anchor)
        self._left_send_request(la)

    def _left_retry(self, la: LeftAnchor) -> None:
        if la.retries >= self.config.max_retries:
            self._left_cancel(la, "lock-timeout", Trigger.TIMER_LOCK, Guard.GIVE_UP)
            return
        self._lstep(la, Trigger.TIMER_LOCK, Guard.RETRY)
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
            delta_lr=tr(side.out_deltas),
            hops=la.new_boxes,
        )
        self._send(msg, side.local, side.peer)
        if la.retries == 0:
            la.sent_at = self._now  # first transmission
        self._rtimer(TimerKind.LOCK, la.request, self._backoff(la.retries, TimerKind.LOCK))

    def _left_locked(self, la: LeftAnchor, msg: ControlMessage) -> None:
        side = la.side
        self._cancel_rtimers(la.request, TimerKind.LOCK)
        self._rtt_sample(TimerKind.LOCK, la.sent_at, la.retries)
        la.phi_lr = msg.delta_lr
        la.phi_rl = msg.delta_rl + tr(side.in_deltas)
        first = la.new_boxes[0] if la.new_boxes else la.right_anchor
        try:
            port = self.ports.allocate(side.local, first)
        except PortsExhausted:
            self._left_cancel(la, "ports-exhausted", Trigger.ACK_LOCK, Guard.NO_PORT)
            return
        la.new_port = port
        la.new_sub = FiveTuple(side.local, port, first, side.stuple.dst_port)
        if side.in_role is not Role.ONE:  # the path folded onto last time: plain again
            side.in_role = Role.ONE
            self._modify(side, side.in_entry())
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
        # After a hold on this side, the freeze waits until the host's bytes that hold
        # dropped are acknowledged (4.2); until the freeze nothing is held (no cutoff: every
        # byte goes on the old path), so that wait costs the host nothing. Bounded below the
        # right anchor's anchor_timeout, which runs from its ackLock.
        # The freeze waits for the session's SYN-ACK too (its options go into the new path's
        # SYN): a request made during the handshake, or a mirror still on its way.
        draining = side.after_hold or not side.hs.synack_seen
        self._lstep(la, Trigger.ACK_LOCK, Guard.AFTER_HOLD if draining else Guard.ANY)
        la.retries = 0
        if draining:
            la.drain_deadline = self._now + self.config.anchor_timeout / 2
        self._watched_probe(la, "syn", TimerKind.LPROBE, freeze=not draining)

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
                # past the SYN-ACK wait without it (``_synack_pending``): the right anchor
                # answers with the SYN-ACK options of its own record (``_ra_syn``)
                synack_known=hs.synack_seen,
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
        if la.retries == 0:
            la.sent_at = self._now  # first transmission
        self._rtimer(TimerKind.SYN, la.request, self._backoff(la.retries + 1, TimerKind.SYN))

    def _left_maybe_commit(self, la: LeftAnchor, trigger: Trigger) -> None:
        """One half of the right anchor's answer arrived (the SYN-ACK on the new path or the
        synAck message): with both, wait for the host to ack the peer's old-path bytes."""
        if la.phase is not LeftPhase.SYN_SENT:
            return
        if la.synack_seq is None or la.peer_hs is None:
            self._lstep(la, trigger, Guard.OTHER_HALF)
            return
        self._cancel_rtimers(la.request, TimerKind.SYN)
        self._rtt_sample(TimerKind.SYN, la.sent_at, la.retries)
        self._lstep(la, trigger)  # COMMITTING
        la.retries = 0
        self._watched_probe(la, "commit", TimerKind.CPROBE)

    def _left_commit(self, la: LeftAnchor) -> None:
        """Our host has acknowledged everything the peer sent on the old path (up to the
        peer's cutoff, the SYN-ACK's seq + 1): the third ACK can acknowledge exactly the
        SYN-ACK, as in a real handshake, and it is a true claim when it reaches the peer's
        host. Then the held data goes on the new path (same epoch: the cutoff stays)."""
        assert la.new_sub is not None and la.cut is not None and la.synack_seq is not None
        side = la.side
        win = THIRD_ACK_WINDOW >> (side.hs.wscale_host or 0)  # 64 KiB in its sender's scale
        ack = Segment(la.new_sub, la.cut, seq_add(la.synack_seq, 1), TcpFlags.ACK, win)
        self._emit(SendPacket(ack, Toward.NETWORK))
        self._modify(side, replace(side.out_entry(), new_rewrite=la.new_sub, new_deltas=ZERO))
        self._cancel_rtimers(la.request, TimerKind.CPROBE)  # the watch of the answered probe
        self._lstep(la, Trigger.SNAP_COMMIT)  # COMMITTED
        la.retries = 0
        self._left_send_ack(la)

    def _left_send_ack(self, la: LeftAnchor) -> None:
        msg = self._left_msg(la, MsgType.ACK, cutoff=la.cut)
        self._send(msg, la.side.local, la.right_anchor)
        if la.retries == 0:
            la.sent_at = self._now  # first transmission
        self._rtimer(TimerKind.ACK, la.request, self._backoff(la.retries, TimerKind.ACK))

    def _left_send_cancel(self, la: LeftAnchor) -> None:
        side = la.side
        msg = self._left_msg(la, MsgType.CANCEL_LOCK, subsession=side.sub)
        self._send(msg, side.local, side.peer)
        self._rtimer(TimerKind.CANCEL, la.request, self._backoff(la.retries, TimerKind.LOCK))

    def _left_unstage(self, la: LeftAnchor, retire: bool = True) -> None:
        """Undo a staged new path (never after commit). The new IN entry is retired, not
        removed: the right anchor's SYN-ACK and window update may still be on their way, and
        without an entry they would reach the host with the new subsession's tuple (its RST
        would travel the new path back to the peer's host with an in-window seq). When a
        cancel starts (``retire`` false) it is not even retired yet: the right anchor answers
        new-path SYN copies until the cancelLock reaches it, and a loaded controller sends
        those answers seconds later; its ackCancel leaves after all of them, so the entry is
        retired (collected once unused for ``retired_timeout``) when the request ends."""
        side = la.side
        if la.new_sub is not None:
            key = EntryKey(Direction.IN, la.new_sub.reversed())
            if key in side.installed and retire:
                side.retired[key] = la.new_port  # port released with the entry
                la.new_port = None
            self._restamp(side)
        if retire and la.new_port is not None and la.new_sub is not None:
            self.ports.release(side.local, la.new_sub.dst_ip, la.new_port)
            la.new_port = None

    def _left_cancel(self, la: LeftAnchor, reason: str, trigger: Trigger, guard: Guard) -> None:
        """Give up before the commit: undo the new path, cancel the locks (section 4.1)."""
        k = TimerKind
        self._cancel_rtimers(la.request, k.LOCK, k.SYN, k.LPROBE, k.CPROBE)
        self._left_unstage(la, retire=False)
        self._lstep(la, trigger, guard)  # CANCELLING
        la.cancel_reason = reason
        la.retries = 0
        self._left_send_cancel(la)

    def _left_finish(self, la: LeftAnchor, trigger: Trigger, guard: Guard, reason: str) -> None:
        """End a request at its left anchor; the row says which outcome is reported."""
        row = self._lstep(la, trigger, guard)  # DONE
        r = la.request
        k = TimerKind
        self._cancel_rtimers(r, k.LOCK, k.SYN, k.ACK, k.CANCEL, k.PROBE, k.LPROBE, k.CPROBE)
        if la.phase is not LeftPhase.SWITCHED:
            self._left_unstage(la)
        side = la.side
        if la.cut is not None:  # the host's data at or above the cutoff was held (dropped)
            side.after_hold = True
        if side.lock.request == r:
            side.lock.release()
            self._release_held(side, side.lock.held.pop(0) if side.lock.held else None)
        if side.busy == r:
            side.busy = None
        self.lefts.pop(r, None)
        self.left_done.add(r)
        self._rtimer(TimerKind.DONE, r, self.config.done_linger)
        outcome = finish_outcome(row)
        if outcome is not None:
            self._finished(la.tag, Outcome(outcome), reason, r, self._now - la.started)

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
        side.in_role = Role.NEW  # late SYN-ACKs of this path stay punted (records.Side)
        self.right_by_sub[side.sub] = side
        self._modify(side, side.out_entry())
        self._modify(side, side.in_entry())
        self._left_finish(la, Trigger.SNAP_CHECK, Guard.ANY, "")

    def _left_check(self, la: LeftAnchor, snap: SlotSnapshot) -> None:
        if complete(snap, la.peer_cut):
            self._left_fold(la)
        else:
            self._lstep(la, Trigger.SNAP_CHECK, Guard.NOT_YET)

    def _on_syn_ack_msg(self, msg: ControlMessage) -> None:
        la = self.lefts.get(msg.request)
        if la is None or la.phase is not LeftPhase.SYN_SENT:
            return
        la.peer_hs = msg.handshake or Handshake()
        self._left_learn_synack(la, la.peer_hs)
        self._left_maybe_commit(la, Trigger.SYN_ACK_MSG)

    def _left_learn_synack(self, la: LeftAnchor, peer: Handshake) -> None:
        """A record still without the session's SYN-ACK (its mirror lost for good; the SYN
        said so) takes the options the right anchor answered the new path with: its host's
        window scale (what our host sees as the peer's when the boxes between pass the
        SYN-ACK unchanged), SACK-permitted and timestamps, i.e. what every box on the new path
        saw. The side's next new path then repeats them. Its sequence numbers are in the right
        anchor's host space and stay unknown (nothing on this side derives from them)."""
        hs = la.side.hs
        if hs.synack_seen or not peer.synack_known:
            return
        hs.wscale_peer = peer.wscale_host
        hs.sack_ok = peer.sack_ok
        hs.ts_ok = peer.ts_ok
        hs.synack_seen = True
        self._observe("reconfig.handshake_from_peer", request=la.request)

    def _on_ack_ack_msg(self, msg: ControlMessage) -> None:
        la = self.lefts.get(msg.request)
        if la is None or la.phase is not LeftPhase.COMMITTED or msg.cutoff is None:
            return
        self._cancel_rtimers(la.request, TimerKind.ACK)
        self._rtt_sample(TimerKind.ACK, la.sent_at, la.retries)
        la.peer_cut = seq_add(msg.cutoff, la.phi_rl.seq)
        self._lstep(la, Trigger.ACK_ACK)  # SWITCHED
        assert la.new_sub is not None
        staged = replace(
            la.side.out_entry(), new_rewrite=la.new_sub, new_deltas=ZERO, peer_cut=la.peer_cut
        )
        self._modify(la.side, staged)
        self._probe(la.side, "check", la.request)
        self._rtimer(TimerKind.PROBE, la.request, self.config.rto * 4)

    def _left_draining(self, la: LeftAnchor, snap: SlotSnapshot) -> bool:
        """Whether the freeze must still wait for the bytes the side's last hold dropped (or
        for the session's SYN-ACK, :meth:`_synack_pending`).

        That hold's cutoff was frozen at the host's ``sent_hi``, and whatever the host sent
        at or above it before the commit (or the cancel) went on no path: the host sends it
        again only when its retransmission timer fires, and every retransmission the hold
        dropped doubled that timer. Frozen now, the cutoff would include those bytes, and the
        right anchor (before its SYN-ACK) and this one (before its commit) would hold the
        hosts' data until the retransmission came: on a loaded testbed the timer had backed
        off beyond ``hold_timeout`` and the request was cancelled (docs/testbed.md, "Open
        finding A"). So: wait until everything the host had sent when the lock was taken
        (``sent_hi`` of the first snapshot) is acknowledged, at most until the deadline."""
        if la.side.after_hold and not self._hold_drained(la, snap):
            return True
        return self._synack_pending(la)

    def _synack_pending(self, la: LeftAnchor, deciding: bool = False) -> bool:
        """Whether the freeze still waits for the session's SYN-ACK, whose options (window
        scale, SACK, timestamps) the new path's SYN carries for the boxes on it.

        The agent learns them from the SYN-ACK's mirror, a best-effort copy (a switch may
        drop it, e.g. when its CPU queue is full) that may still be on its way, or the
        request came during the handshake. Past the deadline the request goes on with what
        the record holds, as it did before it waited; the check ``deciding`` the freeze (the
        re-poll's, the only one that freezes after a wait) says so, once per request:
        ``reconfig.handshake_unknown``."""
        if la.side.hs.synack_seen:
            return False
        if la.drain_deadline is not None and self._now >= la.drain_deadline:
            if deciding:
                self._observe("reconfig.handshake_unknown", request=la.request)
            return False
        return True

    def _held_too_long(self, la: LeftAnchor) -> bool:
        return la.held_since is not None and self._now - la.held_since >= self.config.hold_timeout

    # ------------------------------------------------------------------ timers

    def _left_on_timer(self, key: TimerKey, la: LeftAnchor) -> None:
        """A left anchor's timer, in the phase that armed it (else stale: ignored)."""
        kind, ph = key.kind, la.phase
        if kind is TimerKind.LOCK and ph is LeftPhase.LOCKING:
            self._left_retry(la)
        elif kind is TimerKind.SYN and ph is LeftPhase.SYN_SENT:
            self._left_syn_timer(la)
        elif kind is TimerKind.ACK and ph is LeftPhase.COMMITTED:
            self._lstep(la, Trigger.TIMER_ACK)
            la.retries += 1  # committed: never give up while the session lives
            self._left_send_ack(la)
        elif kind is TimerKind.CANCEL and ph is LeftPhase.CANCELLING:
            if la.retries >= self.config.max_retries:
                self._left_finish(la, Trigger.TIMER_CANCEL, Guard.GIVE_UP, la.cancel_reason)
            else:
                self._lstep(la, Trigger.TIMER_CANCEL, Guard.RETRY)
                la.retries += 1
                self._left_send_cancel(la)
        elif kind is TimerKind.PROBE and ph is LeftPhase.SWITCHED:
            self._lstep(la, Trigger.TIMER_PROBE)
            self._probe(la.side, "check", la.request)
            self._rtimer(TimerKind.PROBE, la.request, self.config.rto * 4)
        elif kind is TimerKind.LPROBE and ph is LeftPhase.PREPARING:
            draining = la.side.after_hold or self._synack_pending(la, deciding=True)
            self._lstep(la, Trigger.TIMER_LPROBE, Guard.AFTER_HOLD if draining else Guard.ANY)
            self._watched_probe(la, "syn", TimerKind.LPROBE, freeze=not draining)
        elif kind is TimerKind.CPROBE and ph is LeftPhase.COMMITTING:
            if self._held_too_long(la):  # not committed yet: the right anchor only holds
                reason, guard = "new-path-timeout", Guard.HELD_TOO_LONG
                self._left_cancel(la, reason, Trigger.TIMER_CPROBE, guard)
            else:
                self._lstep(la, Trigger.TIMER_CPROBE)
                self._watched_probe(la, "commit", TimerKind.CPROBE)

    def _left_syn_timer(self, la: LeftAnchor) -> None:
        """Retransmit the new-path SYN, or cancel: out of retries, or held too long."""
        if la.retries >= self.config.syn_retries:
            self._left_cancel(la, "new-path-timeout", Trigger.TIMER_SYN, Guard.GIVE_UP)
        elif self._held_too_long(la):
            self._left_cancel(la, "new-path-timeout", Trigger.TIMER_SYN, Guard.HELD_TOO_LONG)
        else:
            self._lstep(la, Trigger.TIMER_SYN, Guard.RETRY)
            la.retries += 1
            self._left_send_syn(la)

    # ------------------------------------------------------------------ snapshots

    def _left_on_snapshot(self, purpose: str, la: LeftAnchor, snap: SlotSnapshot) -> None:
        """The answer to a left anchor's probe, in the phase that sent it (else stale)."""
        r = la.request
        self._probe_answered(la, snap.token)
        if purpose == "syn" and la.phase is LeftPhase.PREPARING:
            if snap.cut is None:  # not frozen: draining the last hold, or nothing sent yet
                draining = self._left_draining(la, snap)
                self._lstep(la, Trigger.SNAP_CUT, Guard.AFTER_HOLD if draining else Guard.NOT_YET)
                self._rtimer(TimerKind.LPROBE, r, self._repoll(la.polls))
                la.polls += 1
                return
            la.polls = 0  # the commit's wait (CPROBE) starts its own back-off
            la.cut = snap.cut
            la.held_since = self._now
            la.syn_seq = seq_add(snap.cut, -1)
            la.syn_ack = snap.ack_hi or 0
            self._cancel_rtimers(r, TimerKind.LPROBE)  # the watch of this answer's probe
            self._lstep(la, Trigger.SNAP_CUT)  # SYN_SENT
            self._left_send_syn(la)
        elif purpose == "commit" and la.phase is LeftPhase.COMMITTING:
            assert la.synack_seq is not None
            if self._held_too_long(la):
                # an answer that comes back after hold_timeout (a loaded device's writer holds
                # the probe behind its writes) must not commit: the right anchor reverts
                # anchor_timeout after the SYN, and new-path data after its revert reaches its
                # host with the new subsession's tuple (a RST); cancel instead
                reason, guard = "new-path-timeout", Guard.HELD_TOO_LONG
                self._left_cancel(la, reason, Trigger.SNAP_COMMIT, guard)
                return
            if snap.ack_hi is None or not seq_ge(snap.ack_hi, seq_add(la.synack_seq, 1)):
                # the peer's last old-path bytes are still on their way to our host
                self._lstep(la, Trigger.SNAP_COMMIT, Guard.NOT_YET)
                self._rtimer(TimerKind.CPROBE, r, self._repoll(la.polls))
                la.polls += 1
                return
            self._left_commit(la)
        elif purpose == "check" and la.phase is LeftPhase.SWITCHED:
            self._left_check(la, snap)
