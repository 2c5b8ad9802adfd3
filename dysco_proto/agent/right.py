"""The right anchor, and the requester of a rightRequest (``docs/protocol-design.md`` 4).

The right anchor answers a reconfiguration: it acks the lock, stages the new path on hold
when the new-path SYN arrives, answers with the SYN-ACK once its host acknowledged the left
anchor's old-path bytes, switches on the left anchor's ack and folds once the old path
drained; until the ack it reverts on a cancel or its own timeout. A box host asks its left
neighbour for a reconfiguration with a rightRequest (RemoveMe). Both are the RIGHT and
REQUESTER rows of :mod:`dysco_proto.phase_table`.
"""

from __future__ import annotations

from dataclasses import replace

from dysco_proto.actions import Outcome, SendPacket, Toward
from dysco_proto.agent.base import AgentBase
from dysco_proto.agent.records import (
    HOLD,
    MOD32,
    THIRD_ACK_WINDOW,
    RightAnchor,
    RightRequestState,
    Side,
    complete,
    tr,
)
from dysco_proto.entries import Deltas, Direction, EntryKey, MappingEntry, Role
from dysco_proto.events import RemoveMe, SlotSnapshot
from dysco_proto.packet import Segment, TcpFlags, TcpOptions
from dysco_proto.phase_table import Guard, RequesterPhase, RightPhase, Trigger, finish_outcome
from dysco_proto.phase_table import Role as PhaseRole
from dysco_proto.seqnum import seq_add, seq_ge
from dysco_proto.timers import TimerKey, TimerKind
from dysco_proto.wire import ControlMessage, Handshake, MsgType, NackReason


class RightAnchorMixin(AgentBase):
    """The right anchor's and the requester's part (see :class:`dysco_proto.agent.Agent`)."""

    def _ra_request(self, msg: ControlMessage, side: Side) -> None:
        r = msg.request
        ra = self.rights.get(r)
        if ra is None:
            if r in self.right_done:
                return
            if side.busy is not None or side.record.closing:
                self._pstep(r, PhaseRole.RIGHT, RightPhase.IDLE, Trigger.REQUEST_LOCK, Guard.BUSY)
                self._nack_left(msg, side, NackReason.BUSY)
                return
            phi = msg.delta_lr + tr(side.in_deltas)
            ra = RightAnchor(r, side, msg.left_anchor, phi, phase=RightPhase.IDLE)
            # After a hold on this side the ackLock waits until the bytes the hold dropped
            # are acknowledged (4.2): the left anchor holds nothing before the ackLock, and
            # would otherwise hold its host's data from its freeze until our host's
            # retransmission came (its commit waits for the acknowledgment of our cutoff).
            draining = side.after_hold
            self._rstep(ra, Trigger.REQUEST_LOCK, Guard.AFTER_HOLD if draining else Guard.ANY)
            self.rights[r] = ra
            side.busy = r
            self._rtimer(TimerKind.RANCHOR, r, self.config.anchor_timeout)
            self._observe("reconfig.right_locked", request=r)
            if draining:
                ra.lock_msg = msg
                ra.drain_deadline = self._now + self.config.anchor_timeout / 2
                self._watched_probe(ra, "rlock", TimerKind.RSPROBE)
                return
        elif ra.lock_msg is not None:
            self._rstep(ra, Trigger.REQUEST_LOCK, Guard.AFTER_HOLD)  # the ackLock follows
            return
        else:
            self._rstep(ra, Trigger.REQUEST_LOCK)  # a retransmission: ack again
        self._ra_send_ack_lock(ra, msg)

    def _ra_send_ack_lock(self, ra: RightAnchor, msg: ControlMessage) -> None:
        side = ra.side
        ack = ControlMessage(
            MsgType.ACK_LOCK,
            ra.request,
            side.local,
            left_anchor=msg.left_anchor,
            right_anchor=msg.right_anchor,
            subsession=side.sub,
            delta_lr=ra.phi_lr,
            delta_rl=tr(side.out_deltas),
            tag=msg.tag,
        )
        self._send(ack, side.local, side.peer)

    def _ra_syn(self, seg: Segment, msg: ControlMessage) -> None:
        ra = self.rights.get(msg.request)
        if ra is None:
            self._observe("reconfig.stale_syn", request=msg.request)
            return
        if ra.phase is not RightPhase.LOCKED:
            self._ra_repeated_syn(ra, seg)
            return
        side = ra.side
        h = self._ra_complete_handshake(ra, msg.handshake or Handshake())
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
        self._rstep(ra, Trigger.NEW_PATH_SYN)  # PREPARING
        self._rtimer(TimerKind.RANCHOR, ra.request, self.config.anchor_timeout)
        self._watched_probe(ra, "rsyn", TimerKind.RSPROBE, freeze=True)

    def _ra_complete_handshake(self, ra: RightAnchor, h: Handshake) -> Handshake:
        """The left anchor's handshake, its SYN-ACK half filled from our record when the
        left anchor never learnt the session's SYN-ACK (its mirror lost for good: flag
        ``synack_known`` false). Our host sent that SYN-ACK: its window scale is what the
        left host saw as the peer's when the boxes between passed it unchanged, and the new
        path's SYN-ACK (``_ra_send_synack``) must repeat the session's options, or a stateful
        box on it drops every scaled window. If our record lacks it too, ``h`` as it came."""
        hs = ra.side.hs
        if h.synack_known or not hs.synack_seen:
            return h
        self._observe("reconfig.handshake_filled", request=ra.request)
        return replace(
            h,
            wscale_peer=hs.wscale_host,
            sack_ok=hs.sack_ok,
            ts_ok=hs.ts_ok,
            synack_known=True,
        )

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
        # a window update right behind it (THIRD_ACK_WINDOW: what its window says and why)
        update = Segment(
            ra.new_sub.reversed(),
            seq_add(ra.cut, ra.new_out.seq),
            seq_add(ra.syn_seq, 1),
            TcpFlags.ACK,
            THIRD_ACK_WINDOW >> (h.wscale_peer or 0),
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
                synack_known=hs.synack_seen,  # the left anchor may fill its record from it
            ),
            cutoff=ra.cut,
        )
        self._send(msg, side.local, ra.left_anchor)

    def _on_ack_msg(self, msg: ControlMessage) -> None:
        r = msg.request
        done = self.right_done.get(r)
        if done is not None:
            src, dst, cut = done
            self._pstep(r, PhaseRole.RIGHT, RightPhase.DONE, Trigger.ACK_MSG)
            self._send(ControlMessage(MsgType.ACK_ACK, r, src, cutoff=cut), src, dst)
            return
        ra = self.rights.get(r)
        if ra is None or msg.cutoff is None:
            return
        if ra.phase is RightPhase.SYN_RCVD:
            ra.peer_cut = seq_add(msg.cutoff, ra.phi_lr.seq)
            self._cancel_rtimers(r, TimerKind.RANCHOR)
            self._ra_switch(ra)
        elif ra.phase is RightPhase.SWITCHED:
            self._rstep(ra, Trigger.ACK_MSG)
            self._ra_send_ack_ack(ra)

    def _ra_switch(self, ra: RightAnchor) -> None:
        """The left anchor committed: our held data goes on the new path (cutoff kept)."""
        assert ra.new_sub is not None
        self._rstep(ra, Trigger.ACK_MSG)  # SWITCHED
        staged = replace(
            ra.side.out_entry(),
            new_rewrite=ra.new_sub.reversed(),
            new_deltas=ra.new_out,
            peer_cut=ra.peer_cut,
        )
        self._modify(ra.side, staged)
        self._ra_send_ack_ack(ra)
        self._probe(ra.side, "rcheck", ra.request)
        self._rtimer(TimerKind.RPROBE, ra.request, self.config.rto * 4)

    def _ra_send_ack_ack(self, ra: RightAnchor) -> None:
        msg = ControlMessage(
            MsgType.ACK_ACK, ra.request, ra.side.local, left_anchor=ra.left_anchor, cutoff=ra.cut
        )
        self._send(msg, ra.side.local, ra.left_anchor)

    def _right_revert(self, ra: RightAnchor, retire: bool = False) -> None:
        """Back to the one path. With ``retire`` (our own timeout after the SYN-ACK went) the
        new path's IN entry is retired, not removed: the left anchor may have committed on
        that SYN-ACK while its ack was still on its way (a loaded controller sends it late),
        and its host's data on the new path must still reach our host rewritten to the
        session, not with the new subsession's tuple (answered with a RST)."""
        side = ra.side
        if ra.cut is not None:  # our host's data at or above the cutoff was held (dropped)
            side.after_hold = True
        if ra.new_sub is not None:
            key = EntryKey(Direction.IN, ra.new_sub)
            if retire and key in side.installed:
                side.retired[key] = None
            else:
                self._remove_entry(side, key)
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
        self._cancel_rtimers(r, TimerKind.RANCHOR, TimerKind.RPROBE, TimerKind.RSPROBE)
        if ra.side.busy == r:
            ra.side.busy = None
        self.rights.pop(r, None)

    def _right_fold(self, ra: RightAnchor) -> None:
        side = ra.side
        assert ra.new_sub is not None and ra.cut is not None
        side.after_hold = True  # our host's data at or above the cutoff was held (dropped)
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
        self._rtimer(TimerKind.DONE, ra.request, self.config.done_linger)
        self._observe("reconfig.right_completed", request=ra.request)
        self._right_forget(ra)

    def _ra_repeated_syn(self, ra: RightAnchor, seg: Segment) -> None:
        """The new-path SYN again: answered while the left anchor may still wait for the
        SYN-ACK (SYN_RCVD; while still preparing, the answer follows). Once switched the left
        anchor has committed, so it had the SYN-ACK and every new box saw it: a late copy
        (the left anchor's retransmissions trail behind by seconds on a loaded control plane)
        is not answered, since the answer would reach the left host as a SYN-ACK inside its
        live connection once the left anchor folded (a host whose connection is closing
        answers that with a RST)."""
        if ra.new_sub == seg.tuple and ra.phase in (RightPhase.SYN_RCVD, RightPhase.SWITCHED):
            answer = ra.phase is RightPhase.SYN_RCVD
            self._rstep(ra, Trigger.NEW_PATH_SYN)
            if answer:
                self._ra_send_synack(ra)

    def _ra_cancel(self, ra: RightAnchor) -> None:
        """cancelLock reached the right anchor: revert unless the left anchor committed (the
        caller answers ackCancel either way)."""
        if ra.phase is RightPhase.SWITCHED:
            self._rstep(ra, Trigger.CANCEL_LOCK)
            return
        self._rstep(ra, Trigger.CANCEL_LOCK)  # DONE
        self._right_revert(ra)

    def _ra_check(self, ra: RightAnchor, snap: SlotSnapshot) -> None:
        """A completion snapshot while switched: fold once the old path drained."""
        if complete(snap, ra.peer_cut):
            self._rstep(ra, Trigger.SNAP_CHECK)  # DONE
            self._right_fold(ra)
        else:
            self._rstep(ra, Trigger.SNAP_CHECK, Guard.NOT_YET)

    # ------------------------------------------------------------------ timers

    def _right_on_timer(self, key: TimerKey, ra: RightAnchor) -> None:
        """A right anchor's timer, in the phase that armed it (else stale: ignored)."""
        kind, ph = key.kind, ra.phase
        if kind is TimerKind.RSPROBE and ph is RightPhase.PREPARING:
            self._rstep(ra, Trigger.TIMER_RSPROBE)
            self._watched_probe(ra, "rsyn", TimerKind.RSPROBE, freeze=True)
        elif kind is TimerKind.RSPROBE and ph is RightPhase.LOCKED and ra.lock_msg is not None:
            self._rstep(ra, Trigger.TIMER_RSPROBE, Guard.AFTER_HOLD)
            self._watched_probe(ra, "rlock", TimerKind.RSPROBE)
        elif kind is TimerKind.RPROBE and ph is RightPhase.SWITCHED:
            self._rstep(ra, Trigger.TIMER_RPROBE)
            self._probe(ra.side, "rcheck", ra.request)
            self._rtimer(TimerKind.RPROBE, ra.request, self.config.rto * 4)
        elif kind is TimerKind.RANCHOR and ph is not RightPhase.SWITCHED:
            self._observe("reconfig.right_timeout", request=ra.request)
            self._rstep(ra, Trigger.TIMER_RANCHOR)  # DONE
            self._right_revert(ra, retire=ph is RightPhase.SYN_RCVD)

    def _requester_on_timer(self, rr: RightRequestState) -> None:
        """Retransmit the rightRequest, or abandon it (later requestLocks for it are nacked)."""
        if rr.retries >= self.config.max_retries:
            self.abandoned.add(rr.request)
            self._rtimer(TimerKind.DONE, rr.request, self.config.done_linger * 10)
            reason = "right-request-timeout"
            self._finish_right_request(rr, Trigger.TIMER_RR, Guard.GIVE_UP, reason)
        else:
            self._pstep(
                rr.request,
                PhaseRole.REQUESTER,
                RequesterPhase.WAITING,
                Trigger.TIMER_RR,
                Guard.RETRY,
            )
            rr.retries += 1
            self._send_right_request(rr)

    # ------------------------------------------------------------------ snapshots

    def _right_on_snapshot(self, purpose: str, ra: RightAnchor, snap: SlotSnapshot) -> None:
        """The answer to a right anchor's probe, in the phase that sent it (else stale)."""
        self._probe_answered(ra, snap.token)
        if purpose == "rlock" and ra.phase is RightPhase.LOCKED and ra.lock_msg is not None:
            if not self._hold_drained(ra, snap):
                self._rstep(ra, Trigger.SNAP_CUT, Guard.AFTER_HOLD)
                self._rtimer(TimerKind.RSPROBE, ra.request, self._repoll(ra.polls))
                ra.polls += 1
                return
            msg, ra.lock_msg, ra.polls = ra.lock_msg, None, 0
            self._cancel_rtimers(ra.request, TimerKind.RSPROBE)  # the watch of this answer
            self._rstep(ra, Trigger.SNAP_CUT)  # the ackLock
            self._ra_send_ack_lock(ra, msg)
            # the left anchor may drain its own host's bytes before its SYN: a full
            # anchor_timeout from the ackLock, not from the requestLock
            self._rtimer(TimerKind.RANCHOR, ra.request, self.config.anchor_timeout)
        elif purpose == "rsyn" and ra.phase is RightPhase.PREPARING:
            if snap.cut is not None:
                ra.cut = snap.cut
            # the SYN-ACK's companion window update acknowledges the SYN exactly: wait until
            # our host has acknowledged everything the left anchor sent on the old path
            need = seq_add(ra.syn_seq, 1 + ra.phi_lr.seq)
            if snap.cut is None or snap.ack_hi is None or not seq_ge(snap.ack_hi, need):
                self._rstep(ra, Trigger.SNAP_CUT, Guard.NOT_YET)
                self._rtimer(TimerKind.RSPROBE, ra.request, self._repoll(ra.polls))
                ra.polls += 1
                return
            self._cancel_rtimers(ra.request, TimerKind.RSPROBE)  # the watch of this answer
            self._rstep(ra, Trigger.SNAP_CUT)  # SYN_RCVD
            self._ra_send_synack(ra)
        elif purpose == "rcheck" and ra.phase is RightPhase.SWITCHED:
            self._ra_check(ra, snap)

    # ------------------------------------------------------------------ requester

    def _cmd_remove_me(self, cmd: RemoveMe) -> None:
        if cmd.outbound is not None:
            self._cmd_relate(cmd.session, cmd.outbound)
        side = self.left_by_stuple.get(cmd.session)
        if side is None or side.record.right is None:
            self._finished(cmd.request_tag, Outcome.REFUSED, "no-session")
            return
        r = self._new_request_id(side.local)
        rr = RightRequestState(r, side, side.record.right.peer, cmd.request_tag)
        self._pstep(r, PhaseRole.REQUESTER, RequesterPhase.IDLE, Trigger.REMOVE_ME)  # WAITING
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
        self._rtimer(TimerKind.RR, rr.request, self._backoff(rr.retries))

    def _finish_right_request(
        self, rr: RightRequestState, trigger: Trigger, guard: Guard, reason: str
    ) -> None:
        """The rightRequest ends (WAITING -> DONE); the row says what is reported."""
        row = self._pstep(rr.request, PhaseRole.REQUESTER, RequesterPhase.WAITING, trigger, guard)
        self.right_requests.pop(rr.request, None)
        self._cancel_rtimers(rr.request, TimerKind.RR)
        outcome = finish_outcome(row)
        if outcome is not None:
            self._finished(rr.tag, Outcome(outcome), reason, rr.request)
