"""Session set-up and teardown: chain SYNs, sides and their entries, FIN/RST, idle removal.

Section 3 of ``docs/protocol-design.md``: an initiator's agent starts the chain from a policy,
a box host's agent continues it when its box emits the SYN (found by tag or tuple), the
responder's agent delivers a plain SYN; sessions end on FIN both ways (once the last bytes
are acknowledged), RST, or idleness. Proxy relations and box offsets are set here too.
"""

from __future__ import annotations

from dataclasses import replace

from dysco_proto.actions import SendPacket, Toward
from dysco_proto.agent.base import AgentBase
from dysco_proto.agent.records import (
    CLOSE_CHECK_MAX,
    Pending,
    SessionRecord,
    Side,
    strip,
)
from dysco_proto.entries import Direction, EntryKey
from dysco_proto.events import BoxOffset, PacketIn, PuntReason, SlotSnapshot
from dysco_proto.packet import FiveTuple, Segment, TcpFlags
from dysco_proto.phase_table import Guard, LeftPhase, RightPhase, Trigger
from dysco_proto.ports import PortsExhausted
from dysco_proto.seqnum import seq_add, seq_ge
from dysco_proto.timers import TimerKey, TimerKind
from dysco_proto.wire import (
    ControlCodec,
    ControlMessage,
    Handshake,
    MsgType,
    RequestId,
    WireError,
    can_add_tag,
)


class SessionMixin(AgentBase):
    """Sessions and their sides (see :class:`dysco_proto.agent.Agent`)."""

    def _new_record(self) -> SessionRecord:
        rec = SessionRecord(self._next_record_id)
        self._next_record_id += 1
        self.records[rec.id] = rec
        return rec

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

    def _slot_for_new_session(self) -> int | None:
        """A slot for a new session's side: when every slot is taken, a closed session
        lingering gives its slots up (the one that started lingering first)."""
        slot = self._new_slot()
        while slot is None and self._evict_lingering():
            slot = self._new_slot()
        return slot

    def _index_side(self, side: Side) -> None:
        if side.is_left:
            self.left_by_sub[side.sub] = side
            self.left_by_stuple[side.stuple] = side
        else:
            self.right_by_sub[side.sub] = side
            self.right_by_stuple[side.stuple] = side
        self.slot_owner[side.slot] = side

    def _drop_pending(self, rec: SessionRecord) -> None:
        if rec.pending is not None:
            self.pending_by_tag.pop(rec.pending.tag, None)
            if rec.left is not None and self.pending_by_tuple.get(rec.left.stuple) is rec:
                del self.pending_by_tuple[rec.left.stuple]
            rec.pending = None
            self._cancel_timer(TimerKey.for_record(TimerKind.PENDING, rec.id))

    def _remove_side(self, side: Side) -> None:
        rec = side.record
        for key in list(side.installed):
            self._remove_entry(side, key)
        if side.is_left:
            if self.left_by_sub.get(side.sub) is side:
                del self.left_by_sub[side.sub]
            if self.left_by_stuple.get(side.stuple) is side:
                del self.left_by_stuple[side.stuple]
            self._drop_pending(rec)
            rec.left = None
        else:
            if self.right_by_sub.get(side.sub) is side:
                del self.right_by_sub[side.sub]
            if self.right_by_stuple.get(side.stuple) is side:
                del self.right_by_stuple[side.stuple]
            rec.right = None
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
            self._finish_right_request(rr, Trigger.SESSION_REMOVED, Guard.ANY, "session-removed")
        if not rec.sides():
            self._cancel_timer(TimerKey.for_record(TimerKind.CLOSE, rec.id))
            self._cancel_timer(TimerKey.for_record(TimerKind.PENDING, rec.id))
            self.records.pop(rec.id, None)
            self.linger_queue.pop(rec.id, None)

    def _remove_record(self, rec: SessionRecord, reason: str) -> None:
        for side in rec.sides():
            self._remove_side(side)
        self.records.pop(rec.id, None)
        self.linger_queue.pop(rec.id, None)
        self._observe("session.removed", record=rec.id, reason=reason)

    def _abort_anchors(self, side: Side, reason: str) -> None:
        for la in [la for la in self.lefts.values() if la.side is side]:
            self._left_finish(la, Trigger.SESSION_REMOVED, Guard.ANY, reason)
        for ra in [ra for ra in self.rights.values() if ra.side is side]:
            self._rstep(ra, Trigger.SESSION_REMOVED)
            self._right_forget(ra)

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
                if ev.direction is Direction.IN and seg.flags & TcpFlags.FIN:
                    end = seq_add(seg.seq, len(seg.payload) + 1)
                    if side.fin_in_end is None or seq_ge(end, side.fin_in_end):
                        side.fin_in_end = end

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
        if seg.flags & TcpFlags.ACK:
            hs.synack_seen = True
            self._share_synack(side.record, from_left=side.is_left)

    @staticmethod
    def _share_synack(rec: SessionRecord, from_left: bool) -> None:
        """A box passes one SYN-ACK through its two sides: a mirror of it on one side
        (its host sending it left, or receiving it from the right) fills what the other
        side's mirror would record, in case that copy is lost (mirrors are best-effort: a
        switch drops them when its CPU queue is full). Only for a box that passed the SYN
        unchanged (same sequence number and timestamp: not a proxy or a sequence-rewriting
        box, whose SYN-ACK is its own); the other side's own mirror, when it comes, wins."""
        left, right = rec.left, rec.right
        if left is None or right is None:
            return
        lh, rh = left.hs, right.hs
        if lh.isn_in is None or lh.isn_in != rh.isn_out or lh.ts_in != rh.ts_out:
            return
        if from_left and not rh.synack_seen:
            rh.isn_in, rh.ts_in, rh.wscale_peer = lh.isn_out, lh.ts_out, lh.wscale_host
            rh.synack_seen = True
        elif not from_left and not lh.synack_seen:
            lh.isn_out, lh.ts_out, lh.wscale_host = rh.isn_in, rh.ts_in, rh.wscale_peer
            lh.synack_seen = True

    def _syn_from_host(self, seg: Segment, key: EntryKey | None) -> None:
        side = self.by_key.get(key) if key else None
        if side is not None and side.record.closing and seg.seq != side.hs.isn_out:
            # a new connection on the tuple of a closed session whose entries still linger
            # (the host's own TIME_WAIT is over, or the host closed passively): the closed one
            # gives way, as a SYN ends TIME_WAIT
            self._remove_record(side.record, "replaced")
            side = None
        if side is not None and not side.is_left and side.syn_msg is not None:
            self._record_handshake(side, seg, outgoing=True)
            self._send_chain_syn(side, seg)  # the host retransmitted its SYN
            return
        rec = None
        tag = seg.options.dysco_tag
        if tag is not None:
            rec = self.pending_by_tag.get(tag)
        if rec is None:
            rec = self.pending_by_tuple.get(seg.tuple)
        if rec is not None and rec.pending is not None and rec.right is None:
            pend = rec.pending
            self._drop_pending(rec)
            self._create_right_side(rec, seg, pend.hops[0], pend.hops[1:], pend.msg)
            return
        known = self.right_by_stuple.get(seg.tuple)
        if known is not None and known.syn_msg is not None and seg.seq == known.hs.isn_out:
            # the host sent its SYN again before the device held our OUT entry (the first
            # copy created the side and its entry write is still on its way): the chain SYN
            # again, never the bare SYN of the session tuple onto the network
            self._send_chain_syn(known, seg)
            return
        if tag is not None:
            # our tag, but nothing waits for it (the pending record expired): a chain SYN
            # the box emitted late; never a bare SYN of the session onto the network (the
            # responder would hand it to its host inside the live connection); the upstream
            # agent retransmits and the next copy continues the chain (_repending)
            self._observe("setup.unknown_tag", tuple=str(seg.tuple))
            return
        policy = self.policies.match(seg.tuple) if seg.tuple.src_ip in self.addresses else None
        if policy is None or seg.tuple.src_ip in policy.chain:
            self._emit(SendPacket(strip(seg), Toward.NETWORK))
            return
        if seg.tuple in self.right_by_stuple:
            self._observe("setup.conflict", tuple=str(seg.tuple))
            return
        chain = (*policy.chain, seg.tuple.dst_ip)
        rec = self._new_record()
        self._observe("session.new", record=rec.id, tuple=str(seg.tuple), policy=policy.name)
        if not self._create_right_side(rec, seg, chain[0], chain[1:], None):
            self.records.pop(rec.id, None)

    def _evict_stale(self, side: Side, request: RequestId | None = None) -> bool:
        """Remove the record of ``side`` if it is an idle remnant (an old path not yet collected).

        A session re-enters a box host it left (a box removed, then inserted again) with the
        same session tuple; the old record's entries would collide with the new ones. A record with
        a reconfiguration in progress is never evicted, nor one whose lock ``request`` (the
        reconfiguration whose new-path SYN this is) holds: then the box is on that request's
        old path, i.e. on the session's live path (an insert of a box the chain still has,
        e.g. after its removal was cancelled), and without its entries the path's packets
        reach its host with the subsession's tuple and draw RSTs, which the next agent
        rewrites to the session (docs/testbed.md, soak, open finding A). A remnant's lock
        still names the request that removed the box.
        """
        rec = side.record
        if any(s.busy is not None for s in rec.sides()) or rec.pending is not None:
            return False
        if request is not None and any(s.lock.request == request for s in rec.sides()):
            return False
        if any(rr.side.record is rec for rr in self.right_requests.values()):
            return False
        self._remove_record(rec, "replaced")
        return True

    def _create_right_side(
        self,
        rec: SessionRecord,
        seg: Segment,
        next_hop: str,
        remaining: tuple[str, ...],
        template: ControlMessage | None,
    ) -> bool:
        stale = self.right_by_stuple.get(seg.tuple)
        r = template.request if template is not None else None
        if stale is not None and stale.record is not rec and not self._evict_stale(stale, r):
            self._observe("setup.conflict", tuple=str(seg.tuple))
            return False
        local = rec.left.local if rec.left is not None else seg.tuple.src_ip
        slot = self._slot_for_new_session()
        if slot is None:
            self._observe("setup.slots_exhausted", local=local)
            return False
        try:
            port = self.ports.allocate(local, next_hop)
        except PortsExhausted:
            self._observe("setup.ports_exhausted", local=local, peer=next_hop)
            return False
        sub = FiveTuple(local, port, next_hop, seg.tuple.dst_port)
        side = Side(rec, False, local, next_hop, sub, seg.tuple, slot, own_port=port)
        self._record_handshake(side, seg, outgoing=True)
        rec.right = side
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
        if msg.type is MsgType.SYN and msg.handshake is not None:
            self._expect_new_path_synack(rec, side, msg.handshake)
        self._send_chain_syn(side, seg)
        return True

    @staticmethod
    def _expect_new_path_synack(rec: SessionRecord, right: Side, h: Handshake) -> None:
        """A box on a new path: record now what the mirrors of the coming SYN-ACK would.

        That SYN-ACK is the right anchor's answer to the handshake this SYN carries (its
        options are ``h``'s peer options, ``_ra_send_synack``), and the box forwards it as it
        is (a box that terminates TCP cannot join a live session). Mirrors are best-effort
        copies (a switch may drop them when its CPU queue is full; on bmv2 one was lost while
        a reconfiguration's punts were queued): without this a lost one left the box believing the
        server had no window scaling, and the next new path it anchored told a stateful box
        so, which then dropped every scaled window as out of window. A handshake whose
        SYN-ACK half the left anchor never learnt (``synack_known`` false) says nothing of it:
        the right anchor answers with its own record's options, which only the SYN-ACK's
        mirror tells this box."""
        if not h.synack_known:
            return
        right.hs.wscale_peer = h.wscale_peer
        right.hs.sack_ok = right.hs.sack_ok or h.sack_ok
        right.hs.ts_ok = right.hs.ts_ok or h.ts_ok
        right.hs.synack_seen = True
        if rec.left is not None:
            rec.left.hs.wscale_host = h.wscale_peer
            rec.left.hs.synack_seen = True

    def _send_chain_syn(self, side: Side, seg: Segment) -> None:
        assert side.syn_msg is not None
        self._msg_id += 1
        payload = self.codec.encode(replace(side.syn_msg, sender=side.local, msg_id=self._msg_id))
        out = replace(strip(seg), tuple=side.sub, payload=payload)
        self._emit(SendPacket(out, Toward.NETWORK))

    def _syn_from_net(self, seg: Segment, key: EntryKey | None) -> None:
        side = self.by_key.get(key) if key else self._chain_syn_copy(seg)
        if side is not None:
            if key is not None and key != side.in_key:
                # new-path IN entry of a right anchor: a repeated new-path SYN
                ra = self._right_for_side(side)
                if ra is not None:
                    self._ra_repeated_syn(ra, seg)
                return
            if side.hs.isn_in is not None and seg.seq != side.hs.isn_in:
                # not the session's SYN again: a late copy of a new-path SYN on an IN entry
                # that became the side's own at the fold (right anchor); the host must never
                # see it (a host whose connection is closing answers with a RST)
                self._observe("setup.stale_syn", tuple=str(seg.tuple))
                return
            self._repending(side, seg)
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
        r = msg.request if msg.type is MsgType.SYN else None
        if stale is not None and not self._evict_stale(stale, r):
            self._observe("setup.conflict", tuple=str(msg.left_session))
            return
        slot = self._slot_for_new_session()
        if slot is None:
            self._observe("setup.slots_exhausted", local=seg.tuple.dst_ip)
            return
        rec = self._new_record()
        local = seg.tuple.dst_ip
        side = Side(rec, True, local, seg.tuple.src_ip, seg.tuple, msg.left_session, slot)
        rec.left = side
        self._index_side(side)
        self._install(side, side.in_entry())
        self._install(side, side.out_entry())
        if msg.hops:
            self._set_pending(side, msg)
        self._deliver_syn(side, seg)

    def _set_pending(self, side: Side, msg: ControlMessage) -> None:
        """Wait for the box to emit the SYN (found by a fresh tag, or by its tuple)."""
        rec = side.record
        tag = self._rng.getrandbits(32)
        while tag in self.pending_by_tag:
            tag = self._rng.getrandbits(32)
        rec.pending = Pending(msg.hops, tag, msg)
        self.pending_by_tag[tag] = rec
        self.pending_by_tuple[side.stuple] = rec
        self._timer(TimerKey.for_record(TimerKind.PENDING, rec.id), self.config.pending_timeout)

    def _chain_syn_copy(self, seg: Segment) -> Side | None:
        """The side a SYN punted without an entry key repeats: a copy of the chain SYN that
        created it (same subsession, same ISN), arriving before the device held the side's
        IN entry. It is a retransmission like one that hit the entry; taken for a stale
        session instead, the side was evicted and re-created, its entries removed while the
        peer's ACK and data were on their way: they reached the host unrewritten (rack e2e 8
        under load: 26 RSTs)."""
        side = self.left_by_sub.get(seg.tuple)
        if side is None or side.hs.isn_in != seg.seq or side.record.closing:
            return None
        return side

    def _repending(self, side: Side, seg: Segment) -> None:
        """A retransmitted chain SYN at a box host whose box never (yet) continued it and
        whose pending record expired (``pending_timeout``: on a loaded control plane the
        box's SYN comes back later than that): wait for it again, so the copy the box
        emits continues the chain instead of leaving as a bare SYN of the session."""
        rec = side.record
        if rec.pending is not None or rec.right is not None or not seg.payload:
            return
        try:
            msg = self.codec.decode(seg.payload, check_replay=False)
        except WireError:
            return
        if msg.type in (MsgType.CHAIN, MsgType.SYN) and msg.hops:
            self._set_pending(side, msg)

    def _deliver_syn(self, side: Side, seg: Segment) -> None:
        host = replace(strip(seg), tuple=side.stuple)
        self._record_handshake(side, host, outgoing=False)
        pend = side.record.pending
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
            self._left_maybe_commit(la, Trigger.SYNACK_PACKET)

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

    def _on_fin(self, side: Side, direction: Direction, rst: bool) -> None:
        rec = side.record
        first = not (rec.fin_lr or rec.fin_rl)
        rightward = (direction is Direction.OUT) != side.is_left
        if rightward:
            rec.fin_lr = True
        else:
            rec.fin_rl = True
        rec.reset = rec.reset or rst
        if (rst or (rec.fin_lr and rec.fin_rl)) and not rec.closing:
            rec.closing = True
            rec.close_alive = self._now
            if rec.close_wait > 0:  # a half-close check's answers do not count for the close
                rec.close_wait = 0
                probe = ("close", RequestId("0.0.0.0", rec.id))
                for token in [t for t, v in self.tokens.items() if v == probe]:
                    del self.tokens[token]
            self._timer(TimerKey.for_record(TimerKind.CLOSE, rec.id), self.config.close_timeout)
        elif rec.lingering and not rst:
            # a FIN again while lingering: its sender has not had the ACK of it (lost further
            # on, or queued past the linger on a loaded path) and will send it again, backing
            # off: the linger starts again (as conntrack's timeout restarts on each packet)
            self._linger(rec)
        elif rec.closing:
            rec.close_alive = self._now  # a retransmitted FIN: its sender is still at it
        elif first:
            # one FIN: the other one's mirror may be lost (best-effort copies). Watch the
            # half-closed session: a check soon takes each side's registers as the baseline,
            # then every close_hold; a check that finds nothing moved removes it (3.6)
            self._timer(TimerKey.for_record(TimerKind.CLOSE, rec.id), self.config.close_timeout)
        else:
            rec.close_moved = True  # the same FIN again: its sender is still at it

    def _close_check(self, rec: SessionRecord) -> None:
        """Both FINs were seen: remove the session once everything each side sent (the FIN
        included) is acknowledged. A FIN seen here may still be lost further on (or held by a
        new path's anchor, 4.2): its retransmission must still find the entries. One FIN
        seen: probe the sides of the half-closed session (:meth:`_half_close_checked`)."""
        sides = rec.sides()
        if rec.lingering or rec.reset or not sides:
            self._remove_record(rec, "closed")
            return
        if rec.close_alive is None:  # restored from a checkpoint: count from now
            rec.close_alive = self._now
        if rec.closing and self._now - rec.close_alive >= self.config.close_hold:
            # nothing moved for close_hold: the senders gave up (or the hosts are gone)
            self._observe("session.close_gave_up", record=rec.id, checks=rec.close_tries)
            self._remove_record(rec, "close-hold")
            return
        # checked again even if an answer never comes (probe replies are packet-ins, which a
        # loaded switch drops): an answered check re-arms the timer itself
        fallback = self._close_backoff(rec) if rec.closing else self.config.close_hold
        self._timer(TimerKey.for_record(TimerKind.CLOSE, rec.id), fallback)
        rec.close_wait = len(sides)
        rec.close_ok = True
        for side in sides:
            self._probe(side, "close", RequestId("0.0.0.0", rec.id))

    def _on_idle(self, key: EntryKey) -> None:
        side = self.by_key.get(key)
        if side is None:
            return
        if key in side.retired:
            self._remove_entry(side, key)
            return
        if side.busy is not None or any(rr.side is side for rr in self.right_requests.values()):
            return
        if side.record.pending is not None:
            return
        self._remove_entry(side, key)
        if not side.installed:
            rec = side.record
            self._remove_side(side)
            if not rec.sides():
                self._observe("session.removed", record=rec.id, reason="idle")

    def _cmd_relate(self, inbound: FiveTuple, outbound: FiveTuple) -> None:
        lside = self.left_by_stuple.get(inbound)
        rside = self.right_by_stuple.get(outbound)
        if lside is None or rside is None:
            self._observe("relate.unknown", inbound=str(inbound), outbound=str(outbound))
            return
        h1, h2 = lside.record, rside.record
        if h1 is h2:
            return
        if h1.right is not None or h2.left is not None:
            self._observe("relate.conflict", inbound=str(inbound), outbound=str(outbound))
            return
        self._drop_pending(h1)
        h1.right = rside
        rside.record = h1
        h1.fin_lr = h1.fin_lr or h2.fin_lr
        h1.fin_rl = h1.fin_rl or h2.fin_rl
        self._cancel_timer(TimerKey.for_record(TimerKind.CLOSE, h2.id))
        self.records.pop(h2.id, None)
        self._observe("relate.ok", record=h1.id)

    def _cmd_box_offset(self, cmd: BoxOffset) -> None:
        side = self.left_by_stuple.get(cmd.session)
        if side is None:
            self._observe("offset.unknown", session=str(cmd.session))
            return
        side.record.offset_lr = cmd.offset_lr
        side.record.offset_rl = cmd.offset_rl

    def _on_record_timer(self, key: TimerKey) -> None:
        """A session's timer: the close check, or a pending set-up that never continued."""
        rec = self.records.get(key.record) if key.record is not None else None
        if rec is None:
            return
        if key.kind is TimerKind.CLOSE:
            self._close_check(rec)
        else:
            self._drop_pending(rec)

    def _on_close_snapshot(self, record_id: int, snap: SlotSnapshot) -> None:
        """One side's answer to a close probe: remove the session once both sides' last
        bytes are acknowledged, else check again later."""
        rec = self.records.get(record_id)
        if rec is None or rec.close_wait <= 0:
            return
        acked = snap.sent_hi is None or (
            snap.rcvd_ack_hi is not None and seq_ge(snap.rcvd_ack_hi, snap.sent_hi)
        )
        # and the host acknowledged the FIN it was sent on this side: an anchor's only side
        # sees its host's acks nowhere else (a middle hop's other side's sent_hi covers them)
        side = next((x for x in rec.sides() if x.slot == snap.slot), None)
        if side is not None and side.fin_in_end is not None:
            acked = acked and snap.ack_hi is not None and seq_ge(snap.ack_hi, side.fin_in_end)
        rec.close_ok = rec.close_ok and acked
        seen = (snap.sent_hi, snap.ack_hi, snap.rcvd_ack_hi)
        if rec.close_seen.get(snap.slot, seen) != seen:
            rec.close_alive = self._now  # acknowledgments moved: the close is progressing
            rec.close_moved = True
        elif snap.slot not in rec.close_seen:
            rec.close_moved = True  # no baseline yet (the first check, or restored)
        rec.close_seen[snap.slot] = seen
        rec.close_wait -= 1
        if rec.close_wait == 0:
            if not rec.closing:
                self._half_close_checked(rec)
            elif rec.close_ok:
                self._linger(rec)
            else:
                # not yet: its senders retransmit, backing off (a loaded path drops segments
                # after the mirror that saw them); checked again, less and less often, until
                # close_hold passes without a sign of life
                rec.close_tries += 1
                self._timer(TimerKey.for_record(TimerKind.CLOSE, rec.id), self._close_backoff(rec))

    def _close_backoff(self, rec: SessionRecord) -> float:
        """The interval before a closing session's next check: ``close_timeout`` doubled per
        "not yet" answer, at most ``CLOSE_CHECK_MAX``."""
        doublings = min(max(rec.close_tries - 1, 0), 16)
        return min(CLOSE_CHECK_MAX, self.config.close_timeout * float(1 << doublings))

    def _half_close_checked(self, rec: SessionRecord) -> None:
        """Every side of a half-closed session answered: nothing moved since the previous
        check (no register changed, no FIN seen again) and the session goes (the other
        FIN's mirror was lost, or its hosts are gone); else it is checked after close_hold
        again. A direction still carrying data (``shutdown(SHUT_WR)``) moves."""
        if rec.close_moved:
            rec.close_moved = False
            self._timer(TimerKey.for_record(TimerKind.CLOSE, rec.id), self.config.close_hold)
            return
        self._observe("session.half_close_gave_up", record=rec.id)
        self._remove_record(rec, "half-close-hold")

    def _linger(self, rec: SessionRecord) -> None:
        """Keep a closed session's entries ``close_linger`` from now (removed when the close
        timer fires, :meth:`_close_check`); beyond ``max_lingering`` lingering sessions the
        one that started lingering first goes now."""
        rec.lingering = True
        self._timer(TimerKey.for_record(TimerKind.CLOSE, rec.id), self.config.close_linger)
        q = self.linger_queue
        q.pop(rec.id, None)
        q[rec.id] = None
        while len(q) > max(1, self.config.max_lingering):
            self._evict_lingering()

    def _evict_lingering(self) -> bool:
        """Remove the session that started lingering first (capacity); false if none."""
        q = self.linger_queue
        while q:
            rid = next(iter(q))
            del q[rid]
            old = self.records.get(rid)
            if old is not None and old.lingering:
                self._observe("session.linger_evicted", record=rid)
                self._remove_record(old, "linger-evicted")
                return True
        return False
