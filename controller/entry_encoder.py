"""Session-entry P4Runtime ``Update`` messages, serialised straight from a
:class:`~dysco_proto.entries.MappingEntry` (the daemon's hot path; :class:`controller.translate.
Translator` takes the contract path for everything else and for what these refuse).

Two encoders give the same bytes: :class:`_FastEncoder` (Python, the reference) and the C
extension ``controller._fastenc`` (``controller/_fastenc.c``, built by ``pip install -e .``),
constructed from the Python encoder's precomputed tables; :func:`new_encoder` picks one
(``tests/controller/test_fastenc_c.py`` holds them together).
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Mapping
from typing import Any, Protocol

from controller.p4rt.gen.p4.v1 import p4runtime_pb2 as p4r
from controller.p4rt.p4info import encode_varint
from dysco_pipeline import pipeline as pl
from dysco_proto.entries import Direction, EntryKey, MappingEntry, Role
from dysco_proto.packet import TCP, FiveTuple

try:  # the C encoder (controller/_fastenc.c), built by `pip install -e .`
    from controller import _fastenc
except ImportError as _exc:  # not built: the Python encoder below does the same, slower
    _fastenc = None  # type: ignore[assignment]
    _FASTENC_MISSING = str(_exc)
else:
    _FASTENC_MISSING = ""

__all__ = ["ENCODERS", "IDLE_TTL_NS", "new_encoder"]

log = logging.getLogger("controller.daemon")


IDLE_TTL_NS = 4_000_000_000
"""``idle_timeout_ns`` of every session entry. The daemon ages entries by polling their
``time_since_last_hit`` (``device_sync``), but bmv2 (PI) tracks an entry's idle time only when
the entry has a TTL, reports at most the TTL, and wraps TTLs at 2^32 ns (4.29 s): so a TTL
under that, and the daemon integrates idle time beyond it. A device that reaches the TTL
notifies (``IdleTimeoutNotification``); the client counts those and nothing else."""
_TTL_FIELD = b"\x48" + encode_varint(IDLE_TTL_NS)  # TableEntry.idle_timeout_ns (field 9)


_V = [encode_varint(i) for i in range(1 << 14)]


def _ld(tag: bytes, payload: bytes) -> bytes:
    """A length-delimited protobuf field."""
    n = len(payload)
    return tag + (_V[n] if n < 16384 else encode_varint(n)) + payload


def _cb(v: int) -> bytes:
    """Canonical P4Runtime bytestring of a non-negative integer (as ``encode_uint``)."""
    if v == 0:
        return b"\x00"
    return v.to_bytes((v.bit_length() + 7) // 8, "big")


_M32 = 0xFFFF_FFFF
_AGENT = tuple(_cb(i) for i in range(256))  # agent ids are 8 bits: encoded once, not per entry
_ROLE = {r: _cb(int(pl.RoleCode.of(r))) for r in Role}


class _FastEncoder:
    """Serialises session-entry ``Update`` messages straight from a :class:`MappingEntry`.

    Field numbers are those of ``p4/v1/p4runtime.proto`` (Update.type 1, entity 2;
    Entity.table_entry 2; TableEntry.table_id 1, match 2, action 3; FieldMatch.field_id 1,
    exact 2; Exact.value 1; TableAction.action 1; Action.action_id 1, params 4;
    Param.param_id 2, value 3). Every field's header bytes (tags, lengths, ids) are
    precomputed per value length, so one field costs one lookup and one concatenation. Values
    are exactly those of :func:`dysco_pipeline.pipeline.entry_to_table`; anything unusual (a value
    that does not fit) returns ``None`` and the caller takes the contract path, which raises
    the proper error.
    """

    def __init__(
        self,
        tables: Mapping[pl.Tbl, tuple[int, Mapping[str, tuple[int, int]]]],
        actions: Mapping[pl.Act, tuple[int, list[tuple[str, int, int]]]],
        agent_id: int,
    ) -> None:
        self._ip: dict[str, bytes] = {}
        # match field -> header bytes by value length (FieldMatch{field_id, exact{value}})
        self._fm: dict[pl.Tbl, tuple[bytes, list[tuple[str, list[bytes]]]]] = {}
        for tbl in (pl.Tbl.OUT_SESSION, pl.Tbl.IN_SESSION):
            tid, fields = tables[tbl]
            heads = []
            for name, (fid, _w) in fields.items():
                pre = b"\x08" + encode_varint(fid)
                heads.append(
                    (
                        name,
                        [
                            b"\x12" + encode_varint(len(pre) + 4 + n) + pre
                            + b"\x12" + bytes((n + 2,)) + b"\x0a" + bytes((n,))
                            for n in range(9)
                        ],
                    )
                )  # fmt: skip
            self._fm[tbl] = (b"\x08" + encode_varint(tid), heads)
        # action parameter -> header bytes by value length (Param{param_id, value})
        self._act: dict[pl.Act, tuple[bytes, list[tuple[str, list[bytes]]]]] = {}
        for act in (pl.Act.OUT_REWRITE, pl.Act.OUT_TWO_PATH, pl.Act.IN_REWRITE):
            aid, params = actions[act]
            pheads = []
            for name, pid, _w in params:
                pre = b"\x10" + encode_varint(pid)
                pheads.append(
                    (
                        name,
                        [
                            b"\x22" + encode_varint(len(pre) + 2 + n) + pre + b"\x1a" + bytes((n,))
                            for n in range(9)
                        ],
                    )
                )
            self._act[act] = (b"\x08" + encode_varint(aid), pheads)
        self._agent = _cb(agent_id)

    def ip(self, addr: str) -> bytes:
        """Canonical bytes of a dotted quad (cached; the cache is bounded)."""
        b = self._ip.get(addr)
        if b is None:
            if len(self._ip) > 200_000:
                self._ip.clear()
            b = self._ip[addr] = _cb(int.from_bytes(socket.inet_aton(addr), "big"))
        return b

    def _match(
        self, tbl: pl.Tbl, m: FiveTuple, out: bool, agent: bytes | None = None
    ) -> list[bytes]:
        tpre, heads = self._fm[tbl]
        vals = {
            "src_addr": self.ip(m.src_ip),
            "dst_addr": self.ip(m.dst_ip),
            "proto": _cb(m.proto),
            "src_port": _cb(m.src_port),
            "dst_port": _cb(m.dst_port),
        }
        if out:
            vals["agent_id"] = self._agent if agent is None else agent
        parts = [tpre]
        for name, by_len in heads:
            v = vals[name]
            parts.append(by_len[len(v)])
            parts.append(v)
        return parts

    def _rewrite(self, vals: dict[str, bytes], prefix: str, t: FiveTuple, e: MappingEntry) -> bool:
        d = e.deltas if not prefix else e.new_deltas
        if d is None or t.proto != TCP or not -pl.MAX_WIN_SHIFT <= d.win_shift <= pl.MAX_WIN_SHIFT:
            return False
        ip = self.ip
        vals[prefix + "src_addr"] = ip(t.src_ip)
        vals[prefix + "dst_addr"] = ip(t.dst_ip)
        vals[prefix + "src_port"] = _cb(t.src_port)
        vals[prefix + "dst_port"] = _cb(t.dst_port)
        vals[prefix + "seq_delta"] = _cb(d.seq & _M32)
        vals[prefix + "ack_delta"] = _cb(d.ack & _M32)
        vals[prefix + "tsval_delta"] = _cb(d.tsval & _M32)
        vals[prefix + "tsecr_delta"] = _cb(d.tsecr & _M32)
        vals[prefix + "win_shift"] = _cb(d.win_shift & 0xFF)
        return True

    def update(self, kind: int, e: MappingEntry, agent_id: int | None = None) -> bytes | None:
        """The serialised ``Update`` (INSERT/MODIFY) of ``e`` (an OUT entry keyed with
        ``agent_id``, default the encoder's), or ``None`` (use the slow path)."""
        if not (0 <= e.slot < pl.SLOT_SPACE and 0 <= e.epoch <= _M32):
            return None
        vals: dict[str, bytes] = {}
        if not self._rewrite(vals, "", e.rewrite, e):
            return None
        vals["slot"] = _cb(e.slot)
        vals["role"] = _ROLE[e.role]
        vals["epoch"] = _cb(e.epoch)
        if e.key.direction is Direction.IN:
            if e.new_rewrite is not None or e.peer_cut is not None:
                return None
            tbl, act = pl.Tbl.IN_SESSION, pl.Act.IN_REWRITE
        else:
            tbl = pl.Tbl.OUT_SESSION
            vals["peer_cut"] = _cb((e.peer_cut or 0) & _M32)
            vals["peer_cut_valid"] = b"\x01" if e.peer_cut is not None else b"\x00"
            act = pl.Act.OUT_REWRITE
            if e.new_rewrite is not None:
                act = pl.Act.OUT_TWO_PATH
                if not self._rewrite(vals, "new_", e.new_rewrite, e):
                    return None
        apre, pheads = self._act[act]
        aparts = [apre]
        for name, by_len in pheads:
            v = vals[name]
            aparts.append(by_len[len(v)])
            aparts.append(v)
        action = b"".join(aparts)
        agent = None if agent_id is None else _AGENT[agent_id]
        parts = self._match(tbl, e.key.match, tbl is pl.Tbl.OUT_SESSION, agent)
        parts.append(_ld(b"\x1a", _ld(b"\x0a", action)))
        parts.append(_TTL_FIELD)
        return b"\x08" + _V[kind] + _ld(b"\x12", _ld(b"\x12", b"".join(parts)))

    def delete(self, key: EntryKey, agent_id: int | None = None) -> bytes:
        """The serialised DELETE ``Update`` of the session entry with ``key``."""
        out = key.direction is Direction.OUT
        tbl = pl.Tbl.OUT_SESSION if out else pl.Tbl.IN_SESSION
        agent = None if agent_id is None else _AGENT[agent_id]
        body = b"".join(self._match(tbl, key.match, out, agent))
        return b"\x08" + _V[p4r.Update.DELETE] + _ld(b"\x12", _ld(b"\x12", body))

    def c_encoder(self) -> Any:
        """The C encoder (``controller._fastenc.Encoder``) built from this encoder's tables:
        the same bytes, per entry in C. :class:`ImportError` when the module is not built."""
        if _fastenc is None:
            raise ImportError(_FASTENC_MISSING or "controller._fastenc is not built")
        return _fastenc.Encoder(
            tables=(self._fm[pl.Tbl.OUT_SESSION], self._fm[pl.Tbl.IN_SESSION]),
            actions=(
                self._act[pl.Act.OUT_REWRITE],
                self._act[pl.Act.OUT_TWO_PATH],
                self._act[pl.Act.IN_REWRITE],
            ),
            agent=self._agent,
            ttl=_TTL_FIELD,
            roles=dict(_ROLE),
            dir_in=Direction.IN,
            dir_out=Direction.OUT,
            tcp=TCP,
            slot_space=pl.SLOT_SPACE,
            max_win_shift=pl.MAX_WIN_SHIFT,
            delete_kind=int(p4r.Update.DELETE),
        )


class _Encoder(Protocol):
    """What :class:`Translator` needs of a session-entry encoder (``None``: contract path)."""

    def update(self, kind: int, e: MappingEntry, agent_id: int | None = None) -> bytes | None:
        """The serialised INSERT/MODIFY ``Update`` of ``e``, or ``None``."""

    def delete(self, key: EntryKey, agent_id: int | None = None) -> bytes | None:
        """The serialised DELETE ``Update`` of ``key``, or ``None``."""


ENCODERS = ("c", "python")
"""Session-entry encoders: ``c`` (``controller._fastenc``, when built) and ``python``
(:class:`_FastEncoder`, the reference). Both give the same bytes (``tests/controller/
test_fastenc_c.py``); the C one returns ``None`` also where the Python one raises."""

_announced = False


def new_encoder(
    tables: Mapping[pl.Tbl, tuple[int, Mapping[str, tuple[int, int]]]],
    actions: Mapping[pl.Act, tuple[int, list[tuple[str, int, int]]]],
    agent_id: int,
    which: str = "c",
) -> tuple[_Encoder, str]:
    """A session-entry encoder and its name (:data:`ENCODERS`): the C one when ``which`` is
    ``"c"`` and the module is built, else the Python one. The first ``"c"`` call logs which
    one it got."""
    global _announced
    py = _FastEncoder(tables, actions, agent_id)
    enc: _Encoder = py
    name = "python"
    if which == "c" and _fastenc is not None:
        enc, name = py.c_encoder(), "c"
    elif which not in ENCODERS:
        raise ValueError(f"encoder {which!r}: one of {', '.join(ENCODERS)}")
    if which == "c" and not _announced:  # the daemon's choice, said once per process
        _announced = True
        if name == "c":
            log.info("session-entry encoder: C (controller._fastenc)")
        else:
            log.info(
                "session-entry encoder: Python (controller._fastenc not built: %s)",
                _FASTENC_MISSING,
            )
    return enc, name
