"""Checks of written table entries against the P4Info, with the codes the P4Runtime
specification names (before any backend sees them):

- a match field or action parameter whose bytestring is empty, or a match field given twice,
  or one the table does not have, or a match of another kind than the field's (a ternary
  match on an exact field): ``INVALID_ARGUMENT``;
- a bytestring longer than the field's width in bytes (``ceil(bitwidth / 8)``, leading zero
  bytes included) or a value wider than the field: ``OUT_OF_RANGE``;
- a ``priority`` on a table without ternary, range or optional fields (or none where one is
  needed): ``INVALID_ARGUMENT``;
- an unknown table: ``NOT_FOUND``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from controller.p4rt.gen.p4.config.v1 import p4info_pb2
from controller.p4rt.gen.p4.v1 import p4runtime_pb2 as p4r

# google.rpc.Code values
INVALID_ARGUMENT, NOT_FOUND, OUT_OF_RANGE = 3, 5, 11

_MT = p4info_pb2.MatchField
_PRIORITY_KINDS = (_MT.TERNARY, _MT.RANGE, _MT.OPTIONAL)
_KIND = {
    _MT.EXACT: "exact",
    _MT.LPM: "lpm",
    _MT.TERNARY: "ternary",
    _MT.RANGE: "range",
    _MT.OPTIONAL: "optional",
}


@dataclass(frozen=True, slots=True)
class _Table:
    name: str
    fields: dict[int, tuple[str, int]]  # field id -> (name, bitwidth)
    needs_priority: bool
    kinds: dict[int, str]  # field id -> the FieldMatch kind its match type takes ("exact"...)
    # the fast pass: exact field id -> (bytes, largest first byte at full length); lpm: same
    exact: dict[int, tuple[int, int]]
    lpm: dict[int, tuple[int, int, int]]  # field id -> (bytes, largest first byte, bitwidth)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out.append(b | 0x80)
        else:
            out.append(b)
            return bytes(out)


_ANY_LEN = b"(?:[\x80-\xff]{1,4}[\x00-\x7f]|[\x00-\x7f])"  # a length varint


def _chunk_rx(tag: bytes, inner: list[tuple[bytes, bytes]], value: tuple[bytes, int]) -> bytes:
    """A regex for a submessage ``tag, length, fields..., value`` whose length follows from
    the value's length: one alternative per value length (the length bytes are exact)."""
    vtag, bitwidth = value
    nbytes, top = _limits(bitwidth)
    fixed = b"".join(t + v for t, v in inner)
    alts = []
    for n in range(1, nbytes + 1):
        body = fixed + vtag + _varint(n)
        lead = re.escape(tag + _varint(len(body) + n) + body)
        if n == nbytes and top != 0xFF:
            alts.append(lead + b"[\x00-" + re.escape(bytes([top])) + b"]" + b"." * (n - 1))
        else:
            alts.append(lead + b"." * n)
    return b"(?:" + b"|".join(alts) + b")"


def _entry_rx(t: p4info_pb2.Table, actions: dict[int, p4info_pb2.Action]) -> re.Pattern[bytes]:
    """The serialization (upb, canonical) of a valid entry of an all-exact table: its table
    id, every match field once in P4Info order with a valid value, no priority, one direct
    action of the table with every parameter once in P4Info order, an ``idle_timeout_ns`` or
    none, and nothing else."""
    parts = [re.escape(b"\x08" + _varint(t.preamble.id))]
    for m in t.match_fields:
        # FieldMatch{field_id, exact{value}}: the Exact submessage's length follows too
        nbytes, top = _limits(m.bitwidth)
        alts = []
        for n in range(1, nbytes + 1):
            exact = b"\x0a" + _varint(n)
            body = b"\x08" + _varint(m.id) + b"\x12" + _varint(len(exact) + n) + exact
            lead = re.escape(b"\x12" + _varint(len(body) + n) + body)
            if n == nbytes and top != 0xFF:
                alts.append(lead + b"[\x00-" + re.escape(bytes([top])) + b"]" + b"." * (n - 1))
            else:
                alts.append(lead + b"." * n)
        parts.append(b"(?:" + b"|".join(alts) + b")")
    acts = []
    for ref in t.action_refs:
        a = actions.get(ref.id)
        if a is None:
            continue
        params = b"".join(
            _chunk_rx(b"\x22", [(b"\x10", _varint(q.id))], (b"\x1a", q.bitwidth)) for q in a.params
        )
        acts.append(re.escape(b"\x08" + _varint(a.preamble.id)) + params)
    if not acts:
        return re.compile(b"(?!)")
    # TableAction{action: Action{...}}: their lengths are sums; a varint each is accepted,
    # which is safe because the bytes are a canonical re-serialization: if a length ended
    # early, what follows would be unknown fields, never an unchecked leaf
    parts.append(b"\x1a" + _ANY_LEN + b"\x0a" + _ANY_LEN + b"(?:" + b"|".join(acts) + b")")
    # idle_timeout_ns (field 9, int64, any value; nothing checks it): session entries carry it
    parts.append(b"(?:\x48[\x80-\xff]{0,9}[\x00-\x7f])?")
    return re.compile(b"".join(parts), re.DOTALL)


def _limits(bitwidth: int) -> tuple[int, int]:
    """(most bytes, largest first byte when that long) of a bitwidth's bytestrings."""
    nbytes = (bitwidth + 7) // 8
    return nbytes, (1 << (bitwidth % 8 or 8)) - 1


class EntryValidator:
    """Validates table entries of one P4Info (built once per pipeline)."""

    def __init__(self, p4info: p4info_pb2.P4Info) -> None:
        self.tables: dict[int, _Table] = {}
        for t in p4info.tables:
            self.tables[t.preamble.id] = _Table(
                t.preamble.name,
                {m.id: (m.name, m.bitwidth) for m in t.match_fields},
                any(m.match_type in _PRIORITY_KINDS for m in t.match_fields),
                {m.id: _KIND[m.match_type] for m in t.match_fields if m.match_type in _KIND},
                {m.id: _limits(m.bitwidth) for m in t.match_fields if m.match_type == _MT.EXACT},
                {
                    m.id: (*_limits(m.bitwidth), m.bitwidth)
                    for m in t.match_fields
                    if m.match_type == _MT.LPM
                },
            )
        self.params: dict[int, dict[int, tuple[str, int]]] = {
            a.preamble.id: {q.id: (q.name, q.bitwidth) for q in a.params} for a in p4info.actions
        }
        self.param_limits: dict[int, dict[int, tuple[int, int]]] = {
            a.preamble.id: {q.id: _limits(q.bitwidth) for q in a.params} for a in p4info.actions
        }
        actions = {a.preamble.id: a for a in p4info.actions}
        #: all-exact tables: a regex over the canonical serialization of a valid entry (one
        #: C-level match instead of a few protobuf reads per field and parameter)
        self.rx: dict[int, re.Pattern[bytes]] = {
            t.preamble.id: _entry_rx(t, actions)
            for t in p4info.tables
            if t.match_fields and all(m.match_type == _MT.EXACT for m in t.match_fields)
        }

    def check_table_id(self, table_id: int) -> tuple[int, str] | None:
        """``None`` if ``table_id`` is 0 (every table) or known, else (NOT_FOUND, reason)."""
        if table_id == 0 or table_id in self.tables:
            return None
        return NOT_FOUND, f"unknown table id {table_id}"

    def check(self, te: p4r.TableEntry) -> tuple[int, str] | None:
        """``None`` if the entry is well formed, else (google.rpc code, reason).

        Fast passes cover the common cases (a regex over the entry's serialization for
        all-exact tables, then a few protobuf reads per field); anything they do not accept
        is examined by :meth:`diagnose`, which finds the reason."""
        rx = self.rx.get(te.table_id)
        if rx is not None and rx.fullmatch(te.SerializeToString()):
            return None
        t = self.tables.get(te.table_id)
        if t is None or te.priority:
            return self.diagnose(te)
        exact, lpm = t.exact, t.lpm
        seen = set()
        for m in te.match:
            fid = m.field_id
            lim = exact.get(fid)
            if lim is not None:
                v = m.exact.value
                n = len(v)
                if not n or n > lim[0] or (n == lim[0] and v[0] > lim[1]):
                    return self.diagnose(te)
            else:
                lp = lpm.get(fid)
                if lp is None:
                    return self.diagnose(te)
                f = m.lpm
                v = f.value
                n = len(v)
                if not n or n > lp[0] or (n == lp[0] and v[0] > lp[1]):
                    return self.diagnose(te)
                if not 0 < f.prefix_len <= lp[2]:
                    return self.diagnose(te)
            seen.add(fid)
        if len(seen) != len(te.match):
            return self.diagnose(te)
        ta = te.action
        if ta.HasField("action"):
            act = ta.action
            plim = self.param_limits.get(act.action_id)
            if plim is None:
                return self.diagnose(te)
            pseen = set()
            for prm in act.params:
                pid = prm.param_id
                lim = plim.get(pid)
                v = prm.value
                n = len(v)
                if lim is None or not n or n > lim[0] or (n == lim[0] and v[0] > lim[1]):
                    return self.diagnose(te)
                pseen.add(pid)
            if len(pseen) != len(act.params):
                return self.diagnose(te)
        return None

    def diagnose(self, te: p4r.TableEntry) -> tuple[int, str] | None:
        """The full check, field by field, with the reason of the first problem."""
        t = self.tables.get(te.table_id)
        if t is None:
            return NOT_FOUND, f"unknown table id {te.table_id}"
        seen: set[int] = set()
        for m in te.match:
            fid = m.field_id
            f = t.fields.get(fid)
            if f is None:
                return INVALID_ARGUMENT, f"{t.name}: unknown match field id {fid}"
            if fid in seen:
                return INVALID_ARGUMENT, f"{t.name}: match field {f[0]} given twice"
            seen.add(fid)
            kind = m.WhichOneof("field_match_type")
            want = t.kinds.get(fid)
            if kind is not None and want is not None and kind != want:
                return INVALID_ARGUMENT, f"{t.name}: {f[0]}: a {kind} match on a {want} field"
            if kind == "exact":
                values: tuple[bytes, ...] = (m.exact.value,)
            elif kind == "lpm":
                values = (m.lpm.value,)
                if not 0 < m.lpm.prefix_len <= f[1]:
                    return INVALID_ARGUMENT, f"{t.name}: {f[0]}: bad prefix length"
            elif kind == "ternary":
                values = (m.ternary.value, m.ternary.mask)
            elif kind == "range":
                values = (m.range.low, m.range.high)
            elif kind == "optional":
                values = (m.optional.value,)
            else:
                return INVALID_ARGUMENT, f"{t.name}: {f[0]}: no match value"
            for v in values:
                why = _bytestring(v, f[1])
                if why is not None:
                    return why[0], f"{t.name}: match field {f[0]}: {why[1]}"
        if te.priority != 0 and not t.needs_priority:
            return INVALID_ARGUMENT, f"{t.name}: priority given on a table without priorities"
        if te.priority == 0 and t.needs_priority and te.match:
            return INVALID_ARGUMENT, f"{t.name}: a priority is required"
        if te.action.WhichOneof("type") == "action":
            act = te.action.action
            params = self.params.get(act.action_id)
            if params is None:
                return INVALID_ARGUMENT, f"{t.name}: unknown action id {act.action_id}"
            pseen: set[int] = set()
            for prm in act.params:
                p = params.get(prm.param_id)
                if p is None:
                    return INVALID_ARGUMENT, f"unknown parameter id {prm.param_id}"
                if prm.param_id in pseen:
                    return INVALID_ARGUMENT, f"parameter {p[0]} given twice"
                pseen.add(prm.param_id)
                why = _bytestring(prm.value, p[1])
                if why is not None:
                    return why[0], f"parameter {p[0]}: {why[1]}"
        return None


def _bytestring(value: bytes, bitwidth: int) -> tuple[int, str] | None:
    """P4Runtime bytestring rules: non-empty, at most ceil(bitwidth / 8) bytes, value fits."""
    n = len(value)
    if n == 0:
        return INVALID_ARGUMENT, "empty bytestring"
    if n > (bitwidth + 7) // 8:
        return OUT_OF_RANGE, f"{n} bytes for a {bitwidth}-bit field"
    if n == (bitwidth + 7) // 8 and bitwidth % 8 and value[0] >> (bitwidth % 8):
        return OUT_OF_RANGE, f"value wider than {bitwidth} bits"
    return None
