"""Value codecs of agent checkpoints (:mod:`dysco_proto.checkpoint`): JSON-able forms of
tuples, deltas, request ids, entry keys, control messages, handshakes and transforms, and
their validating inverses (a malformed or out-of-range value raises :class:`CheckpointError`).
"""

from __future__ import annotations

import dataclasses
import ipaddress
from typing import Any

from dysco_proto.entries import Deltas, Direction, EntryKey
from dysco_proto.packet import FiveTuple
from dysco_proto.wire import ControlMessage, Handshake, MsgType, NackReason, RequestId, Transform

_U64 = (1 << 64) - 1


class CheckpointError(ValueError):
    """The data is not a checkpoint this version can restore (or does not fit the agent)."""


def _t(t: FiveTuple | None) -> list[Any] | None:
    return None if t is None else [t.src_ip, t.src_port, t.dst_ip, t.dst_port, t.proto]


def _ip(v: Any) -> str:
    if not isinstance(v, str):
        raise CheckpointError(f"not an IPv4 address: {v!r}")
    try:
        return str(ipaddress.IPv4Address(v))
    except ValueError:
        raise CheckpointError(f"not an IPv4 address: {v!r}") from None


def _int(v: Any, lo: int, hi: int, what: str) -> int:
    """An integer in ``[lo, hi]`` (``bool`` is not an integer here)."""
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise CheckpointError(f"{what}: expected an integer in [{lo}, {hi}], got {v!r}")
    return v


def _t_in(v: Any) -> FiveTuple | None:
    if v is None:
        return None
    if not isinstance(v, list) or len(v) != 5:
        raise CheckpointError(f"not a five-tuple: {v!r}")
    return FiveTuple(
        _ip(v[0]),
        _int(v[1], 0, 0xFFFF, "port"),
        _ip(v[2]),
        _int(v[3], 0, 0xFFFF, "port"),
        _int(v[4], 0, 0xFF, "proto"),
    )


def _tt(v: Any) -> FiveTuple:
    t = _t_in(v)
    if t is None:
        raise CheckpointError("missing five-tuple")
    return t


def _d(d: Deltas) -> list[int]:
    return [d.seq, d.ack, d.tsval, d.tsecr, d.win_shift]


def _d_in(v: Any) -> Deltas:
    if not isinstance(v, list) or len(v) != 5:
        raise CheckpointError(f"not a delta record: {v!r}")
    return Deltas(*(_int(x, -_U64, _U64, "delta") for x in v))


def _rid(r: RequestId | None) -> list[Any] | None:
    return None if r is None else [r.anchor, r.number]


def _rid_in(v: Any) -> RequestId | None:
    if v is None:
        return None
    if not isinstance(v, list) or len(v) != 2:
        raise CheckpointError(f"not a request id: {v!r}")
    return RequestId(_ip(v[0]), _int(v[1], 0, _U64, "request number"))


def _rid_req(v: Any) -> RequestId:
    r = _rid_in(v)
    if r is None:
        raise CheckpointError("missing request id")
    return r


def _key(k: EntryKey) -> list[Any]:
    return [k.direction.value, _t(k.match)]


def _key_in(v: Any) -> EntryKey:
    if not isinstance(v, list) or len(v) != 2:
        raise CheckpointError(f"not an entry key: {v!r}")
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
    request = _rid_req(v["request"])
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


def _hs(h: Handshake | None) -> dict[str, Any] | None:
    return None if h is None else dataclasses.asdict(h)


def _hs_in(v: Any) -> Handshake | None:
    if v is None:
        return None
    if not isinstance(v, dict):
        raise CheckpointError("malformed handshake")
    return Handshake(**v)


def _tr(t: Transform) -> list[int]:
    return [t.seq, t.ts]


def _tr_in(v: Any) -> Transform:
    if not isinstance(v, list) or len(v) != 2:
        raise CheckpointError(f"not a transform: {v!r}")
    return Transform(_int(v[0], 0, _U64, "transform"), _int(v[1], 0, _U64, "transform"))


def _opt_int(v: Any, what: str) -> int | None:
    return None if v is None else _int(v, -_U64, _U64, what)
