"""P4Runtime table entries <-> the contract's named entries <-> the DPDK agent's records.

``pipeline.TableEntry`` (P4Info names, integer values) is the neutral form both backends
understand. The DPDK backend also has a direct fast path from ``p4.v1.TableEntry`` to the
agent's fixed 112-byte ``ctl_entry`` record (:class:`CtlCodec`), compiled once per P4Info.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from controller.p4rt.gen.p4.v1 import p4runtime_pb2 as p4r
from controller.p4rt.p4info import P4InfoIndex
from dysco_pipeline.pipeline import ACTION_PARAMS, MATCH_FIELDS, TABLE_ACTIONS, Act, TableEntry, Tbl
from dysco_targets.dpdk_ctl import CtlAction, CtlTable, pack_entry

INVALID_ARGUMENT = 3
NOT_FOUND = 5
UNIMPLEMENTED = 12

TABLE_CODE: dict[Tbl, CtlTable] = {
    Tbl.PORT_ROLE: CtlTable.PORT_ROLE,
    Tbl.LOCAL_ADDR: CtlTable.LOCAL_ADDR,
    Tbl.OUT_SESSION: CtlTable.OUT_SESSION,
    Tbl.IN_SESSION: CtlTable.IN_SESSION,
    Tbl.IPV4_FWD: CtlTable.IPV4_FWD,
}
CODE_TABLE = {v: k for k, v in TABLE_CODE.items()}
ACTION_CODE: dict[Act, CtlAction] = {
    Act.HOST_PORT: CtlAction.HOST_PORT,
    Act.NETWORK_PORT: CtlAction.NETWORK_PORT,
    Act.SET_LOCAL: CtlAction.SET_LOCAL,
    Act.OUT_REWRITE: CtlAction.OUT_REWRITE,
    Act.OUT_TWO_PATH: CtlAction.OUT_TWO_PATH,
    Act.IN_REWRITE: CtlAction.IN_REWRITE,
    Act.ROUTE: CtlAction.ROUTE,
    Act.ROUTE_HOST: CtlAction.ROUTE_HOST,
    Act.DROP: CtlAction.DROP,
}
CODE_ACTION = {v: k for k, v in ACTION_CODE.items()}

# contract name -> ctl_entry field, per table (match) and for action parameters
_MATCH_TO_CTL: dict[str, str] = {
    "ingress_port": "port",
    "agent_id": "agent_id",
    "src_addr": "sip",
    "dst_addr": "dip",
    "proto": "proto",
    "src_port": "sport",
    "dst_port": "dport",
}
_PARAM_TO_CTL: dict[str, str] = {
    "agent_id": "agent_id",
    "src_addr": "rw_sip",
    "dst_addr": "rw_dip",
    "src_port": "rw_sport",
    "dst_port": "rw_dport",
    "seq_delta": "seq",
    "ack_delta": "ack",
    "tsval_delta": "tsval",
    "tsecr_delta": "tsecr",
    "win_shift": "win_shift",
    "slot": "slot",
    "role": "role",
    "epoch": "epoch",
    "peer_cut": "peer_cut",
    "peer_cut_valid": "peer_cut_valid",
    "new_src_addr": "new_sip",
    "new_dst_addr": "new_dip",
    "new_src_port": "new_sport",
    "new_dst_port": "new_dport",
    "new_seq_delta": "new_seq",
    "new_ack_delta": "new_ack",
    "new_tsval_delta": "new_tsval",
    "new_tsecr_delta": "new_tsecr",
    "new_win_shift": "new_win_shift",
    "port": "port",
    "src_mac": "smac",
    "dst_mac": "dmac",
}
_SIGNED = {"win_shift", "new_win_shift"}


class EntityError(Exception):
    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


def _ctl_value(ctl_field: str, v: int) -> object:
    if ctl_field in ("smac", "dmac"):
        return v.to_bytes(6, "big")
    if ctl_field in _SIGNED:
        return v - 256 if v >= 128 else v
    return v


def _from_ctl_value(ctl_field: str, v: object) -> int:
    if isinstance(v, bytes):
        return int.from_bytes(v, "big")
    assert isinstance(v, int)
    if ctl_field in _SIGNED:
        return v & 0xFF
    return v


def entry_to_ctl(e: TableEntry, op: int) -> bytes:
    """The agent record of a contract entry."""
    f: dict[str, object] = {"op": op, "table": TABLE_CODE[e.table], "action": ACTION_CODE[e.action]}
    for name, v in e.match.items():
        if isinstance(v, tuple):  # LPM
            f["dip"], f["plen"] = v
        else:
            f[_MATCH_TO_CTL[name]] = v
    for name, v in e.params.items():
        c = _PARAM_TO_CTL[name]
        f[c] = _ctl_value(c, v)
    if e.table in (Tbl.OUT_SESSION, Tbl.IN_SESSION):
        f.setdefault("proto", 6)
    return pack_entry(**f)


def entry_from_ctl(rec: Mapping[str, object]) -> TableEntry:
    """The contract entry of an agent record (as read back)."""
    table = CODE_TABLE[CtlTable(int(rec["table"]))]  # type: ignore[call-overload]
    action = CODE_ACTION[CtlAction(int(rec["action"]))]  # type: ignore[call-overload]
    match: dict[str, int | tuple[int, int]] = {}
    for name, _w, kind in MATCH_FIELDS[table]:
        if kind == "lpm":
            match[name] = (int(rec["dip"]), int(rec["plen"]))  # type: ignore[call-overload]
        else:
            c = _MATCH_TO_CTL[name]
            match[name] = _from_ctl_value(c, rec[c])
    params = {}
    for name, _w in ACTION_PARAMS[action]:
        c = _PARAM_TO_CTL[name]
        params[name] = _from_ctl_value(c, rec[c])
    return TableEntry(table, match, action, params)


# --- P4Runtime <-> contract entries --------------------------------------------------------


def _canon(v: int) -> bytes:
    return v.to_bytes(max(1, (v.bit_length() + 7) // 8), "big")


class P4RuntimeCodec:
    """Resolves P4Runtime ids of one P4Info against the contract names."""

    def __init__(self, idx: P4InfoIndex) -> None:
        self.idx = idx
        self.tables: dict[int, Tbl] = {}
        self.table_ids: dict[Tbl, int] = {}
        self.match_ids: dict[Tbl, dict[int, tuple[str, int, str]]] = {}
        self.match_by_name: dict[Tbl, dict[str, int]] = {}
        self.actions: dict[int, Act] = {}
        self.action_ids: dict[Act, int] = {}
        self.param_ids: dict[Act, dict[int, tuple[str, int]]] = {}
        self.param_by_name: dict[Act, dict[str, int]] = {}
        for t in Tbl:
            info = idx.tables.get(t.value)
            if info is None:
                raise EntityError(INVALID_ARGUMENT, f"table {t.value} missing from the P4Info")
            self.tables[info.id] = t
            self.table_ids[t] = info.id
            kinds = {n: k for n, _w, k in MATCH_FIELDS[t]}
            self.match_ids[t] = {
                fid: (name, bw, kinds.get(name, "exact")) for name, (fid, bw) in info.match.items()
            }
            self.match_by_name[t] = {name: fid for name, (fid, _bw) in info.match.items()}
        for a in Act:
            ainfo = idx.actions.get(a.value)
            if ainfo is None:
                raise EntityError(INVALID_ARGUMENT, f"action {a.value} missing from the P4Info")
            self.actions[ainfo.id] = a
            self.action_ids[a] = ainfo.id
            self.param_ids[a] = {pid: (name, bw) for name, (pid, bw) in ainfo.params.items()}
            self.param_by_name[a] = {name: pid for name, (pid, _bw) in ainfo.params.items()}

    def table_of(self, table_id: int) -> Tbl:
        t = self.tables.get(table_id)
        if t is None:
            raise EntityError(NOT_FOUND, f"unknown table id {table_id}")
        return t

    def from_p4r(self, te: p4r.TableEntry) -> TableEntry:
        """The contract entry of a P4Runtime table entry (validated)."""
        t = self.table_of(te.table_id)
        if te.is_default_action:
            raise EntityError(UNIMPLEMENTED, "default actions are fixed in this pipeline")
        fields = self.match_ids[t]
        match: dict[str, int | tuple[int, int]] = {}
        for m in te.match:
            spec = fields.get(m.field_id)
            if spec is None:
                raise EntityError(INVALID_ARGUMENT, f"unknown match field {m.field_id} of {t}")
            name, bw, kind = spec
            which = m.WhichOneof("field_match_type")
            if kind == "lpm":
                if which != "lpm":
                    raise EntityError(INVALID_ARGUMENT, f"{name} is an LPM field")
                v, plen = int.from_bytes(m.lpm.value, "big"), m.lpm.prefix_len
                if plen > bw or v >> bw:
                    raise EntityError(INVALID_ARGUMENT, f"bad LPM value for {name}")
                mask = ((1 << plen) - 1) << (bw - plen) if plen else 0
                if v & ~mask:
                    raise EntityError(INVALID_ARGUMENT, f"{name}: bits beyond the prefix set")
                match[name] = (v, plen)
            else:
                if which != "exact":
                    raise EntityError(INVALID_ARGUMENT, f"{name} is an exact field")
                v = int.from_bytes(m.exact.value, "big")
                if v >> bw:
                    raise EntityError(INVALID_ARGUMENT, f"{name}={v} exceeds {bw} bits")
                match[name] = v
        for name, _bw, kind in MATCH_FIELDS[t]:
            if name not in match:
                if kind == "lpm":
                    match[name] = (0, 0)  # a missing LPM field is the /0 default route
                else:
                    raise EntityError(INVALID_ARGUMENT, f"{t}: match field {name} missing")
        if not te.HasField("action"):
            # reads and deletes may omit the action
            return TableEntry(t, match, Act.NO_ACTION, {})
        which = te.action.WhichOneof("type")
        if which != "action":
            raise EntityError(UNIMPLEMENTED, "only direct actions")
        act = self.actions.get(te.action.action.action_id)
        if act is None or act not in TABLE_ACTIONS[t] or act is Act.NO_ACTION:
            raise EntityError(
                INVALID_ARGUMENT, f"action {te.action.action.action_id} not valid for {t}"
            )
        pspec = self.param_ids[act]
        params: dict[str, int] = {}
        for prm in te.action.action.params:
            ps = pspec.get(prm.param_id)
            if ps is None:
                raise EntityError(INVALID_ARGUMENT, f"unknown param {prm.param_id} of {act}")
            v = int.from_bytes(prm.value, "big")
            if v >> ps[1]:
                raise EntityError(INVALID_ARGUMENT, f"{ps[0]}={v} exceeds {ps[1]} bits")
            params[ps[0]] = v
        if len(params) != len(pspec):
            missing = sorted(set(n for n, _ in pspec.values()) - set(params))
            raise EntityError(INVALID_ARGUMENT, f"{act}: parameters missing: {missing}")
        return TableEntry(t, match, act, params)

    def to_p4r(self, e: TableEntry) -> p4r.TableEntry:
        te = p4r.TableEntry(table_id=self.table_ids[e.table])
        by = self.match_by_name[e.table]
        for name, _bw, kind in MATCH_FIELDS[e.table]:
            v = e.match[name]
            fm = te.match.add(field_id=by[name])
            if kind == "lpm":
                assert isinstance(v, tuple)
                if v[1] == 0:
                    te.match.pop()  # don't-care: the /0 route has no field match
                    continue
                fm.lpm.value = _canon(v[0])
                fm.lpm.prefix_len = v[1]
            else:
                assert isinstance(v, int)
                fm.exact.value = _canon(v)
        act = te.action.action
        act.action_id = self.action_ids[e.action]
        pb = self.param_by_name[e.action]
        for name, _bw in ACTION_PARAMS[e.action]:
            act.params.add(param_id=pb[name], value=_canon(e.params[name]))
        return te


class CtlCodec:
    """Fast path: ``p4.v1.TableEntry`` straight to the agent's record, per P4Info."""

    def __init__(self, codec: P4RuntimeCodec) -> None:
        self.codec = codec
        self._match: dict[int, tuple[Tbl, int, dict[int, tuple[str, int]]]] = {}
        self._act: dict[
            int, tuple[Act, int, dict[int, tuple[str, int, Callable[[int], object]]]]
        ] = {}
        for tid, t in codec.tables.items():
            m = {}
            for fid, (name, bw, kind) in codec.match_ids[t].items():
                m[fid] = ("lpm" if kind == "lpm" else _MATCH_TO_CTL[name], bw)
            self._match[tid] = (t, int(TABLE_CODE[t]), m)
        for aid, a in codec.actions.items():
            if a is Act.NO_ACTION:
                continue
            ps: dict[int, tuple[str, int, Callable[[int], object]]] = {}
            for pid, (name, bw) in codec.param_ids[a].items():
                c = _PARAM_TO_CTL[name]
                conv: Callable[[int], object]
                if c in ("smac", "dmac"):
                    conv = _mac
                elif c in _SIGNED:
                    conv = _signed8
                else:
                    conv = _ident
                ps[pid] = (c, bw, conv)
            self._act[aid] = (a, int(ACTION_CODE[a]), ps)

    def pack(self, te: p4r.TableEntry, op: int) -> bytes:
        """The record for one update; raises :class:`EntityError` for invalid entries."""
        spec = self._match.get(te.table_id)
        if spec is None:
            raise EntityError(NOT_FOUND, f"unknown table id {te.table_id}")
        t, tcode, mspec = spec
        if te.is_default_action:
            raise EntityError(UNIMPLEMENTED, "default actions are fixed in this pipeline")
        f: dict[str, object] = {"op": op, "table": tcode}
        if t is Tbl.OUT_SESSION or t is Tbl.IN_SESSION:
            f["proto"] = 6
        n = 0
        for m in te.match:
            ms = mspec.get(m.field_id)
            if ms is None:
                raise EntityError(INVALID_ARGUMENT, f"unknown match field {m.field_id}")
            c, bw = ms
            if c == "lpm":
                v = int.from_bytes(m.lpm.value, "big")
                f["dip"] = v
                f["plen"] = m.lpm.prefix_len
            else:
                v = int.from_bytes(m.exact.value, "big")
                if v >> bw:
                    raise EntityError(INVALID_ARGUMENT, f"match value exceeds {bw} bits")
                f[c] = v
                n += 1
        if n != sum(1 for x in mspec.values() if x[0] != "lpm"):
            raise EntityError(INVALID_ARGUMENT, f"{t}: exact match fields missing")
        if op != 3 or te.HasField("action"):
            if te.action.WhichOneof("type") != "action":
                if op == 3:
                    return _pack(f)
                raise EntityError(INVALID_ARGUMENT, "an action is required")
            a = self._act.get(te.action.action.action_id)
            if a is None or a[0] not in TABLE_ACTIONS[t]:
                raise EntityError(INVALID_ARGUMENT, f"action not valid for {t}")
            act, acode, pspec = a
            f["action"] = acode
            params = te.action.action.params
            if len(params) != len(pspec):
                raise EntityError(INVALID_ARGUMENT, f"{act}: wrong number of parameters")
            for prm in params:
                ps = pspec.get(prm.param_id)
                if ps is None:
                    raise EntityError(INVALID_ARGUMENT, f"unknown param {prm.param_id}")
                v = int.from_bytes(prm.value, "big")
                if v >> ps[1]:
                    raise EntityError(INVALID_ARGUMENT, f"param value exceeds {ps[1]} bits")
                f[ps[0]] = ps[2](v)
        return _pack(f)


def _pack(f: dict[str, object]) -> bytes:
    return pack_entry(**f)


def _mac(v: int) -> bytes:
    return v.to_bytes(6, "big")


def _signed8(v: int) -> int:
    return v - 256 if v >= 128 else v


def _ident(v: int) -> int:
    return v


# --- schema for the agent's C decoder of WriteRequests (dpdk_agent/src/pbwrite.h) ----------

_PBF = {
    name: i
    for i, name in enumerate(
        [
            "none",
            "port",
            "agent_id",
            "sip",
            "dip",
            "proto",
            "sport",
            "dport",
            "rw_sip",
            "rw_dip",
            "rw_sport",
            "rw_dport",
            "seq",
            "ack",
            "tsval",
            "tsecr",
            "win_shift",
            "slot",
            "role",
            "epoch",
            "peer_cut",
            "peer_cut_valid",
            "new_sip",
            "new_dip",
            "new_sport",
            "new_dport",
            "new_seq",
            "new_ack",
            "new_tsval",
            "new_tsecr",
            "new_win_shift",
            "smac",
            "dmac",
            "lpm_dip",
        ]
    )
}


def agent_schema(codec: P4RuntimeCodec) -> bytes:
    """The P4Info id -> agent code map the C decoder needs (layout in pbwrite.c)."""
    import struct

    out = bytearray(struct.pack("<I", len(codec.tables)))
    for tid, t in codec.tables.items():
        fields = codec.match_ids[t]
        acts = [codec.action_ids[a] for a in TABLE_ACTIONS[t] if a is not Act.NO_ACTION]
        out += struct.pack("<IBBBx", tid, int(TABLE_CODE[t]), len(fields), len(acts))
        for fid, (name, bw, kind) in fields.items():
            code = _PBF["lpm_dip"] if kind == "lpm" else _PBF[_MATCH_TO_CTL[name]]
            out += struct.pack("<IBBBx", fid, code, bw, 1 if kind == "lpm" else 0)
        for aid in acts:
            out += struct.pack("<I", aid)
    acts_all = [a for a in codec.actions.values()]
    out += struct.pack("<I", len(acts_all))
    for a in acts_all:
        params = codec.param_ids[a]
        out += struct.pack("<IBBxx", codec.action_ids[a], int(ACTION_CODE.get(a, 0)), len(params))
        for pid, (name, bw) in params.items():
            out += struct.pack("<IBBxx", pid, _PBF[_PARAM_TO_CTL[name]], bw)
    return bytes(out)
