"""Checkpoint and restore of an :class:`~dysco_proto.agent.Agent` (controller restarts).

:func:`export_state` turns an agent's durable state into a JSON-serialisable dict;
:func:`restore_state` rebuilds it in a *fresh* agent (same configuration) and returns the
actions that make the restored agent consistent (timers to re-arm, staged entries to undo).

What is kept: every session (hop) with its sides (addresses, subsession and session tuples,
slot, own port, deltas, handshake records, lock state, epoch, installed and retired entries,
the chain template of right sides), pending chain set-ups, box offsets, FIN/closing flags,
the port pool's allocations, and the counters that must keep growing (hop ids, slots, probe
tokens, control-message ids, request numbers). Policies are configuration, not state.

What is dropped: reconfigurations in flight at this agent as an anchor (left anchors, right
anchors, rightRequests, held lock requests, probe tokens) and the memory of recently finished
ones. On restore a side that was busy with one is reverted to its stable single path: staged
new-path entries are removed, the OUT entry is rewritten without a second path and a lock
taken for the dropped request is released. The peers time out (lock / anchor timers) and
cancel or revert on their side; a reconfiguration that had already committed at the remote
anchor when this agent stopped is not recovered (the remote anchor keeps retrying ``ack`` /
waits for its probes; re-issue the reconfiguration). Locks this agent holds as a middle hop
for other anchors' requests are kept: their anchors finish or cancel them through us.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from dysco_proto.actions import Action, ModifyEntry, RemoveEntry, StartTimer
from dysco_proto.agent import Agent, HandshakeRecord, Hop, Pending, Side
from dysco_proto.entries import Deltas, Direction, EntryKey
from dysco_proto.lock import LockState, LockStatus
from dysco_proto.packet import FiveTuple
from dysco_proto.wire import (
    ControlMessage,
    Handshake,
    MsgType,
    NackReason,
    RequestId,
    Transform,
)

__all__ = ["FORMAT", "CheckpointError", "export_state", "restore_state"]

FORMAT = "dysco-agent-checkpoint/1"


class CheckpointError(ValueError):
    """The data is not a checkpoint this version can restore (or does not fit the agent)."""


# --- value codecs ---------------------------------------------------------------------------


def _t(t: FiveTuple | None) -> list[Any] | None:
    return None if t is None else [t.src_ip, t.src_port, t.dst_ip, t.dst_port, t.proto]


def _t_in(v: Any) -> FiveTuple | None:
    return None if v is None else FiveTuple(str(v[0]), int(v[1]), str(v[2]), int(v[3]), int(v[4]))


def _tt(v: Any) -> FiveTuple:
    t = _t_in(v)
    if t is None:
        raise CheckpointError("missing five-tuple")
    return t


def _d(d: Deltas) -> list[int]:
    return [d.seq, d.ack, d.tsval, d.tsecr, d.win_shift]


def _d_in(v: Any) -> Deltas:
    return Deltas(*(int(x) for x in v))


def _rid(r: RequestId | None) -> list[Any] | None:
    return None if r is None else [r.anchor, r.number]


def _rid_in(v: Any) -> RequestId | None:
    return None if v is None else RequestId(str(v[0]), int(v[1]))


def _key(k: EntryKey) -> list[Any]:
    return [k.direction.value, _t(k.match)]


def _key_in(v: Any) -> EntryKey:
    return EntryKey(Direction(v[0]), _tt(v[1]))


def _msg(m: ControlMessage | None) -> dict[str, Any] | None:
    if m is None:
        return None
    hs = m.handshake
    return {
        "type": m.type.name,
        "request": _rid(m.request),
        "sender": m.sender,
        "msg_id": m.msg_id,
        "left_anchor": m.left_anchor,
        "right_anchor": m.right_anchor,
        "subsession": _t(m.subsession),
        "left_session": _t(m.left_session),
        "right_session": _t(m.right_session),
        "delta_lr": [m.delta_lr.seq, m.delta_lr.ts],
        "delta_rl": [m.delta_rl.seq, m.delta_rl.ts],
        "handshake": None if hs is None else dataclasses.asdict(hs),
        "cutoff": m.cutoff,
        "hops": list(m.hops),
        "reason": m.reason.name,
        "tag": m.tag,
    }


def _msg_in(v: Any) -> ControlMessage | None:
    if v is None:
        return None
    request = _rid_in(v["request"])
    assert request is not None
    return ControlMessage(
        MsgType[v["type"]],
        request,
        v["sender"],
        msg_id=int(v["msg_id"]),
        left_anchor=v["left_anchor"],
        right_anchor=v["right_anchor"],
        subsession=_t_in(v["subsession"]),
        left_session=_t_in(v["left_session"]),
        right_session=_t_in(v["right_session"]),
        delta_lr=Transform(*v["delta_lr"]),
        delta_rl=Transform(*v["delta_rl"]),
        handshake=None if v["handshake"] is None else Handshake(**v["handshake"]),
        cutoff=v["cutoff"],
        hops=tuple(v["hops"]),
        reason=NackReason[v["reason"]],
        tag=int(v["tag"]),
    )


def _side(s: Side, dropped: set[RequestId]) -> dict[str, Any]:
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
        "hs": dataclasses.asdict(s.hs),
        "lock": {
            "status": lock.status.value,
            "request": _rid(lock.request),
            "held": [_rid(r) for r in lock.held if r not in dropped],
            "ended": [_rid(r) for r in lock.ended],
        },
        "epoch": s.epoch,
        "busy": _rid(s.busy),
        "syn_msg": _msg(s.syn_msg),
        "installed": sorted(_key(k) for k in s.installed),
        "retired": [[_key(k), p] for k, p in sorted(s.retired.items())],
    }


def _rng_state(agent: Agent) -> list[Any]:
    version, internal, gauss = agent._rng.getstate()
    return [version, list(internal), gauss]


# --- export -----------------------------------------------------------------------------------


def export_state(agent: Agent) -> dict[str, Any]:
    """The agent's durable state as a JSON-serialisable dict (see the module docstring)."""
    dropped = set(agent.lefts) | set(agent.rights) | set(agent.right_requests)
    hops = []
    for hop in sorted(agent.hops.values(), key=lambda h: h.id):
        pend = hop.pending
        hops.append(
            {
                "id": hop.id,
                "left": None if hop.left is None else _side(hop.left, dropped),
                "right": None if hop.right is None else _side(hop.right, dropped),
                "pending": None
                if pend is None
                else {"hops": list(pend.hops), "tag": pend.tag, "msg": _msg(pend.msg)},
                "offset_lr": hop.offset_lr,
                "offset_rl": hop.offset_rl,
                "fin_lr": hop.fin_lr,
                "fin_rl": hop.fin_rl,
                "closing": hop.closing,
            }
        )
    ports = [
        [local, peer, st.cursor, sorted(st.used)]
        for (local, peer), st in sorted(agent.ports._pairs.items())
    ]
    return {
        "format": FORMAT,
        "addresses": sorted(agent.addresses),
        "counters": {
            "next_hop_id": agent._next_hop_id,
            "next_slot": agent._next_slot,
            "next_token": agent._next_token,
            "msg_id": agent._msg_id,
            "req_number": agent._req_number,
        },
        "rng": _rng_state(agent),
        "hops": hops,
        "ports": ports,
        "dropped_reconfigs": sorted(f"{r.anchor}/{r.number}" for r in dropped),
    }


# --- restore ----------------------------------------------------------------------------------


def _side_in(hop: Hop, is_left: bool, v: dict[str, Any]) -> Side:
    lk = v["lock"]
    request = _rid_in(lk["request"])
    side = Side(
        hop,
        is_left,
        v["local"],
        v["peer"],
        _tt(v["sub"]),
        _tt(v["stuple"]),
        int(v["slot"]),
        own_port=v["own_port"],
        in_deltas=_d_in(v["in_deltas"]),
        out_deltas=_d_in(v["out_deltas"]),
        hs=HandshakeRecord(**v["hs"]),
        lock=LockState(
            LockStatus(lk["status"]),
            request,
            [r for r in (_rid_in(x) for x in lk["held"]) if r is not None],
            [r for r in (_rid_in(x) for x in lk.get("ended", [])) if r is not None],
        ),
        epoch=int(v["epoch"]),
        busy=_rid_in(v["busy"]),
        syn_msg=_msg_in(v["syn_msg"]),
        installed={_key_in(k) for k in v["installed"]},
        retired={_key_in(k): p for k, p in v["retired"]},
    )
    return side


def restore_state(agent: Agent, data: dict[str, Any]) -> list[Action]:
    """Load ``data`` (from :func:`export_state`) into ``agent``, a freshly built agent with
    the same configuration. Returns the actions to execute: timers to re-arm (close, pending)
    and, for sides that were busy with a dropped reconfiguration, the entry writes that put
    them back on their stable path."""
    if data.get("format") != FORMAT:
        raise CheckpointError(f"not a {FORMAT} checkpoint")
    if agent.hops or agent.by_key:
        raise CheckpointError("restore into a fresh agent only")
    if set(data.get("addresses", [])) - set(agent.addresses):
        raise CheckpointError("the checkpoint names addresses this agent does not serve")
    c = data["counters"]
    agent._next_hop_id = int(c["next_hop_id"])
    agent._next_slot = int(c["next_slot"])
    agent._next_token = int(c["next_token"])
    agent._msg_id = max(agent._msg_id, int(c["msg_id"]))
    agent._req_number = int(c["req_number"])
    if data.get("rng") is not None:
        version, internal, gauss = data["rng"]
        agent._rng.setstate((int(version), tuple(int(x) for x in internal), gauss))
    for local, peer, cursor, used in data["ports"]:
        for port in used:
            agent.ports.reserve(local, peer, int(port))
        agent.ports._state(local, peer).cursor = int(cursor)
    dropped = {
        RequestId(a, int(n))
        for a, _, n in (x.rpartition("/") for x in data.get("dropped_reconfigs", []))
    }
    out: list[Action] = []
    for hv in data["hops"]:
        hop = Hop(int(hv["id"]))
        hop.offset_lr, hop.offset_rl = int(hv["offset_lr"]), int(hv["offset_rl"])
        hop.fin_lr, hop.fin_rl = bool(hv["fin_lr"]), bool(hv["fin_rl"])
        hop.closing = bool(hv["closing"])
        agent.hops[hop.id] = hop
        for which in ("left", "right"):
            sv = hv[which]
            if sv is None:
                continue
            side = _side_in(hop, which == "left", sv)
            setattr(hop, which, side)
            agent._index_side(side)
            for key in side.installed:
                agent.by_key[key] = side
            if side.busy is not None and side.busy in dropped:
                out += _revert(agent, side)
        pv = hv["pending"]
        if pv is not None:
            msg = _msg_in(pv["msg"])
            assert msg is not None
            hop.pending = Pending(tuple(pv["hops"]), int(pv["tag"]), msg)
            agent.pending_by_tag[hop.pending.tag] = hop
            if hop.left is not None:
                agent.pending_by_tuple[hop.left.stuple] = hop
            out.append(StartTimer(f"pending:{hop.id}", agent.config.pending_timeout))
            agent.timers.add(f"pending:{hop.id}")
        if hop.closing:
            out.append(StartTimer(f"close:{hop.id}", agent.config.close_timeout))
            agent.timers.add(f"close:{hop.id}")
    return out


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
