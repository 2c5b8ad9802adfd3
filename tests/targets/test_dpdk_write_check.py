"""The DPDK agent's entry check (dpdk_agent/src/pbwrite.c, check_update): the P4Runtime rules of
controller/p4rt/validate.py in C, so that the P4Runtime server skips its Python check for
requests the agent takes (``DpdkBackend.write_checked``). The agent must give the same code
as the server's check for every invalid update, apply nothing it refuses, and leave to the
server (``None``, nothing applied) what it does not take; the server must answer the same
codes and error details with and without that path."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.p4rt.gen.google.rpc import status_pb2
from controller.p4rt.gen.p4.v1 import p4runtime_pb2 as p4r
from controller.p4rt.p4info import P4InfoIndex
from controller.p4rt.validate import EntryValidator
from dysco_pipeline import pipeline as pl
from dysco_targets.backends import DpdkBackend
from dysco_targets.contract import CONTRACT_P4INFO, load_contract_p4info
from dysco_targets.entities import P4RuntimeCodec
from dysco_targets.server import P4RuntimeServer
from tests.dpdk_support import start_agent
from tests.targets.test_dpdk_p4rt import (
    _base_entries,
    _mutations,
    _session_entries,
    _table_bytes,
    _updates,
    reference_write,
)

pytestmark = pytest.mark.skipif(not CONTRACT_P4INFO.exists(), reason="no compiled P4Info")

INVALID_ARGUMENT, NOT_FOUND, OUT_OF_RANGE = 3, 5, 11


@pytest.fixture(scope="module")
def dpdk() -> Iterator[tuple[DpdkBackend, P4InfoIndex, P4RuntimeCodec, EntryValidator]]:
    info = load_contract_p4info()
    idx = P4InfoIndex(info)
    agent = start_agent(sessions=4096)
    try:
        yield DpdkBackend(agent=agent), idx, P4RuntimeCodec(idx), EntryValidator(info)
    finally:
        agent.stop()


def _good(codec: P4RuntimeCodec) -> dict[str, p4r.Update]:
    base = _updates(codec, _base_entries())
    sess = _updates(codec, _session_entries(1))
    return {"port": base[0], "fwd": base[3], "out": sess[0], "in": sess[1]}


def _raw(ups: list[p4r.Update]) -> bytes:
    return p4r.WriteRequest(device_id=1, updates=ups).SerializeToString()


Mut = Callable[[p4r.TableEntry], object]


def _m0(f: Callable[[p4r.FieldMatch], object]) -> Mut:
    return lambda te: f(te.match[0])


def _p0(f: Callable[[p4r.Action.Param], object]) -> Mut:
    return lambda te: f(te.action.action.params[0])


def _set(obj: object, **kw: object) -> object:
    for k, v in kw.items():
        setattr(obj, k, v)
    return obj


# (base update, mutation, the code the server gives: its check's, or the translation's for
# AGENT_RULES)
CASES: dict[str, tuple[str, Mut, int]] = {
    "unknown table": ("out", lambda te: _set(te, table_id=12345), NOT_FOUND),
    "empty exact value": ("out", _m0(lambda m: _set(m.exact, value=b"")), INVALID_ARGUMENT),
    "zero-padded exact value": (
        "out",
        _m0(lambda m: _set(m.exact, value=b"\x00\x01")),  # agent_id: 8 bits
        OUT_OF_RANGE,
    ),
    "too long exact value": ("in", _m0(lambda m: _set(m.exact, value=b"\x01" * 5)), OUT_OF_RANGE),
    "wider than 9 bits": ("port", _m0(lambda m: _set(m.exact, value=b"\x02\x00")), OUT_OF_RANGE),
    "9 bits at full width": ("port", _m0(lambda m: _set(m.exact, value=b"\x01\xff")), 0),
    "duplicate match field": ("in", lambda te: te.match.append(te.match[0]), INVALID_ARGUMENT),
    "missing match field": ("out", lambda te: te.match.pop(), INVALID_ARGUMENT),
    "unknown match field": ("in", _m0(lambda m: _set(m, field_id=99)), INVALID_ARGUMENT),
    "no match value": ("in", _m0(lambda m: m.ClearField("exact")), INVALID_ARGUMENT),
    "ternary on an exact field": (
        "in",
        _m0(lambda m: m.ternary.CopyFrom(p4r.FieldMatch.Ternary(value=b"\x01", mask=b"\x01"))),
        INVALID_ARGUMENT,
    ),
    "exact on an LPM field": (
        "fwd",
        _m0(lambda m: m.exact.CopyFrom(p4r.FieldMatch.Exact(value=b"\x01"))),
        INVALID_ARGUMENT,
    ),
    "prefix length 0": ("fwd", _m0(lambda m: _set(m.lpm, prefix_len=0)), INVALID_ARGUMENT),
    "prefix length 33": ("fwd", _m0(lambda m: _set(m.lpm, prefix_len=33)), INVALID_ARGUMENT),
    "negative prefix length": ("fwd", _m0(lambda m: _set(m.lpm, prefix_len=-8)), INVALID_ARGUMENT),
    "empty LPM value": ("fwd", _m0(lambda m: _set(m.lpm, value=b"")), INVALID_ARGUMENT),
    "too long LPM value": ("fwd", _m0(lambda m: _set(m.lpm, value=b"\x00" * 5)), OUT_OF_RANGE),
    "priority on an exact table": ("out", lambda te: _set(te, priority=1), INVALID_ARGUMENT),
    "negative priority": ("in", lambda te: _set(te, priority=-1), INVALID_ARGUMENT),
    "priority on an LPM table": ("fwd", lambda te: _set(te, priority=5), INVALID_ARGUMENT),
    "unknown action": (
        "out",
        lambda te: _set(te.action.action, action_id=424242),
        INVALID_ARGUMENT,
    ),
    "wrong action for the table": (
        "in",
        lambda te: (  # set_local, a local_addr action (no parameters)
            _set(te.action.action, action_id=25713044),
            te.action.action.ClearField("params"),
        ),
        INVALID_ARGUMENT,
    ),
    "unknown parameter": ("out", _p0(lambda q: _set(q, param_id=77)), INVALID_ARGUMENT),
    "duplicate parameter": (
        "out",
        lambda te: te.action.action.params.append(te.action.action.params[0]),
        INVALID_ARGUMENT,
    ),
    "missing parameter": ("out", lambda te: te.action.action.params.pop(), INVALID_ARGUMENT),
    "empty parameter": ("in", _p0(lambda q: _set(q, value=b"")), INVALID_ARGUMENT),
    "zero-padded parameter": ("in", _p0(lambda q: _set(q, value=b"\x00" * 5)), OUT_OF_RANGE),
    "parameter wider than 1 bit": (
        "out",
        lambda te: _set(te.action.action.params[-1], value=b"\x02"),  # peer_cut_valid
        OUT_OF_RANGE,
    ),
    "parameter wider than 9 bits": ("fwd", _p0(lambda q: _set(q, value=b"\x02\x00")), OUT_OF_RANGE),
    "48-bit parameter too long": (
        "fwd",
        lambda te: _set(te.action.action.params[1], value=b"\x01" * 7),
        OUT_OF_RANGE,
    ),
    "default action with a bad parameter": (
        "in",
        lambda te: (_set(te, is_default_action=True), _set(te.action.action.params[0], value=b"")),
        INVALID_ARGUMENT,
    ),
    "missing field, then a too long parameter": (
        "out",
        lambda te: (te.match.pop(), _set(te.action.action.params[0], value=b"\x01" * 9)),
        OUT_OF_RANGE,
    ),
    "unknown field before a too long parameter": (
        "out",
        lambda te: (_set(te.match[0], field_id=99), _set(te.action.action.params[0], value=b"")),
        INVALID_ARGUMENT,
    ),
    "too long field before an unknown parameter": (
        "out",
        lambda te: (
            _set(te.match[1].exact, value=b"\x01" * 5),
            _set(te.action.action.params[0], param_id=77),
        ),
        OUT_OF_RANGE,
    ),
}


AGENT_RULES = {"missing match field", "wrong action for the table", "missing parameter"}


@pytest.mark.parametrize("name", list(CASES))
def test_agent_check_gives_the_servers_code(
    dpdk: tuple[DpdkBackend, P4InfoIndex, P4RuntimeCodec, EntryValidator], name: str
) -> None:
    """Each rule: the agent's code equals the server's check's (the expected one), and a
    refused update is not applied; valid updates beside it are."""
    b, idx, codec, validator = dpdk
    base, mut, want = CASES[name]
    good = _good(codec)
    u = p4r.Update()
    u.CopyFrom(good[base])
    mut(u.entity.table_entry)
    why = validator.check(u.entity.table_entry)
    if name in AGENT_RULES:  # the check passes these; the translation refuses them
        assert why is None
    else:
        assert (why[0] if why else 0) == want
    other = good["in" if base != "in" else "out"]
    b.set_pipeline(idx, b"")
    codes = b.write_checked(_raw([u, other]))
    assert codes is not None
    if want:
        assert codes == [want, 0]
        assert len(_table_bytes(b)) == 1
    else:
        assert codes == [0, 0]
        assert len(_table_bytes(b)) == 2


_FIELD_IDS = st.integers(0, 8) | st.just(99)
_VALUES = st.binary(max_size=7) | st.sampled_from([b"\x01\xff", b"\x02\x00", b"\x00" * 5])


@st.composite
def _entries(draw: st.DrawFn, codec: P4RuntimeCodec) -> p4r.Update:
    """A valid update with random damage, or an entry made up field by field."""
    base = draw(st.sampled_from(list(_good(codec).values())))
    u = p4r.Update()
    u.CopyFrom(base)
    te = u.entity.table_entry
    if draw(st.booleans()):
        te.ClearField("match")
        te.ClearField("action")
        te.table_id = draw(st.sampled_from([*codec.tables, 0, 777]))
    for _ in range(draw(st.integers(0, 3))):
        op = draw(st.integers(0, 9))
        if op == 0:
            m = te.match.add(field_id=draw(_FIELD_IDS))
            kind = draw(st.sampled_from(["exact", "lpm", "ternary", "none"]))
            if kind == "exact":
                m.exact.value = draw(_VALUES)
            elif kind == "lpm":
                m.lpm.value = draw(_VALUES)
                m.lpm.prefix_len = draw(st.integers(-1, 40))
            elif kind == "ternary":
                m.ternary.value = draw(_VALUES)
                m.ternary.mask = draw(_VALUES)
        elif op == 1 and te.match:
            i = draw(st.integers(0, len(te.match) - 1))
            m = te.match[i]
            if m.HasField("lpm"):
                m.lpm.value = draw(_VALUES)
            else:
                m.exact.value = draw(_VALUES)
        elif op == 2 and te.match:
            del te.match[draw(st.integers(0, len(te.match) - 1))]
        elif op == 3:
            te.action.action.action_id = draw(st.sampled_from([*codec.actions, 0, 5]))
        elif op == 4:
            te.action.action.params.add(param_id=draw(st.integers(0, 24)), value=draw(_VALUES))
        elif op == 5 and te.action.action.params:
            q = te.action.action.params[draw(st.integers(0, len(te.action.action.params) - 1))]
            q.value = draw(_VALUES)
        elif op == 6:
            te.priority = draw(st.integers(-2, 2))
        elif op == 7:
            u.type = draw(st.integers(0, 4))  # type: ignore[assignment]
        elif op == 8:
            te.is_default_action = draw(st.booleans())
        elif op == 9 and te.action.action.params:
            del te.action.action.params[draw(st.integers(0, len(te.action.action.params) - 1))]
    return u


@settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
def test_agent_check_equals_the_server_check_hypothesis(
    dpdk: tuple[DpdkBackend, P4InfoIndex, P4RuntimeCodec, EntryValidator], data: st.DataObject
) -> None:
    """Random updates (damaged valid ones, made-up ones) in one request: the agent's codes and
    tables equal those of the server's check followed by the Python translation."""
    b, idx, codec, validator = dpdk
    ups = data.draw(st.lists(_entries(codec), min_size=1, max_size=6))
    b.set_pipeline(idx, b"")
    codes = b.write_checked(_raw(ups))
    assert codes is not None
    fast_tables = _table_bytes(b)
    b.set_pipeline(idx, b"")
    ref = reference_write(b, validator, ups)
    assert codes == [s.code for s in ref]
    assert fast_tables == _table_bytes(b)


def _with_extra(u: p4r.Update, extra: bytes) -> bytes:
    """The request of one update whose TableEntry has ``extra`` bytes appended."""
    te = u.entity.table_entry.SerializeToString() + extra
    ent = b"\x12" + _varint(len(te)) + te
    up = b"\x08" + _varint(u.type) + b"\x12" + _varint(len(ent)) + ent
    return b"\x22" + _varint(len(up)) + up


def _varint(n: int) -> bytes:
    out = bytearray()
    while n > 0x7F:
        out.append(n & 0x7F | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def test_agent_leaves_other_forms_to_the_server(
    dpdk: tuple[DpdkBackend, P4InfoIndex, P4RuntimeCodec, EntryValidator],
) -> None:
    """Another entity, a field the agent does not take, a singular field twice (protobuf
    would merge), a request over one control message: ``None`` and nothing applied, also for
    the valid updates before it in the request."""
    b, idx, codec, _ = dpdk
    assert b.agent_checks  # probed at set_pipeline
    good = _good(codec)
    first = _raw([good["out"], good["port"]])
    pre = p4r.Update(type=p4r.Update.INSERT)
    pre.entity.packet_replication_engine_entry.clone_session_entry.session_id = 5
    other = p4r.Update()
    other.CopyFrom(good["in"])
    other.entity.table_entry.match[0].other.type_url = "x"
    meta = p4r.Update()
    meta.CopyFrom(good["in"])
    meta.entity.table_entry.metadata = b"m"
    tid = codec.table_ids[pl.Tbl.IN_SESSION]
    forms = {
        "clone session": _raw([pre]),
        "FieldMatch.other": _raw([other]),
        "TableEntry.metadata": _raw([meta]),
        "table_id twice": _with_extra(good["in"], b"\x08" + _varint(tid)),
        "action twice": _with_extra(good["in"], b"\x1a\x00"),
        "an 11-byte varint": _with_extra(good["in"], b"\x28" + b"\xff" * 10 + b"\x01"),
    }
    for name, tail in forms.items():
        b.set_pipeline(idx, b"")
        assert b.write_checked(first + tail) is None, name
        assert _table_bytes(b) == [], name
    b.set_pipeline(idx, b"")
    big = _updates(codec, _session_entries(3500))  # ~1.3 MB: over one control message
    assert b.write_checked(_raw(big)) is None
    assert _table_bytes(b) == []
    b.agent_checks = False  # as with an agent that does not check: the server's path
    try:
        assert b.write_checked(first) is None
        assert _table_bytes(b) == []
    finally:
        b.agent_checks = True


def _details(stub: object, eid: p4r.Uint128, ups: list[p4r.Update]) -> list[tuple[int, str]]:
    """Per-update (code, message) of a Write; [] if it succeeded."""
    try:
        stub.Write(p4r.WriteRequest(device_id=1, election_id=eid, updates=ups), timeout=60)  # type: ignore[attr-defined]
    except grpc.RpcError as e:
        assert e.code() == grpc.StatusCode.UNKNOWN  # type: ignore[attr-defined]
        md = dict(e.trailing_metadata())  # type: ignore[attr-defined]
        st_ = status_pb2.Status.FromString(md["grpc-status-details-bin"])
        out = []
        for a in st_.details:
            err = p4r.Error()
            a.Unpack(err)
            out.append((err.canonical_code, err.message))
        return out or [(-1, st_.message)]
    return []


def test_server_answers_the_same_with_and_without_the_agent_check() -> None:
    """The server over the DPDK agent: the same per-update codes, messages and table contents
    whether the agent checks the entries (the server parses only the request's header) or
    the server does (its Python check, ``validates_entries`` off); requests with a clone
    session take the server's path in both."""
    from dysco_bench.dataplane_bench import P4RTSession

    agent = start_agent(sessions=8192)
    backend = DpdkBackend(agent=agent)
    srv = P4RuntimeServer(backend, "127.0.0.1:0").start()
    taken: list[bool] = []
    checked = backend.write_checked

    def spy(raw: bytes) -> list[int] | None:
        r = checked(raw)
        taken.append(r is not None)
        return r

    backend.write_checked = spy  # type: ignore[method-assign,assignment]
    s = P4RTSession(srv.address)
    codec = P4RuntimeCodec(P4InfoIndex(load_contract_p4info()))
    pre = p4r.Update(type=p4r.Update.INSERT)
    pre.entity.packet_replication_engine_entry.clone_session_entry.session_id = 7
    batches = [_updates(codec, _base_entries() + _session_entries(50))]
    for seed in range(8):  # batches of 10: every update's details fit in the metadata
        ups = _mutations(codec, random.Random(seed))
        batches += [ups[i : i + 10] for i in range(0, len(ups), 10)]
    batches += [[pre, *_mutations(codec, random.Random(99))[:9]]]
    try:
        arms = {}
        for fast in (True, False):
            backend.validates_entries = fast  # type: ignore[misc]
            taken.clear()
            answers, tables = [], []
            for ups in batches:
                s.stub.SetForwardingPipelineConfig(  # clears every table
                    p4r.SetForwardingPipelineConfigRequest(
                        device_id=1,
                        election_id=s.eid,
                        action=p4r.SetForwardingPipelineConfigRequest.VERIFY_AND_COMMIT,
                        config=p4r.ForwardingPipelineConfig(p4info=load_contract_p4info()),
                    )
                )
                answers.append(_details(s.stub, s.eid, ups))
                req = p4r.ReadRequest(device_id=1)
                req.entities.add().table_entry.table_id = 0
                got = []
                for r in s.stub.Read(req):
                    for e in r.entities:
                        e.table_entry.ClearField("time_since_last_hit")
                        got.append(e.SerializeToString(deterministic=True))
                tables.append(sorted(got))
            if fast:
                # every table-entry-only request took the agent's check, the others not
                want = [all(u.entity.HasField("table_entry") for u in ups) for ups in batches]
                assert taken == want and True in want and False in want
            else:
                assert taken == []
            arms[fast] = (answers, tables)
        assert arms[True] == arms[False]
        answers = arms[True][0]
        assert answers[0] == [] and all(a[0][0] != -1 for a in answers[1:] if a)
        codes = {c for a in answers for c, _ in a}
        assert {0, INVALID_ARGUMENT, NOT_FOUND, OUT_OF_RANGE, 6, 12} <= codes
    finally:
        s.close()
        srv.stop()
        agent.stop()
