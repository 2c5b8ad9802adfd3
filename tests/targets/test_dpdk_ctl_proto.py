"""The DPDK agent's control protocol: ``dpdk_agent/src/ctl_proto.h`` against its Python side.

The header is parsed (defines, enums, packed structs) and compared with
:mod:`dysco_targets.dpdk_ctl` (message types, flags, codes, record layouts and field names)
and with the pipeline contract :mod:`dysco_pipeline.pipeline` (control port, reasons, flags,
register bits, sizes), the way ``tests/pipeline/test_pipeline_contract.py`` checks the P4 defines. A
change on either side makes :func:`mismatches` non-empty; the mutation tests show it does.

The last tests run the agent: every request gets a reply, malformed ones an error reply.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Iterator
from dataclasses import fields
from pathlib import Path

import pytest

from dysco_pipeline import pipeline as pl
from dysco_targets import dpdk_ctl as ctl

HEADER = Path(__file__).resolve().parents[2] / "dpdk_agent" / "src" / "ctl_proto.h"

# C type -> struct format code
_CTYPES = {
    "uint8_t": "B",
    "int8_t": "b",
    "uint16_t": "H",
    "int16_t": "h",
    "uint32_t": "I",
    "int32_t": "i",
    "uint64_t": "Q",
}


# --- parsing the header ----------------------------------------------------------------------


class Header:
    """What ctl_proto.h defines: numeric ``#define``s, enum members, packed structs."""

    def __init__(self, text: str) -> None:
        text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
        text = re.sub(r"//[^\n]*", " ", text)
        self.defines = {
            m.group(1): _c_int(m.group(2))
            for m in re.finditer(r"^#define[ \t]+(\w+)[ \t]+([^\n]+)$", text, re.M)
            if re.fullmatch(r"[\s()0-9xXa-fA-FuU<>*+]+", m.group(2))
        }
        self.enums: dict[str, dict[str, int]] = {}
        self.consts: dict[str, int] = {}
        for m in re.finditer(r"enum\s*(\w*)\s*\{(.*?)\}\s*;", text, re.S):
            members: dict[str, int] = {}
            for item in m.group(2).split(","):
                if item.strip():
                    name, value = (s.strip() for s in item.split("="))
                    members[name] = _c_int(value)
            if m.group(1):
                self.enums[m.group(1)] = members
            self.consts.update(members)
        self.consts.update(self.defines)
        self.structs: dict[str, list[tuple[str, str]]] = {}
        for m in re.finditer(
            r"struct\s+(\w+)\s*\{(.*?)\}\s*__attribute__\(\(packed\)\)\s*;", text, re.S
        ):
            self.structs[m.group(1)] = self._fields(m.group(2))

    def _fields(self, body: str) -> list[tuple[str, str]]:
        """Flattened (name, format code) pairs; nested structs prefix their fields' names with
        their own (``rw.sip``); arrays of bytes are ``Ns`` (``N x`` for padding)."""
        out: list[tuple[str, str]] = []
        for decl in body.split(";"):
            decl = decl.strip()
            if not decl:
                continue
            m = re.fullmatch(r"(struct\s+\w+|\w+)\s+(.+)", decl, re.S)
            assert m, decl
            ctype, names = m.group(1), m.group(2)
            for name in (n.strip() for n in names.split(",")):
                arr = re.fullmatch(r"(\w+)\[(\d+)\]", name)
                if ctype.startswith("struct "):
                    sub = self.structs[ctype.split()[1]]
                    out += [(f"{name}.{n}", code) for n, code in sub]
                elif arr:
                    assert ctype in ("uint8_t", "int8_t"), decl
                    n = int(arr.group(2))
                    out.append((arr.group(1), f"{n}x" if arr.group(1) == "pad" else f"{n}s"))
                else:
                    out.append((name, "x" if name == "pad" else _CTYPES[ctype]))
        return out

    def layout(self, struct_name: str) -> list[str]:
        """The struct's format codes, ``x`` runs expanded (comparable with :func:`_codes`)."""
        return _expand([code for _n, code in self.structs[struct_name]])

    def names(self, struct_name: str) -> list[str]:
        """Field names without the padding."""
        return [n for n, code in self.structs[struct_name] if not code.endswith("x")]


def _c_int(expr: str) -> int:
    expr = re.sub(r"(?<=[0-9a-fA-F])[uU]\b", "", expr.strip())
    if not re.fullmatch(r"[\s()0-9xXa-fA-F<>*+]+", expr):
        raise ValueError(f"not a constant expression: {expr!r}")
    return int(eval(expr, {"__builtins__": {}}))  # digits and operators only


def _expand(codes: list[str]) -> list[str]:
    out: list[str] = []
    for code in codes:
        m = re.fullmatch(r"(\d+)x", code)
        out += ["x"] * int(m.group(1)) if m else [code]
    return out


def _codes(fmt: str) -> list[str]:
    """A Python struct format as one code per field (``6s`` stays one, ``3x``/``8B`` expand)."""
    out: list[str] = []
    for count, code in re.findall(r"(\d*)([xbBhHiIqQs])", fmt.lstrip("<=")):
        n = int(count) if count else 1
        out += [f"{n}s"] if code == "s" else [code] * n
    return out


# --- the comparison --------------------------------------------------------------------------


def _enum_diff(what: str, c_members: dict[str, int], py: dict[str, int]) -> list[str]:
    return [] if c_members == py else [f"{what}: C {c_members} != Python {py}"]


def _prefixed(h: Header, prefix: str) -> dict[str, int]:
    return {k[len(prefix) :]: v for k, v in h.consts.items() if k.startswith(prefix)}


# ctl_entry field (C, flattened) -> ENTRY_FIELDS name
_ENTRY_PREFIX = {"match.": "", "rw.": "rw_", "d.": "", "new_rw.": "new_", "new_d.": "new_"}


def _entry_name(c_name: str) -> str:
    for prefix, py in _ENTRY_PREFIX.items():
        if c_name.startswith(prefix):
            return py + c_name[len(prefix) :]
    return c_name


def _protocol_mismatches(h: Header) -> list[str]:
    """Message types, flags, limits, codes and record layouts against dpdk_ctl."""
    out = _enum_diff(
        "message types", _prefixed_enum(h, "ctl_type", "CTL_"), {t.name: t.value for t in ctl.T}
    )
    out += _enum_diff("ops", _prefixed_enum(h, "ctl_op", "CTL_OP_"), {o.name: o for o in ctl.Op})
    out += _enum_diff(
        "tables", _prefixed_enum(h, "ctl_table", "CTL_T_"), {t.name: t for t in ctl.CtlTable}
    )
    out += _enum_diff(
        "actions", _prefixed_enum(h, "ctl_action", "CTL_A_"), {a.name: a for a in ctl.CtlAction}
    )
    status_names = {
        "CTL_OK": "OK",
        "CTL_EINVAL": "INVALID_ARGUMENT",
        "CTL_ENOENT": "NOT_FOUND",
        "CTL_EEXIST": "ALREADY_EXISTS",
        "CTL_EFULL": "RESOURCE_EXHAUSTED",
        "CTL_EINTERNAL": "INTERNAL",
    }
    c_status = {status_names.get(k, k): v for k, v in h.enums["ctl_status"].items()}
    out += _enum_diff("statuses", c_status, {s.name: s.value for s in ctl.Status})
    for c_name, py_value in (
        ("CTL_FLAG_MORE", ctl.FLAG_MORE),
        ("CTL_FLAG_ERROR", ctl.FLAG_ERROR),
        ("CTL_MAX_MSG", ctl.MAX_MSG),
        ("CTL_CHUNK", ctl.CHUNK),
        ("PKT_IN_HDR_LEN", ctl.PKT_IN_HDR_LEN),
        ("PKT_OUT_HDR_LEN", ctl.PKT_OUT_HDR_LEN),
    ):
        if h.defines.get(c_name) != py_value:
            out.append(f"{c_name}: C {h.defines.get(c_name)} != Python {py_value}")
    out += _layout_mismatches(h)
    return out


def _prefixed_enum(h: Header, enum: str, prefix: str) -> dict[str, int]:
    return {k.removeprefix(prefix): v for k, v in h.enums.get(enum, {}).items()}


def _layout_mismatches(h: Header) -> list[str]:
    out: list[str] = []
    for c_struct, py_struct in (
        ("ctl_hdr", ctl.HDR),
        ("ctl_entry", ctl.ENTRY),
        ("ctl_regs", ctl.REGS),
        ("ctl_out", ctl.OUT),
        ("ctl_info", ctl.INFO),
        ("ctl_stats", ctl.STATS),
    ):
        if c_struct not in h.structs:
            out.append(f"struct {c_struct} missing from ctl_proto.h")
        elif h.layout(c_struct) != _codes(py_struct.format):
            out.append(f"struct {c_struct}: C {h.layout(c_struct)} != {py_struct.format!r}")
    for c_struct, py_names in (
        ("ctl_entry", list(ctl.ENTRY_FIELDS)),
        ("ctl_regs", [f.name for f in fields(ctl.CtlRegs)]),
        ("ctl_info", [f.name for f in fields(ctl.Info)]),
    ):
        c_names = [_entry_name(n) for n in h.names(c_struct)] if c_struct in h.structs else []
        if c_names != py_names:
            out.append(f"struct {c_struct} field names: C {c_names} != Python {py_names}")
    return out


def _contract_mismatches(h: Header) -> list[str]:
    """Contract codes and sizes against dysco_pipeline.pipeline."""
    want: dict[str, int] = {
        "DYSCO_CONTROL_PORT": pl.CONTROL_PORT,
        "CPU_PORT": pl.CPU_PORT,
        "DROP_PORT": pl.DROP_PORT,
        "RECIRC_PORT": pl.RECIRC_PORT,
        "NUM_SLOTS": pl.NUM_SLOTS,
        "SLOT_BITS": pl.SLOT_BITS,
        "PORT_TABLE_SIZE": pl.PORT_TABLE_SIZE,
        "LOCAL_ADDR_TABLE_SIZE": pl.LOCAL_ADDR_TABLE_SIZE,
        "FWD_TABLE_SIZE": pl.FWD_TABLE_SIZE,
        "HOLD_PUNT_BYTES": pl.HOLD_PUNT_BYTES,
        "PO_FLAG_FREEZE": pl.PacketOutFlag.FREEZE,
        "RV_LATCHED_OWN": pl.LATCHED_OWN_BIT,
        "RV_LATCHED_PEER": pl.LATCHED_PEER_BIT,
        "RV_EPOCH_KEEP": pl.EPOCH_KEEP_MASK,
    }
    out = [
        f"{name}: C {h.consts.get(name)} != contract {value}"
        for name, value in want.items()
        if h.consts.get(name) != value
    ]
    for prefix, codes in (
        ("R_", {r.name: r.value for r in pl.Reason}),
        ("OP_", {o.name: o.value for o in pl.PacketOutOp}),
        ("DIR_", {d.name: d.value for d in pl.Direction8}),
        ("CTL_ROLE_", {r.name: r.value for r in pl.RoleCode}),
        (
            "PI_FLAG_",
            {f.name: f.value for f in pl.PacketInFlag if f.name and f is not pl.PacketInFlag.NONE},
        ),
    ):
        out += _enum_diff(f"{prefix}*", _prefixed(h, prefix), codes)
    rv = {b.name: b.value for b in pl.RegValid if b.name and b is not pl.RegValid.NONE}
    rv |= {"LATCHED_OWN": pl.LATCHED_OWN_BIT, "LATCHED_PEER": pl.LATCHED_PEER_BIT}
    rv |= {"EPOCH_KEEP": pl.EPOCH_KEEP_MASK}
    out += _enum_diff("RV_*", _prefixed(h, "RV_"), rv)
    return out


def mismatches(text: str) -> list[str]:
    """Every difference between the header ``text`` and the Python side; ``[]`` if in sync."""
    h = Header(text)
    return _protocol_mismatches(h) + _contract_mismatches(h)


# --- tests -----------------------------------------------------------------------------------


def test_header_matches_python_side_and_contract() -> None:
    assert mismatches(HEADER.read_text()) == []


def test_parser_reads_the_header() -> None:
    """The parser finds what it compares (so an empty parse cannot pass)."""
    h = Header(HEADER.read_text())
    assert h.enums["ctl_type"]["CTL_WRITE"] == 2
    assert h.defines["CTL_MAX_MSG"] == 1 << 20 and h.defines["CTL_CHUNK"] == 192 * 1024
    assert struct.calcsize("<" + "".join(h.layout("ctl_entry"))) == 114
    assert h.names("ctl_entry")[10:12] == ["match.sip", "match.dip"]
    assert set(h.structs) == {
        "ctl_hdr",
        "ctl_tuple",
        "ctl_deltas",
        "ctl_entry",
        "ctl_regs",
        "ctl_out",
        "ctl_info",
        "ctl_stats",
    }
    assert len(h.consts) > 60


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("CTL_WRITE = 2,", "CTL_WRITE = 22,"),  # a message type
        ("CTL_TAP = 21,", "CTL_TAP = 21,\n\tCTL_NEW = 22,"),  # a new message type
        ("#define CTL_FLAG_ERROR 0x2", "#define CTL_FLAG_ERROR 0x4"),
        ("CTL_EFULL = 8,", "CTL_EFULL = 9,"),
        ("CTL_A_DROP = 8,", "CTL_A_DROP = 9,"),
        ("uint32_t idle_ms;", "uint16_t idle_ms;"),  # a field's width
        ("uint32_t epoch;\n\tuint32_t peer_cut;", "uint32_t peer_cut;\n\tuint32_t epoch;"),
        ("uint32_t max_sessions;", "uint32_t max_sessions, spare;"),  # a new field
        ("#define DYSCO_CONTROL_PORT 35000", "#define DYSCO_CONTROL_PORT 35001"),
        ("R_SPLIT = 10", "R_SPLIT = 11"),
        ("R_HOLD = 11", "R_HOLD = 12"),
        ("#define HOLD_PUNT_BYTES 16384", "#define HOLD_PUNT_BYTES 8192"),
        ("RV_CUT = 0x10", "RV_CUT = 0x11"),
        ("PI_FLAG_REGS = 0x08", "PI_FLAG_REGS = 0x10"),
        ("#define NUM_SLOTS 65536", "#define NUM_SLOTS 32768"),
    ],
)
def test_a_change_to_the_header_is_caught(old: str, new: str) -> None:
    text = HEADER.read_text()
    assert old in text, f"mutation target {old!r} is gone from ctl_proto.h: update this test"
    assert mismatches(text.replace(old, new, 1)) != []


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FLAG_ERROR", 4),
        ("CHUNK", 128 * 1024),
        ("ENTRY", struct.Struct("<8B HH IIHH IIHH IIIIb3x IIHH IIIIb3x II 6s6s H")),
        ("REGS", struct.Struct("<8I")),
        ("INFO", struct.Struct("<IIIIIIQI")),
        ("ENTRY_FIELDS", (*ctl.ENTRY_FIELDS[:-2], "idle_ms", "dmac")),
    ],
)
def test_a_change_to_the_python_side_is_caught(
    monkeypatch: pytest.MonkeyPatch, name: str, value: object
) -> None:
    text = HEADER.read_text()
    monkeypatch.setattr(ctl, name, value)
    assert mismatches(text) != []


def test_a_change_to_a_python_enum_is_caught(monkeypatch: pytest.MonkeyPatch) -> None:
    import enum

    class T(enum.IntEnum):  # CTL_TAP missing
        HELLO = 1

    monkeypatch.setattr(ctl, "T", T)
    assert any("message types" in m for m in mismatches(HEADER.read_text()))


# --- the agent answers every request ---------------------------------------------------------


@pytest.fixture(scope="module")
def agent() -> Iterator[ctl.AgentProcess]:
    from tests.dpdk_support import start_agent

    a = start_agent(sessions=64)
    yield a
    a.stop()


@pytest.mark.parametrize(
    ("typ", "body"),
    [
        (ctl.T.WRITE, struct.pack("<I", 2) + b"\0" * ctl.ENTRY.size),  # count says 2, 1 sent
        (ctl.T.WRITE, struct.pack("<I", 1) + b"\0" * (ctl.ENTRY.size + 1)),  # a stray byte
        (ctl.T.WRITE, b"\1\0"),  # no count
        (ctl.T.REG_WRITE, b"\0" * (ctl.REGS.size - 1)),
        (ctl.T.REG_READ, b"\0\0"),
        (ctl.T.INJECT, b"\0\0"),
        (ctl.T.INJECT, struct.pack("<HH", 0, 0) + b"\0" * 70000),  # larger than any frame
        (ctl.T.INJECT_BURST, b"\0"),
        (ctl.T.PKT_OUT_SYNC, b"\0" * (ctl.PKT_OUT_HDR_LEN - 1)),
        (ctl.T.PKT_IN, b""),  # agent -> client only
        (99, b""),  # no such type
    ],
)
def test_malformed_request_gets_an_error_reply(
    agent: ctl.AgentProcess, typ: int, body: bytes
) -> None:
    with pytest.raises(ctl.AgentError, match=r"refused request \w+: INVALID_ARGUMENT"):
        agent.client._request(typ, body, timeout=30)
    assert agent.client.hello().max_slots == pl.NUM_SLOTS  # still serving


def test_header_length_mismatch_gets_an_error_reply(agent: ctl.AgentProcess) -> None:
    client = agent.client
    with client._lock:
        client._seq += 1
        seq = client._seq
        client.sock.sendall(ctl.HDR.pack(ctl.HDR.size + 5, ctl.T.HELLO, 0, seq))
    with client._cv:
        client._cv.wait_for(lambda: seq in client._replies, timeout=30)
        parts = client._replies.pop(seq, None)
    assert parts is not None, "no reply to a message whose header length is wrong"
    ((flags, body),) = parts
    assert flags & ctl.FLAG_ERROR
    assert struct.unpack("<i", body)[0] == ctl.Status.INVALID_ARGUMENT


def test_well_formed_write_still_answers_per_entry(agent: ctl.AgentProcess) -> None:
    rec = ctl.pack_entry(op=ctl.Op.INSERT, table=ctl.CtlTable.LOCAL_ADDR, action=99)
    assert agent.client.write_packed([rec]) == [ctl.Status.INVALID_ARGUMENT]
    ok = ctl.pack_entry(
        op=ctl.Op.INSERT,
        table=ctl.CtlTable.LOCAL_ADDR,
        action=ctl.CtlAction.SET_LOCAL,
        dip=ctl.ip2int("198.18.0.1"),
    )
    assert agent.client.write_packed([ok]) == [ctl.Status.OK]
    assert any(e["dip"] == ctl.ip2int("198.18.0.1") for e in agent.client.read(1))


def test_malformed_packet_out_is_counted_as_a_drop(agent: ctl.AgentProcess) -> None:
    """PKT_OUT is one way (no reply to wait for): a malformed one is dropped and counted."""
    before = agent.client.stats()["drop"]
    agent.client.packet_out(b"\1\0\0")  # 3 of the 14 header bytes
    assert agent.client.stats()["drop"] == before + 1
