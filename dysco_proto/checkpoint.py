"""Checkpoint and restore of an :class:`~dysco_proto.agent.Agent` (controller restarts).

:func:`export_state` turns an agent's durable state into a JSON-serialisable dict;
:func:`restore_state` rebuilds it in a *fresh* agent (same configuration) and returns the
actions that make the restored agent consistent (timers to re-arm, staged entries to undo).

What is kept: every session (hop) with its sides (addresses, subsession and session tuples,
slot, own port, deltas, handshake records, lock state, epoch, the IN entry's role (NEW after a
left anchor's fold: absent from format /1, read as ONE), installed and retired entries, the
chain template of right sides), pending chain set-ups, box offsets, FIN/closing flags,
the port pool's allocations, and the counters that must keep growing (hop ids, slots, probe
tokens, control-message ids, request numbers). Policies are configuration, not state.

What is resumed: a reconfiguration from the moment the other anchor may act on it - at a
left anchor once it is committing (``LEFT_RESUMED``: its ACK may have switched the right
anchor), at a right anchor once it has answered the new-path SYN (``RIGHT_RESUMED``: the left
anchor may commit on its SYN-ACK). The anchor's record goes with its side; on restore it is put
back and the timer that drives its phase is re-armed (ACK retransmission, probes, the right
anchor's timeout); probe tokens are not kept (the timer sends fresh probes). The finished
right-anchor requests still answered on a retransmitted ACK (``right_done``) are kept too.

What is dropped: the other reconfigurations in flight at this agent as an anchor (left anchors
locking, preparing or waiting for the SYN-ACK, right anchors locked or preparing,
rightRequests, held lock requests). Nothing of them has been acted on by the other anchor, so
on restore a side that was busy with one is reverted to its stable single path: staged
new-path entries are removed, the OUT entry is rewritten without a second path and a lock
taken for the dropped request is released. The peers time out (lock / anchor timers) and
cancel or revert on their side. Locks this agent holds as a middle hop for other anchors'
requests are kept: their anchors finish or cancel them through us.

:class:`Tracker`, :func:`export_hop`, :func:`export_meta` and :func:`restore_parts` are the
incremental form the daemon's store uses (one record per session, written when an event
touched it). Everything restored is validated; a malformed or out-of-range value raises
:class:`CheckpointError`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

from dysco_proto.actions import Action, ModifyEntry, RemoveEntry, StartTimer
from dysco_proto.agent import (
    Agent,
    HandshakeRecord,
    LeftAnchor,
    LeftPhase,
    Pending,
    RightAnchor,
    RightPhase,
    SessionRecord,
    Side,
)
from dysco_proto.checkpoint_codec import (
    CheckpointError,
    _d,
    _d_in,
    _hs,
    _hs_in,
    _int,
    _ip,
    _key,
    _key_in,
    _msg,
    _msg_in,
    _opt_int,
    _rid,
    _rid_in,
    _rid_req,
    _t,
    _t_in,
    _tr,
    _tr_in,
    _tt,
)
from dysco_proto.entries import NUM_SLOTS, Role
from dysco_proto.lock import LockState, LockStatus
from dysco_proto.timers import TimerKey, TimerKind
from dysco_proto.wire import (
    RequestId,
)

__all__ = [
    "FORMAT",
    "READABLE",
    "CheckpointError",
    "Tracker",
    "dropped_requests",
    "export_cursor",
    "export_hop",
    "export_meta",
    "export_state",
    "restore_parts",
    "restore_state",
]

FORMAT = "dysco-agent-checkpoint/2"
#: formats a restore reads: /1 lacks a side's ``in_role`` (the IN entry's role after a left
#: anchor's fold, NEW): read as ONE, what every restore did before /2
READABLE = ("dysco-agent-checkpoint/1", FORMAT)
_U64 = (1 << 64) - 1


#: phases in which a reconfiguration is resumed by a restore, not dropped: from the moment
#: the other anchor may act on it - the right anchor has answered the new-path SYN (the left
#: may commit on its SYN-ACK), the left anchor is committing (its ACK switches the right)
LEFT_RESUMED = frozenset({LeftPhase.COMMITTING, LeftPhase.COMMITTED, LeftPhase.SWITCHED})
RIGHT_RESUMED = frozenset({RightPhase.SYN_RCVD, RightPhase.SWITCHED})
#: the timer that drives each resumed phase (what the agent itself arms on entering it)
_LEFT_TIMER = {
    LeftPhase.COMMITTING: TimerKind.CPROBE,
    LeftPhase.COMMITTED: TimerKind.ACK,
    LeftPhase.SWITCHED: TimerKind.PROBE,
}
_RIGHT_TIMER = {
    RightPhase.SYN_RCVD: TimerKind.RANCHOR,
    RightPhase.SWITCHED: TimerKind.RPROBE,
}


def _anchor(agent: Agent, s: Side) -> dict[str, Any] | None:
    """The side's reconfiguration in flight if a restore resumes it (see LEFT_RESUMED)."""
    if s.busy is None:
        return None
    la = agent.lefts.get(s.busy)
    if la is not None and la.side is s and la.phase in LEFT_RESUMED:
        return {
            "role": "left",
            "request": _rid(la.request),
            "right_anchor": la.right_anchor,
            "new_boxes": list(la.new_boxes),
            "tag": la.tag,
            "started": la.started,
            "phase": la.phase.value,
            "retries": la.retries,
            "phi_lr": _tr(la.phi_lr),
            "phi_rl": _tr(la.phi_rl),
            "new_sub": _t(la.new_sub),
            "new_port": la.new_port,
            "syn_seq": la.syn_seq,
            "syn_ack": la.syn_ack,
            "synack_seq": la.synack_seq,
            "peer_hs": _hs(la.peer_hs),
            "cut": la.cut,
            "peer_cut": la.peer_cut,
        }
    ra = agent.rights.get(s.busy)
    if ra is not None and ra.side is s and ra.phase in RIGHT_RESUMED:
        return {
            "role": "right",
            "request": _rid(ra.request),
            "left_anchor": ra.left_anchor,
            "phi_lr": _tr(ra.phi_lr),
            "phase": ra.phase.value,
            "new_sub": _t(ra.new_sub),
            "new_in": _d(ra.new_in),
            "new_out": _d(ra.new_out),
            "syn_seq": ra.syn_seq,
            "syn_ack": ra.syn_ack,
            "peer_hs": _hs(ra.peer_hs),
            "cut": ra.cut,
            "peer_cut": ra.peer_cut,
        }
    return None


def _anchor_in(agent: Agent, side: Side, v: Any) -> list[Action]:
    """Resume a committed reconfiguration at ``side``: the anchor goes back into the agent
    and its retransmission / probe timer is re-armed (the probe tokens of the previous
    process are gone: the timer sends fresh probes)."""
    if not isinstance(v, dict):
        raise CheckpointError("malformed anchor")
    r = _rid_req(v["request"])
    if side.busy != r:
        raise CheckpointError("an anchor for a request its side is not busy with")
    rto = agent.config.rto
    if v["role"] == "left":
        la = LeftAnchor(
            r,
            side,
            _ip(v["right_anchor"]),
            tuple(_ip(b) for b in v["new_boxes"]),
            _int(v["tag"], 0, 0xFFFFFFFF, "tag"),
            float(v["started"]),
            phase=LeftPhase(v["phase"]),
            retries=_int(v["retries"], 0, 1 << 31, "retries"),
            phi_lr=_tr_in(v["phi_lr"]),
            phi_rl=_tr_in(v["phi_rl"]),
            new_sub=_t_in(v["new_sub"]),
            new_port=None if v["new_port"] is None else _int(v["new_port"], 1, 0xFFFF, "port"),
            syn_seq=_int(v["syn_seq"], 0, _U64, "seq"),
            syn_ack=_int(v["syn_ack"], 0, _U64, "seq"),
            synack_seq=_opt_int(v["synack_seq"], "seq"),
            peer_hs=_hs_in(v["peer_hs"]),
            cut=_opt_int(v["cut"], "cut"),
            peer_cut=_opt_int(v["peer_cut"], "cut"),
        )
        if la.phase not in LEFT_RESUMED or la.new_sub is None:
            raise CheckpointError("a left anchor that is not committing")
        agent.lefts[r] = la
        if la.new_port is not None:
            agent.ports.reserve(side.local, la.new_sub.dst_ip, la.new_port)
        timer = _LEFT_TIMER[la.phase]
        delay = rto
    elif v["role"] == "right":
        ra = RightAnchor(
            r,
            side,
            _ip(v["left_anchor"]),
            _tr_in(v["phi_lr"]),
            phase=RightPhase(v["phase"]),
            new_sub=_t_in(v["new_sub"]),
            new_in=_d_in(v["new_in"]),
            new_out=_d_in(v["new_out"]),
            syn_seq=_int(v["syn_seq"], 0, _U64, "seq"),
            syn_ack=_int(v["syn_ack"], 0, _U64, "seq"),
            peer_hs=_hs_in(v["peer_hs"]),
            cut=_opt_int(v["cut"], "cut"),
            peer_cut=_opt_int(v["peer_cut"], "cut"),
        )
        if ra.phase not in RIGHT_RESUMED or ra.new_sub is None:
            raise CheckpointError("a right anchor that has not answered the new-path SYN")
        agent.rights[r] = ra
        timer = _RIGHT_TIMER[ra.phase]
        delay = agent.config.anchor_timeout if timer is TimerKind.RANCHOR else rto
    else:
        raise CheckpointError(f"unknown anchor role {v['role']!r}")
    tid = TimerKey.for_request(timer, r)
    agent.timers.add(tid)
    return [StartTimer(tid, delay)]


_HS_FIELDS = tuple(f.name for f in dataclasses.fields(HandshakeRecord))


def _fin_in_end(v: Any) -> int | None:
    """The end of the peer's FIN a side's close check waits for its host to acknowledge
    (absent in checkpoints written before it was kept: none known)."""
    return None if v is None else _int(v, 0, 0xFFFF_FFFF, "fin_in_end")


def _hs_record(v: dict[str, Any], is_left: bool) -> HandshakeRecord:
    """A side's handshake record; a checkpoint written before ``synack_seen`` existed
    knew the SYN-ACK exactly when it had recorded its sequence number."""
    hs = HandshakeRecord(**v)
    if "synack_seen" not in v:
        hs.synack_seen = (hs.isn_out if is_left else hs.isn_in) is not None
    return hs


def _side(s: Side, dropped: set[RequestId], agent: Agent | None = None) -> dict[str, Any]:
    lock = s.lock
    return {
        "local": s.local,
        "peer": s.peer,
        "sub": _t(s.sub),
        "stuple": _t(s.stuple),
        "slot": s.slot,
        "own_port": s.own_port,
        "in_deltas": _d(s.in_deltas),
        "out_deltas": _d(s.out_deltas),
        "hs": {f: getattr(s.hs, f) for f in _HS_FIELDS},  # as asdict: its fields are plain
        "lock": {
            "status": lock.status.value,
            "request": _rid(lock.request),
            "held": [_rid(r) for r in lock.held if r not in dropped],
            "ended": [_rid(r) for r in lock.ended],
        },
        "epoch": s.epoch,
        "in_role": s.in_role.value,
        "after_hold": s.after_hold,
        "fin_in_end": s.fin_in_end,
        "busy": _rid(s.busy),
        "busy_dropped": s.busy is not None and s.busy in dropped,
        "anchor": None if agent is None else _anchor(agent, s),
        "syn_msg": _msg(s.syn_msg),
        "installed": sorted(_key(k) for k in s.installed),
        "retired": [[_key(k), p] for k, p in sorted(s.retired.items())],
    }


def _rng_state(agent: Agent) -> list[Any]:
    version, internal, gauss = agent._rng.getstate()
    return [version, list(internal), gauss]


# --- export -----------------------------------------------------------------------------------


def dropped_requests(agent: Agent) -> set[RequestId]:
    """The reconfigurations a restore drops: those in flight at this agent as an anchor that
    have not committed yet (committed ones are resumed: ``LEFT_RESUMED``, ``RIGHT_RESUMED``)."""
    return (
        {r for r, la in agent.lefts.items() if la.phase not in LEFT_RESUMED}
        | {r for r, ra in agent.rights.items() if ra.phase not in RIGHT_RESUMED}
        | set(agent.right_requests)
    )


def export_hop(
    agent: Agent, hop: SessionRecord, dropped: set[RequestId] | None = None
) -> dict[str, Any]:
    """One session (hop) as a JSON-serialisable dict (``dropped``: from
    :func:`dropped_requests`, computed once when exporting many hops)."""
    if dropped is None:
        dropped = dropped_requests(agent)
    pend = hop.pending
    return {
        "id": hop.id,
        "left": None if hop.left is None else _side(hop.left, dropped, agent),
        "right": None if hop.right is None else _side(hop.right, dropped, agent),
        "pending": None
        if pend is None
        else {"hops": list(pend.hops), "tag": pend.tag, "msg": _msg(pend.msg)},
        "offset_lr": hop.offset_lr,
        "offset_rl": hop.offset_rl,
        "fin_lr": hop.fin_lr,
        "fin_rl": hop.fin_rl,
        "closing": hop.closing,
    }


def export_meta(agent: Agent) -> dict[str, Any]:
    """The agent-wide part of the state: format, addresses, counters, random generator."""
    return {
        "format": FORMAT,
        "addresses": sorted(agent.addresses),
        "counters": {
            "next_hop_id": agent._next_record_id,
            "next_slot": agent._next_slot,
            "next_token": agent._next_token,
            "msg_id": agent._msg_id,
            "req_number": agent._req_number,
        },
        "rng": _rng_state(agent),
        # answer-time estimates per exchange (srtt, rttvar): a restored agent times its
        # retransmissions as the previous process would have
        "rtt": {k.value: [srtt, var] for k, (srtt, var) in sorted(agent._rtt.items())},
        # finished right-anchor requests: a retransmitted ACK is answered from here
        "right_done": [[_rid(r), src, dst, cut] for r, (src, dst, cut) in agent.right_done.items()],
    }


def export_cursor(agent: Agent, pair: tuple[str, str]) -> int | None:
    """The port pool's allocation cursor for ``(local, peer)`` (``None``: pair unknown)."""
    st = agent.ports._pairs.get(pair)
    return None if st is None else st.cursor


def export_state(agent: Agent) -> dict[str, Any]:
    """The agent's durable state as a JSON-serialisable dict (see the module docstring)."""
    dropped = dropped_requests(agent)
    hops = [
        export_hop(agent, h, dropped) for h in sorted(agent.records.values(), key=lambda h: h.id)
    ]
    ports = [
        [local, peer, st.cursor, sorted(st.used)]
        for (local, peer), st in sorted(agent.ports._pairs.items())
    ]
    data = export_meta(agent)
    data["hops"] = hops
    data["ports"] = ports
    data["dropped_reconfigs"] = sorted(f"{r.anchor}/{r.number}" for r in dropped)
    return data


# --- incremental export: which hops an event touched -------------------------------------------

#: the agent's indexes through which every change to a hop's state is reached
_INDEXES = (
    "records",
    "by_key",
    "left_by_sub",
    "right_by_sub",
    "left_by_stuple",
    "right_by_stuple",
    "slot_owner",
    "pending_by_tuple",
    "pending_by_tag",
    "lefts",
    "rights",
    "right_requests",
    "held_msgs",
)


class _Tracked(dict[Any, Any]):
    """A dict that reports every value read, written or removed through it to ``note``."""

    __slots__ = ("note",)

    def __init__(self, data: dict[Any, Any], note: Any) -> None:
        super().__init__(data)
        self.note = note

    def __getitem__(self, k: Any) -> Any:
        v = super().__getitem__(k)
        self.note(k, v)
        return v

    def get(self, k: Any, default: Any = None) -> Any:
        v = super().get(k, default)
        if v is not default:
            self.note(k, v)
        return v

    def __setitem__(self, k: Any, v: Any) -> None:
        old = super().get(k)
        if old is not None:
            self.note(k, old)
        self.note(k, v)
        super().__setitem__(k, v)

    def __delitem__(self, k: Any) -> None:
        self.note(k, super().__getitem__(k))
        super().__delitem__(k)

    def pop(self, k: Any, *default: Any) -> Any:
        v = super().pop(k, *default)
        if not default or v is not default[0]:
            self.note(k, v)
        return v

    def popitem(self) -> tuple[Any, Any]:
        k, v = super().popitem()
        self.note(k, v)
        return k, v

    def setdefault(self, k: Any, default: Any = None) -> Any:
        v = super().setdefault(k, default)
        self.note(k, v)
        return v

    def values(self) -> list[Any]:  # type: ignore[override]
        out = list(super().values())
        for v in out:
            self.note(None, v)
        return out

    def items(self) -> list[tuple[Any, Any]]:  # type: ignore[override]
        out = list(super().items())
        for k, v in out:
            self.note(k, v)
        return out

    def clear(self) -> None:
        for k, v in list(super().items()):
            self.note(k, v)
        super().clear()


class Tracker:
    """Which hops (sessions) and port pairs an agent touched since the last :meth:`take`.

    Installing a tracker replaces the agent's indexes by dicts that report every value read
    or written through them: every change of a hop's state starts from such a lookup (or
    from an action naming the hop), so the hops a stretch of events changed are a subset of
    those reported. The daemon re-exports only these after each event, which keeps the cost
    of persistence proportional to the work the event did, not to the session count.
    """

    def __init__(self, agent: Agent) -> None:
        self.records: set[int] = set()
        self.pairs: set[tuple[str, str]] = set()
        #: record only while true: set it around ``agent.handle`` (reads by views, status
        #: and idle scans outside events change nothing and must not cost a re-export)
        self.active = False
        for name in _INDEXES:
            setattr(agent, name, _Tracked(getattr(agent, name), self._note))
        agent.ports._pairs = _Tracked(agent.ports._pairs, self._note_pair)

    def _note(self, _k: Any, v: Any) -> None:
        if not self.active:
            return
        if isinstance(v, SessionRecord):
            self.records.add(v.id)
        elif isinstance(v, Side):
            self.records.add(v.record.id)
        elif isinstance(v, tuple):
            for x in v:
                if isinstance(x, Side):
                    self.records.add(x.record.id)
        else:
            side = getattr(v, "side", None)
            if isinstance(side, Side):
                self.records.add(side.record.id)

    def _note_pair(self, k: Any, _v: Any) -> None:
        if self.active:
            self.pairs.add(k)

    def take(self) -> tuple[set[int], set[tuple[str, str]]]:
        """The hop ids and port pairs touched since the last call (and forget them)."""
        hops, pairs = self.records, self.pairs
        self.records, self.pairs = set(), set()
        return hops, pairs


# --- restore ----------------------------------------------------------------------------------


def _in_role(v: dict[str, Any], legacy: bool) -> Role:
    """A side's ``in_role``: ONE, or NEW after a left anchor's fold (absent from /1)."""
    if legacy and "in_role" not in v:
        return Role.ONE
    role = Role(v["in_role"])
    if role is Role.OLD:
        raise CheckpointError("in_role: expected 'one' or 'new', got 'old'")
    return role


def _side_in(
    hop: SessionRecord,
    is_left: bool,
    v: dict[str, Any],
    addresses: frozenset[str],
    legacy: bool = False,
) -> Side:
    if not isinstance(v, dict):
        raise CheckpointError(f"not a side: {v!r}")
    lk = v["lock"]
    if not isinstance(lk, dict) or not isinstance(v["hs"], dict):
        raise CheckpointError("malformed side")
    local = _ip(v["local"])
    if local not in addresses:
        raise CheckpointError(f"a side of address {local}, not served by this agent")
    request = _rid_in(lk["request"])
    own_port = v["own_port"]
    retired = v["retired"]
    if not isinstance(retired, list) or not isinstance(v["installed"], list):
        raise CheckpointError("malformed side entries")
    side = Side(
        hop,
        is_left,
        local,
        _ip(v["peer"]),
        _tt(v["sub"]),
        _tt(v["stuple"]),
        _int(v["slot"], 0, NUM_SLOTS - 1, "slot"),
        own_port=None if own_port is None else _int(own_port, 1, 0xFFFF, "own_port"),
        in_deltas=_d_in(v["in_deltas"]),
        out_deltas=_d_in(v["out_deltas"]),
        hs=_hs_record(v["hs"], is_left),
        lock=LockState(
            LockStatus(lk["status"]),
            request,
            [_rid_req(x) for x in lk["held"]],
            [_rid_req(x) for x in lk.get("ended", [])],
        ),
        epoch=_int(v["epoch"], 0, _U64, "epoch"),
        busy=_rid_in(v["busy"]),
        syn_msg=_msg_in(v["syn_msg"]),
        installed={_key_in(k) for k in v["installed"]},
        retired={_key_in(k): None if p is None else _int(p, 1, 0xFFFF, "port") for k, p in retired},
        in_role=_in_role(v, legacy),
        after_hold=v.get("after_hold") is True,  # absent before it existed: no hold known
        fin_in_end=_fin_in_end(v.get("fin_in_end")),
    )
    return side


def _restore_hop(
    agent: Agent, hv: Any, dropped: set[RequestId] | None, legacy: bool = False
) -> list[Action]:
    """Rebuild one hop into ``agent`` (``dropped``: the checkpoint's dropped reconfigurations,
    or ``None`` to use each side's own ``busy_dropped`` flag; ``legacy``: a /1 checkpoint)."""
    if not isinstance(hv, dict):
        raise CheckpointError(f"not a session record: {hv!r}")
    hop = SessionRecord(_int(hv["id"], 1, _U64, "hop id"))
    if hop.id in agent.records:
        raise CheckpointError(f"session {hop.id} appears twice")
    hop.offset_lr = _int(hv["offset_lr"], -_U64, _U64, "offset")
    hop.offset_rl = _int(hv["offset_rl"], -_U64, _U64, "offset")
    hop.fin_lr, hop.fin_rl = bool(hv["fin_lr"]), bool(hv["fin_rl"])
    hop.closing = bool(hv["closing"])
    agent.records[hop.id] = hop
    out: list[Action] = []
    for which in ("left", "right"):
        sv = hv[which]
        if sv is None:
            continue
        side = _side_in(hop, which == "left", sv, agent.addresses, legacy)
        setattr(hop, which, side)
        agent._index_side(side)
        for key in side.installed:
            agent.by_key[key] = side
        drop = bool(sv.get("busy_dropped")) if dropped is None else side.busy in dropped
        if side.busy is not None and sv.get("anchor") is not None:
            out += _anchor_in(agent, side, sv["anchor"])
        elif side.busy is not None and drop:
            out += _revert(agent, side)
    pv = hv["pending"]
    if pv is not None:
        if not isinstance(pv, dict) or not isinstance(pv["hops"], list):
            raise CheckpointError("malformed pending chain")
        msg = _msg_in(pv["msg"])
        if msg is None:
            raise CheckpointError("pending chain without its message")
        hop.pending = Pending(
            tuple(_ip(h) for h in pv["hops"]), _int(pv["tag"], 0, 0xFFFFFFFF, "tag"), msg
        )
        agent.pending_by_tag[hop.pending.tag] = hop
        if hop.left is not None:
            agent.pending_by_tuple[hop.left.stuple] = hop
        out.append(
            StartTimer(TimerKey.for_record(TimerKind.PENDING, hop.id), agent.config.pending_timeout)
        )
        agent.timers.add(TimerKey.for_record(TimerKind.PENDING, hop.id))
    if hop.closing or hop.fin_lr != hop.fin_rl:  # closing, or half-closed: watched (3.6)
        out.append(
            StartTimer(TimerKey.for_record(TimerKind.CLOSE, hop.id), agent.config.close_timeout)
        )
        agent.timers.add(TimerKey.for_record(TimerKind.CLOSE, hop.id))
    return out


def _restore_meta(agent: Agent, data: Any) -> bool:
    """Restore the agent-wide part; true for a /1 checkpoint (see ``READABLE``)."""
    if not isinstance(data, dict):
        raise CheckpointError("a checkpoint must be a JSON object")
    if data.get("format") not in READABLE:
        raise CheckpointError(
            f"checkpoint format {str(data.get('format'))[:40]!r}: this version reads "
            + " and ".join(READABLE)
        )
    if agent.records or agent.by_key:
        raise CheckpointError("restore into a fresh agent only")
    addresses = data.get("addresses", [])
    if not isinstance(addresses, list) or set(addresses) - set(agent.addresses):
        raise CheckpointError("the checkpoint names addresses this agent does not serve")
    c = data["counters"]
    if not isinstance(c, dict):
        raise CheckpointError("malformed counters")
    limit = agent.config.slot_limit or NUM_SLOTS
    agent._next_record_id = _int(c["next_hop_id"], 1, _U64, "next_hop_id")
    agent._next_slot = _int(c["next_slot"], agent.config.slot_base, limit, "next_slot")
    agent._next_token = _int(c["next_token"], 0, _U64, "next_token")
    agent._msg_id = max(agent._msg_id, _int(c["msg_id"], 0, _U64, "msg_id"))
    agent._req_number = _int(c["req_number"], 0, 0xFFFFFFFF, "req_number")
    done = data.get("right_done") or []
    if not isinstance(done, list):
        raise CheckpointError("malformed right_done")
    for item in done:
        if not isinstance(item, list) or len(item) != 4:
            raise CheckpointError("malformed right_done entry")
        r = _rid_req(item[0])
        agent.right_done[r] = (_ip(item[1]), _ip(item[2]), _int(item[3], 0, _U64, "cut"))
        agent.timers.add(TimerKey.for_request(TimerKind.DONE, r))
    rtt = data.get("rtt") or {}  # absent before it existed: no estimates yet
    if not isinstance(rtt, dict):
        raise CheckpointError("malformed rtt")
    for kind, est in rtt.items():
        if not isinstance(est, list) or len(est) != 2:
            raise CheckpointError("malformed rtt entry")
        srtt, var = (float(x) for x in est)
        if not (0.0 <= srtt < 3600.0 and 0.0 <= var < 3600.0):
            raise CheckpointError("rtt estimate out of range")
        agent._rtt[TimerKind(kind)] = (srtt, var)  # an unknown kind: ValueError (guarded)
    rng = data.get("rng")
    if rng is not None:
        if not isinstance(rng, list) or len(rng) != 3 or not isinstance(rng[1], list):
            raise CheckpointError("malformed random generator state")
        version, internal, gauss = rng
        agent._rng.setstate(
            (int(version), tuple(_int(x, 0, 0xFFFFFFFF, "rng") for x in internal), gauss)
        )
    return bool(data["format"] != FORMAT)


def _done_timers(agent: Agent) -> list[Action]:
    return [
        StartTimer(TimerKey.for_request(TimerKind.DONE, r), agent.config.done_linger)
        for r in agent.right_done
    ]


def _guard(fn: Any, *args: Any) -> Any:
    """Run one restore step; any shape error becomes a :class:`CheckpointError`."""
    try:
        return fn(*args)
    except CheckpointError:
        raise
    except (KeyError, TypeError, ValueError, IndexError, AttributeError, RecursionError) as e:
        raise CheckpointError(f"malformed checkpoint: {type(e).__name__}: {e}") from None


def restore_state(agent: Agent, data: dict[str, Any]) -> list[Action]:
    """Load ``data`` (from :func:`export_state`) into ``agent``, a freshly built agent with
    the same configuration. Returns the actions to execute: timers to re-arm (close, pending)
    and, for sides that were busy with a dropped reconfiguration, the entry writes that put
    them back on their stable path.

    Every field is validated; any malformed or out-of-range value raises
    :class:`CheckpointError` (the agent is then half-filled: discard it)."""
    legacy: bool = _guard(_restore_meta, agent, data)

    def ports_and_hops() -> list[Action]:
        for local, peer, cursor, used in data["ports"]:
            for port in used:
                agent.ports.reserve(_ip(local), _ip(peer), _int(port, 1, 0xFFFF, "port"))
            agent.ports._state(local, peer).cursor = _int(cursor, 1, 0xFFFF, "cursor")
        dropped_list = data.get("dropped_reconfigs", [])
        if not isinstance(dropped_list, list):
            raise CheckpointError("malformed dropped_reconfigs")
        dropped = {
            RequestId(a, int(n)) for a, _, n in (str(x).rpartition("/") for x in dropped_list)
        }
        if not isinstance(data["hops"], list):
            raise CheckpointError("malformed sessions")
        out: list[Action] = _done_timers(agent)
        for hv in data["hops"]:
            out += _restore_hop(agent, hv, dropped, legacy)
        return out

    result: list[Action] = _guard(ports_and_hops)
    return result


def restore_parts(
    agent: Agent,
    meta: Any,
    hops: Iterable[Any],
    cursors: Iterable[tuple[str, str, int]] = (),
) -> list[Action]:
    """Like :func:`restore_state`, from the parts an incremental store keeps: the agent-wide
    :func:`export_meta`, the sessions (:func:`export_hop`) and the port cursors. The port
    pool's allocations are rebuilt from the sessions (a side's own port, and the ports of its
    retired entries, are exactly what it holds); reconfigurations in flight are dropped as
    each side's ``busy_dropped`` flag says."""
    legacy: bool = _guard(_restore_meta, agent, meta)

    def rest() -> list[Action]:
        out: list[Action] = _done_timers(agent)
        for hv in hops:
            out += _restore_hop(agent, hv, None, legacy)
        for hop in agent.records.values():
            for side in hop.sides():
                if side.own_port is not None:
                    agent.ports.reserve(side.local, side.peer, side.own_port)
                for key, port in side.retired.items():
                    if port is not None:
                        agent.ports.reserve(key.match.dst_ip, key.match.src_ip, port)
        for local, peer, cursor in cursors:
            agent.ports._state(_ip(local), _ip(peer)).cursor = _int(cursor, 1, 0xFFFF, "cursor")
        return out

    result: list[Action] = _guard(rest)
    return result


def _revert(agent: Agent, side: Side) -> list[Action]:
    """Put a side that was busy with a dropped reconfiguration back on its stable path."""
    out: list[Action] = []
    r = side.busy
    for key in sorted(side.installed - {side.in_key, side.out_key} - set(side.retired)):
        side.installed.discard(key)
        if agent.by_key.get(key) is side:
            del agent.by_key[key]
        out.append(RemoveEntry(key))
        m = key.match
        if not side.is_left and m.dst_ip == side.local and m.dst_port != side.sub.src_port:
            agent.ports.release(side.local, m.src_ip, m.dst_port)  # a left anchor's new port
    if side.out_key in side.installed:
        out.append(ModifyEntry(side.out_entry()))
    if side.in_key in side.installed:
        out.append(ModifyEntry(side.in_entry()))
    if side.lock.request == r:
        side.lock.release()
    side.busy = None
    return out
