"""JSON rendering of the agent's read-only views for the management API.

Pure functions from :class:`~dysco_proto.agent.SessionView` / :class:`SideView`,
:class:`~dysco_proto.entries.MappingEntry` and policies to plain dictionaries (the shapes
documented in ``docs/controller.md``, Management API), and the selector match that the
``sessions`` and ``reconfig`` requests filter with. Parsing a request's parameters is
:mod:`controller.mgmt_handlers`' job.
"""

from __future__ import annotations

import ipaddress
from typing import Any

from dysco_proto.agent import SessionView, SideView
from dysco_proto.entries import Direction, EntryKey, MappingEntry
from dysco_proto.packet import FiveTuple


def sides(v: SessionView) -> list[SideView]:
    """The session's sides this agent holds (left, right; one or both)."""
    return [s for s in (v.left, v.right) if s is not None]


def subsession(v: SessionView) -> FiveTuple | None:
    """The subsession of the session's right side (else its left side)."""
    side = v.right or v.left
    return side.subsession if side else None


def side_keys(s: SideView) -> list[EntryKey]:
    """The keys of the two mapping entries a session side installs."""
    if s.which == "left":
        return [
            EntryKey(Direction.IN, s.subsession),
            EntryKey(Direction.OUT, s.session.reversed()),
        ]
    return [EntryKey(Direction.IN, s.subsession.reversed()), EntryKey(Direction.OUT, s.session)]


def state(v: SessionView) -> str:
    """``closing``, ``pending``, ``reconfiguring`` or ``established``."""
    if v.closing:
        return "closing"
    if v.pending:
        return "pending"
    if any(s.busy is not None for s in sides(v)):
        return "reconfiguring"
    return "established"


def matches(v: SessionView, sel: dict[str, Any]) -> bool:
    """Whether ``v`` matches a parsed selector (``src``/``dst`` networks, ``sport``/``dport``,
    ``peer``, ``state``); an empty selector matches every session."""
    if not sel:
        return True
    t = v.session
    if "src" in sel and ipaddress.IPv4Address(t.src_ip) not in sel["src"]:
        return False
    if "dst" in sel and ipaddress.IPv4Address(t.dst_ip) not in sel["dst"]:
        return False
    if "sport" in sel and t.src_port != sel["sport"]:
        return False
    if "dport" in sel and t.dst_port != sel["dport"]:
        return False
    if "peer" in sel and sel["peer"] not in {s.peer for s in sides(v)}:
        return False
    return not ("state" in sel and state(v) != sel["state"])


def deltas_dict(d: Any) -> dict[str, int]:
    """The sequence/acknowledgement/timestamp/window deltas of a side or entry."""
    return {
        "seq": d.seq,
        "ack": d.ack,
        "tsval": d.tsval,
        "tsecr": d.tsecr,
        "win_shift": d.win_shift,
    }


def side_dict(s: SideView) -> dict[str, Any]:
    """One session side, in full."""
    return {
        "local": s.local,
        "peer": s.peer,
        "subsession": str(s.subsession),
        "session": str(s.session),
        "in_deltas": deltas_dict(s.in_deltas),
        "out_deltas": deltas_dict(s.out_deltas),
        "lock": s.lock,
        "lock_request": f"{s.lock_request.anchor}/{s.lock_request.number}"
        if s.lock_request
        else None,
        "busy": f"{s.busy.anchor}/{s.busy.number}" if s.busy else None,
        "entries": s.entries,
    }


def session_dict(v: SessionView, brief: bool) -> dict[str, Any]:
    """One session: the ``sessions`` listing's line (``brief``) or the ``session`` detail."""
    left, right = v.left, v.right
    local = left.local if left else (right.local if right else None)
    path = [x for x in (left.peer if left else None, local, right.peer if right else None) if x]
    d: dict[str, Any] = {
        "id": v.id,
        "session": str(v.session),
        "state": state(v),
        "left_peer": left.peer if left else None,
        "right_peer": right.peer if right else None,
        "path": path,
    }
    if not brief:
        d["left"] = side_dict(left) if left else None
        d["right"] = side_dict(right) if right else None
        d["pending"] = v.pending
        d["closing"] = v.closing
        d["fin"] = {"left_to_right": v.fin_lr, "right_to_left": v.fin_rl}
    return d


def entry_dict(e: MappingEntry) -> dict[str, Any]:
    """One mapping entry as the controller installed it."""
    return {
        "key": str(e.key),
        "rewrite": str(e.rewrite),
        "deltas": deltas_dict(e.deltas),
        "slot": e.slot,
        "role": e.role.value,
        "epoch": e.epoch,
        "new_rewrite": str(e.new_rewrite) if e.new_rewrite else None,
    }


def policy_dict(p: Any) -> dict[str, Any]:
    """One policy of the agent's table (``policy.list``)."""
    return {
        "name": p.name,
        "src": str(p.src) if p.src else None,
        "dst": str(p.dst) if p.dst else None,
        "sport": str(p.sport) if p.sport else None,
        "dport": str(p.dport) if p.dport else None,
        "proto": p.proto,
        "chain": list(p.chain),
    }


__all__ = [
    "deltas_dict",
    "entry_dict",
    "matches",
    "policy_dict",
    "session_dict",
    "side_dict",
    "side_keys",
    "sides",
    "state",
    "subsession",
]
