"""The pipeline contract: dysco_pipeline.pipeline against the compiled P4Info and the P4 defines.

Also: the committed bmv2 artifacts equal a fresh compile (when p4c-bm2-ss is on the PATH),
and MappingEntry <-> table entry conversion round-trips.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from dysco_pipeline import pipeline as pl
from dysco_proto.entries import Deltas, Direction, EntryKey, MappingEntry, Role
from dysco_proto.events import PuntReason
from dysco_proto.packet import FiveTuple

ROOT = Path(__file__).resolve().parents[2]
P4SRC = ROOT / "p4src"
P4INFO = P4SRC / "build" / "dysco.p4info.txtpb"
BMV2_JSON = P4SRC / "build" / "dysco.json"


# --- a minimal protobuf text-format reader (enough for P4Info) -----------------------------

_TOKEN = re.compile(
    r'\s*(?:(#[^\n]*)|([A-Za-z_][A-Za-z0-9_]*)\s*:?\s*|(\{)|(\})|("(?:[^"\\]|\\.)*")|([-0-9A-Za-z_.]+))'
)


def parse_textproto(text: str) -> dict[str, list[Any]]:
    """Parse protobuf text format into ``{field: [values]}`` (messages become dicts)."""
    pos = 0
    stack: list[dict[str, list[Any]]] = [{}]
    key: str | None = None
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if m is None or m.end() == pos:
            if text[pos:].strip() == "":
                break
            raise ValueError(f"cannot parse at {text[pos : pos + 30]!r}")
        pos = m.end()
        comment, ident, open_, close, string, scalar = m.groups()
        if comment:
            continue
        if open_:
            assert key is not None
            child: dict[str, list[Any]] = {}
            stack[-1].setdefault(key, []).append(child)
            stack.append(child)
            key = None
        elif close:
            stack.pop()
        elif string is not None:
            assert key is not None
            stack[-1].setdefault(key, []).append(
                bytes(string[1:-1], "utf-8").decode("unicode_escape")
            )
            key = None
        elif ident is not None and key is None:
            key = ident
        else:
            value = ident if ident is not None else scalar
            assert key is not None
            stack[-1].setdefault(key, []).append(value)
            key = None
    return stack[0]


@pytest.fixture(scope="module")
def p4info() -> dict[str, list[Any]]:
    return parse_textproto(P4INFO.read_text())


def _name(obj: dict[str, list[Any]]) -> str:
    return str(obj["preamble"][0]["name"][0])


def test_tables_match_contract(p4info: dict[str, list[Any]]) -> None:
    actions = {a["preamble"][0]["id"][0]: _name(a) for a in p4info["actions"]}
    tables = {_name(t): t for t in p4info["tables"]}
    assert set(tables) == {str(t) for t in pl.Tbl}
    for tbl in pl.Tbl:
        t = tables[str(tbl)]
        fields = tuple(
            (f["name"][0], int(f["bitwidth"][0]), f["match_type"][0].lower())
            for f in t["match_fields"]
        )
        assert fields == pl.MATCH_FIELDS[tbl], tbl
        refs = tuple(actions[a["id"][0]] for a in t["action_refs"])
        assert refs == tuple(str(a) for a in pl.TABLE_ACTIONS[tbl]), tbl
        assert int(t["size"][0]) == pl.TABLE_SIZES[tbl], tbl
        idle = t.get("idle_timeout_behavior", ["NO_TIMEOUT"])[0]
        assert (idle == "NOTIFY_CONTROL") == (tbl in pl.IDLE_TIMEOUT_TABLES), tbl


def test_actions_match_contract(p4info: dict[str, list[Any]]) -> None:
    actions = {_name(a): a for a in p4info["actions"]}
    assert set(actions) == {str(a) for a in pl.Act}
    for act in pl.Act:
        params = tuple(
            (p["name"][0], int(p["bitwidth"][0])) for p in actions[str(act)].get("params", [])
        )
        assert params == pl.ACTION_PARAMS[act], act


def test_registers_match_contract(p4info: dict[str, list[Any]]) -> None:
    regs = {
        _name(r): (
            int(r["type_spec"][0]["bitstring"][0]["bit"][0]["bitwidth"][0]),
            int(r["size"][0]),
        )
        for r in p4info["registers"]
    }
    assert regs == {name: (w, pl.NUM_SLOTS) for name, w in pl.REGISTERS.items()}


def test_controller_headers_match_contract(p4info: dict[str, list[Any]]) -> None:
    headers = {_name(h): h for h in p4info["controller_packet_metadata"]}
    for name, fields in (("packet_in", pl.PACKET_IN_FIELDS), ("packet_out", pl.PACKET_OUT_FIELDS)):
        got = tuple((m["name"][0], int(m["bitwidth"][0])) for m in headers[name]["metadata"])
        assert got == fields, name


def _defines() -> dict[str, int]:
    """``#define NAME number`` and ``const bit<N> NAME = number;`` from the shared P4 files."""
    out: dict[str, int] = {}
    for f in ("size.p4", "define.p4"):
        text = (P4SRC / "shared" / f).read_text()
        for m in re.finditer(r"^#define\s+(\w+)\s+(0x[0-9A-Fa-f]+|\d+)\b", text, re.M):
            out[m.group(1)] = int(m.group(2), 0)
        for m in re.finditer(r"const\s+bit<\d+>\s+(\w+)\s*=\s*(0x[0-9A-Fa-f]+|\d+);", text):
            out[m.group(1)] = int(m.group(2), 0)
    return out


def test_p4_defines_match_contract() -> None:
    d = _defines()
    assert d["CPU_PORT"] == pl.CPU_PORT
    assert d["CPU_CLONE_SESSION"] == pl.CPU_CLONE_SESSION
    assert d["PUNT_FIELD_LIST"] == pl.PUNT_FIELD_LIST
    assert d["DROP_PORT"] == pl.DROP_PORT
    assert d["RECIRC_PORT"] == pl.RECIRC_PORT
    assert d["SLOT_BITS"] == pl.SLOT_BITS and d["NUM_SLOTS"] == pl.NUM_SLOTS
    assert d["SESSION_TABLE_SIZE"] == pl.SESSION_TABLE_SIZE
    assert d["FWD_TABLE_SIZE"] == pl.FWD_TABLE_SIZE
    assert d["PORT_TABLE_SIZE"] == pl.PORT_TABLE_SIZE
    assert d["LOCAL_ADDR_TABLE_SIZE"] == pl.LOCAL_ADDR_TABLE_SIZE
    assert d["DYSCO_CONTROL_PORT"] == pl.CONTROL_PORT
    for r in pl.Reason:
        assert d[f"REASON_{r.name}"] == r.value, r
    for op in pl.PacketOutOp:
        assert d[f"OP_{op.name}"] == op.value, op
    assert d["PO_FLAG_FREEZE"] == pl.PacketOutFlag.FREEZE
    for flag, name in (
        (pl.PacketInFlag.ENTRY_HIT, "ENTRY_HIT"),
        (pl.PacketInFlag.LATCH_OWN, "LATCH_OWN"),
        (pl.PacketInFlag.LATCH_PEER, "LATCH_PEER"),
        (pl.PacketInFlag.REGS, "REGS"),
    ):
        assert d[f"PI_FLAG_{name}"] == flag
    for dr in pl.Direction8:
        assert d[f"DIR_{dr.name}"] == dr.value
    for role in pl.RoleCode:
        assert d[f"ROLE_{role.name}"] == role.value
    for pr in pl.PortRole:
        assert d[f"PORT_ROLE_{pr.name}"] == pr.value
    for bit in pl.RegValid:
        if bit.name and bit is not pl.RegValid.NONE:
            assert d[f"RV_{bit.name}"] == bit.value, bit
    assert d["RV_LATCHED_OWN"] == pl.LATCHED_OWN_BIT
    assert d["RV_LATCHED_PEER"] == pl.LATCHED_PEER_BIT
    assert d["RV_EPOCH_KEEP"] == pl.EPOCH_KEEP_MASK


def test_reason_names_extend_punt_reasons() -> None:
    for pr in PuntReason:
        assert pl.Reason[pr.name].punt_reason is pr
    assert pl.Reason.SPLIT.punt_reason is None


@pytest.mark.skipif(
    shutil.which("p4c-bm2-ss") is None,
    reason="p4c-bm2-ss not on PATH: freshness of p4src/build/ not checked",
)
def test_committed_bmv2_artifacts_are_fresh(tmp_path: Path) -> None:
    """p4src/build/ equals a fresh compile of the committed sources."""
    subprocess.run(
        ["make", "-s", "-C", str(P4SRC), "-B", f"OUT={tmp_path}", "bmv2"],
        check=True,
        capture_output=True,
        timeout=600,
    )
    assert (tmp_path / "dysco.p4info.txtpb").read_bytes() == P4INFO.read_bytes()
    assert (tmp_path / "dysco.json").read_bytes() == BMV2_JSON.read_bytes()


# --- MappingEntry <-> table entry ----------------------------------------------------------

_ips = st.builds(
    lambda a: f"198.{18 + (a >> 16 & 1)}.{a >> 8 & 255}.{a & 255}", st.integers(0, 2**24 - 1)
)
_tuples = st.builds(FiveTuple, _ips, st.integers(1, 65535), _ips, st.integers(1, 65535))
_u32 = st.integers(0, 2**32 - 1)
_deltas = st.builds(Deltas, _u32, _u32, _u32, _u32, st.integers(-14, 14))


@given(
    key=_tuples,
    rw=_tuples,
    d=_deltas,
    slot=st.integers(0, pl.SLOT_SPACE - 1),
    role=st.sampled_from(list(Role)),
    epoch=_u32,
    new=st.none() | st.tuples(_tuples, _deltas),
    peer_cut=st.none() | _u32,
    agent=st.integers(0, 255),
)
def test_out_entry_roundtrip(
    key: FiveTuple,
    rw: FiveTuple,
    d: Deltas,
    slot: int,
    role: Role,
    epoch: int,
    new: tuple[FiveTuple, Deltas] | None,
    peer_cut: int | None,
    agent: int,
) -> None:
    e = MappingEntry(
        EntryKey(Direction.OUT, key),
        rw,
        d,
        slot,
        role,
        new_rewrite=new[0] if new else None,
        new_deltas=new[1] if new else None,
        peer_cut=peer_cut,
        epoch=epoch,
    )
    te = pl.entry_to_table(e, agent)
    assert te.table is pl.Tbl.OUT_SESSION
    assert te.action is (pl.Act.OUT_TWO_PATH if new else pl.Act.OUT_REWRITE)
    rebuilt = pl.TableEntry.build(te.table, dict(te.match), te.action, dict(te.params))
    assert pl.entry_from_table(rebuilt) == (agent, e)


@given(key=_tuples, rw=_tuples, d=_deltas, slot=st.integers(0, pl.SLOT_SPACE - 1), epoch=_u32)
def test_in_entry_roundtrip(
    key: FiveTuple, rw: FiveTuple, d: Deltas, slot: int, epoch: int
) -> None:
    e = MappingEntry(EntryKey(Direction.IN, key), rw, d, slot, Role.NEW, epoch=epoch)
    te = pl.entry_to_table(e)
    assert te.table is pl.Tbl.IN_SESSION and "agent_id" not in te.match
    assert pl.entry_from_table(te) == (0, e)


def test_entry_limits() -> None:
    k = FiveTuple("198.18.0.1", 1, "198.18.0.2", 2)
    with pytest.raises(ValueError):
        pl.entry_to_table(MappingEntry(EntryKey(Direction.OUT, k), k, Deltas(win_shift=15), 1))
    with pytest.raises(ValueError):
        pl.entry_to_table(MappingEntry(EntryKey(Direction.OUT, k), k, Deltas(), pl.SLOT_SPACE))
    # every SLOT_BITS value is a slot (the device's register cells are the controller's limit)
    big = pl.entry_to_table(MappingEntry(EntryKey(Direction.OUT, k), k, Deltas(), 1_000_000))
    assert big.params["slot"] == 1_000_000 and pl.SLOT_SPACE == 1 << 24 > 1_000_000
    with pytest.raises(ValueError):
        pl.entry_to_table(MappingEntry(EntryKey(Direction.IN, k), k, Deltas(), 1, peer_cut=5))
    with pytest.raises(ValueError):
        pl.TableEntry.build(pl.Tbl.IPV4_FWD, {"dst_addr": "198.18.0.0/33"}, pl.Act.DROP, {})
    with pytest.raises(ValueError):
        pl.TableEntry.build(pl.Tbl.PORT_ROLE, {"ingress_port": 1}, pl.Act.ROUTE, {})
