"""The Dysco agent: a sans-IO state machine (``handle(event, now) -> actions``).

One agent serves the hosts behind one device. It never touches a packet on the fast path: it
sees what the data plane punts or mirrors (SYNs, SYN-ACKs, FIN/RST), control messages from peer
agents, register snapshots, timers and management commands, and answers with entry writes,
packet-outs, control messages, timers and observations. ``docs/protocol-design.md`` is the
normative description; the anchors' phases are the table :mod:`dysco_proto.phase_table`.

This module dispatches events to the parts: :mod:`.session` (set-up, teardown), :mod:`.relay`
(hop-by-hop control messages), :mod:`.left` and :mod:`.right` (the anchors), :mod:`.views`.
"""

from __future__ import annotations

from dysco_proto.actions import Action
from dysco_proto.agent.left import LeftAnchorMixin
from dysco_proto.agent.records import AgentConfig
from dysco_proto.agent.relay import RelayMixin
from dysco_proto.agent.right import RightAnchorMixin
from dysco_proto.agent.session import SessionMixin
from dysco_proto.agent.views import ViewsMixin
from dysco_proto.events import (
    BoxOffset,
    ControlIn,
    EntryIdle,
    Event,
    PacketIn,
    Reconfigure,
    RelateProxy,
    RemoveMe,
    SlotSnapshot,
    TimerFired,
)
from dysco_proto.phase_table import LeftPhase, RightPhase
from dysco_proto.timers import RECORD_KINDS, TimerKey, TimerKind
from dysco_proto.wire import MsgType, RequestId, WireError

__all__ = ["Agent", "AgentConfig"]


class Agent(ViewsMixin, LeftAnchorMixin, RightAnchorMixin, RelayMixin, SessionMixin):
    """The sans-IO Dysco agent. Feed events to :meth:`handle`; execute the returned actions."""

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

    def _on_timer(self, key: TimerKey) -> None:
        """A timer fired: to the session or the anchor it belongs to (stale ones: ignored)."""
        if key.kind in RECORD_KINDS:
            self._on_record_timer(key)
            return
        r = key.request
        if r is None:
            return
        if key.kind is TimerKind.DONE:
            self.right_done.pop(r, None)
            self.left_done.discard(r)
            return
        if key.kind is TimerKind.RR:
            rr = self.right_requests.get(r)
            if rr is not None:
                self._requester_on_timer(rr)
            return
        la = self.lefts.get(r)
        if la is not None:
            self._left_on_timer(key, la)
        ra = self.rights.get(r)
        if ra is not None:
            self._right_on_timer(key, ra)

    def _on_snapshot(self, snap: SlotSnapshot) -> None:
        """Register values: a probe's answer (by token) or a latch report (token 0)."""
        if snap.token == 0:
            side = self.slot_owner.get(snap.slot)
            if side is None or side.busy is None:
                return
            la = self.lefts.get(side.busy)
            if la is not None and la.phase is LeftPhase.SWITCHED:
                self._left_check(la, snap)
            ra = self.rights.get(side.busy)
            if ra is not None and ra.phase is RightPhase.SWITCHED:
                self._ra_check(ra, snap)
            return
        purpose, r = self.tokens.pop(snap.token, ("", RequestId("0.0.0.0", 0)))
        if purpose == "close":
            self._on_close_snapshot(r.number, snap)
            return
        la = self.lefts.get(r)
        if la is not None:
            self._left_on_snapshot(purpose, la, snap)
        ra = self.rights.get(r)
        if ra is not None:
            self._right_on_snapshot(purpose, ra, snap)

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
                request=f"{msg.request.anchor}/{msg.request.number}",
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
