"""Control messages hop by hop: the lock relay at the agents on the old path.

Section 4.1 of ``docs/protocol-design.md``: a middle hop maps requestLock / cancelLock from its
left side to its right side (adding its hop transformation) and ackLock / nackLock / ackCancel
back, applying the lock table (:mod:`dysco_proto.lock`, :mod:`dysco_proto.model.lock_table`)
to the lock of its right side. Messages for a request this agent anchors are handed to the
anchor (:mod:`.left`, :mod:`.right`); the requester of a rightRequest learns here that it was
taken up or refused.
"""

from __future__ import annotations

from dataclasses import replace

from dysco_proto.agent.base import AgentBase
from dysco_proto.agent.records import SessionRecord, Side, tr
from dysco_proto.lock import Verdict, on_ack, on_cancel, on_nack, on_request
from dysco_proto.phase_table import Guard, LeftPhase, Trigger
from dysco_proto.wire import ControlMessage, MsgType, NackReason, RequestId, Transform


class RelayMixin(AgentBase):
    """Hop-by-hop control messages (see :class:`dysco_proto.agent.Agent`)."""

    def _hop_transform_lr(self, rec: SessionRecord) -> Transform:
        left, right = rec.left, rec.right
        assert left is not None and right is not None
        box_seq = box_ts = 0
        if left.hs.isn_in is not None and right.hs.isn_out is not None:
            box_seq = right.hs.isn_out - left.hs.isn_in
        if left.hs.ts_in is not None and right.hs.ts_out is not None:
            box_ts = right.hs.ts_out - left.hs.ts_in
        box = Transform.wrap(box_seq + rec.offset_lr, box_ts)
        return tr(left.in_deltas) + box + tr(right.out_deltas)

    def _hop_transform_rl(self, rec: SessionRecord) -> Transform:
        left, right = rec.left, rec.right
        assert left is not None and right is not None
        box_seq = box_ts = 0
        if right.hs.isn_in is not None and left.hs.isn_out is not None:
            box_seq = left.hs.isn_out - right.hs.isn_in
        if right.hs.ts_in is not None and left.hs.ts_out is not None:
            box_ts = left.hs.ts_out - right.hs.ts_in
        box = Transform.wrap(box_seq + rec.offset_rl, box_ts)
        return tr(right.in_deltas) + box + tr(left.out_deltas)

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
            self._finish_right_request(rr, Trigger.REQUEST_LOCK, Guard.ANY, "")  # taken up
        if msg.right_anchor in self.addresses:
            self._ra_request(msg, side)
            return
        if r in self.abandoned:
            self._nack_left(msg, side, NackReason.POLICY)
            return
        rec = side.record
        rside = rec.right
        if rside is None:
            self._nack_left(msg, side, NackReason.NOT_FOUND)
            return
        verdict = on_request(rside.lock, r)
        if verdict is Verdict.FORWARD:
            fwd = replace(
                msg, subsession=rside.sub, delta_lr=msg.delta_lr + self._hop_transform_lr(rec)
            )
            self._send(fwd, rside.local, rside.peer)
        elif verdict is Verdict.HOLD:
            self.held_msgs[(rside.sub, r)] = (msg, side)
            self._observe("lock.held", request=r)
        else:
            self._nack_left(msg, side, NackReason.LOCKED)

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
        lside = rside.record.left
        if lside is None:
            return
        fwd = replace(
            msg, subsession=lside.sub, delta_rl=msg.delta_rl + self._hop_transform_rl(rside.record)
        )
        self._send(fwd, lside.local, lside.peer)

    def _on_nack_lock(self, msg: ControlMessage) -> None:
        r = msg.request
        rside = self.right_by_sub.get(msg.subsession) if msg.subsession else None
        if rside is None:
            # A refusal of our rightRequest comes from the left neighbour.
            rr = self.right_requests.get(r)
            if rr is not None and msg.subsession == rr.side.sub:
                reason = f"nack-{msg.reason.name.lower()}"
                self._finish_right_request(rr, Trigger.NACK_LOCK, Guard.ANY, reason)
            return
        verdict, nxt = on_nack(rside.lock, r)
        if verdict is Verdict.DROP:
            self._observe("lock.stale", type="nackLock", request=r)
            return
        la = self.lefts.get(r)
        if la is not None:
            if la.side is rside:
                guard = Guard.ABANDONED if msg.reason is NackReason.POLICY else Guard.ANY
                self._left_finish(la, Trigger.NACK_LOCK, guard, f"nack-{msg.reason.name.lower()}")
        else:  # (a rightRequest of ours for r ended when r's requestLock passed here)
            lside = rside.record.left
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
            if ra is not None:
                self._ra_cancel(ra)
            self._send(reply, side.local, side.peer)
            return
        rside = side.record.right
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
                self._left_finish(la, Trigger.ACK_CANCEL, Guard.ANY, la.cancel_reason)
            return
        lside = rside.record.left
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
        self._left_start(rside, r, msg.right_anchor, msg.hops, msg.tag, Trigger.RIGHT_REQUEST)
