"""The C session-entry encoder (``controller._fastenc``, ``controller/_fastenc.c``) against its
reference, the Python ``_FastEncoder``: the same bytes for every entry the Python encoder
serialises, ``None`` wherever it returns ``None`` (and wherever it raises: the caller takes the
contract path, which raises the proper error); the Translator on the C encoder through the
project's P4Runtime server over real gRPC; the fallback to Python when the module is absent."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller import entry_encoder
from controller.entry_encoder import _FastEncoder
from controller.p4rt.client import P4RuntimeClient
from controller.p4rt.gen.p4.v1 import p4runtime_pb2 as p4r
from controller.p4rt.p4info import P4InfoIndex
from controller.translate import Translator
from dysco_bench.controller_bench import _config
from dysco_pipeline import pipeline as pl
from dysco_proto.entries import Deltas, Direction, EntryKey, MappingEntry, Role
from dysco_proto.packet import TCP, UDP, FiveTuple
from dysco_targets.server import P4RuntimeServer
from tests.controller_support import TableBackend, contract_p4info

REPO = Path(__file__).resolve().parents[2]

if entry_encoder._fastenc is None:  # pragma: no cover - the build is part of `make setup`
    pytest.skip(
        "controller._fastenc is not built (run `.venv/bin/pip install -e .`)",
        allow_module_level=True,
    )

INS, MOD, DEL = p4r.Update.INSERT, p4r.Update.MODIFY, p4r.Update.DELETE


def _translator(encoder: str = "c") -> Translator:
    with tempfile.TemporaryDirectory() as d:
        tr = Translator(
            P4InfoIndex(contract_p4info()), _config(Path(d), "127.0.0.1:1", policies=False)
        )
    if encoder == "python":
        tr.fast, tr.encoder = entry_encoder.new_encoder(
            tr.tables, tr.actions, tr.agent_id, "python"
        )
    return tr


TR = _translator()
PY = _FastEncoder(TR.tables, TR.actions, TR.agent_id)
C = TR.fast

# -- strategies: mostly what the daemon writes, with every unusual value mixed in ---------------

_octet = st.integers(0, 255)
_plain_ip = st.tuples(_octet, _octet, _octet, _octet).map(lambda t: ".".join(map(str, t)))
# forms socket.inet_aton accepts (octal, hex, fewer parts, trailing blank) and rejects
_odd_ip = st.sampled_from(
    ["010.0.0.1", "0x7f.1", "1.2.3", "127.1", "4294967295", "1.2.3.4 ", "1.2.3.4 x",
     "0.0.0.0", "255.255.255.255", "256.1.1.1", "1.2.3.4.5", "", "a.b.c.d", "1.2.3.4\x00",
     " 1.2.3.4", "1..2.3", "1.2.3.", "00.0.0.0", "1.2.3.04", "\u00e9.1.1.1"]
)  # fmt: skip
_ip = st.one_of(_plain_ip, _plain_ip, _plain_ip, _odd_ip)
_port = st.one_of(
    st.integers(0, 65535),
    st.integers(0, 65535),
    st.sampled_from([-1, 65536, 1 << 32, (1 << 64) - 1, 1 << 64, 1 << 70]),
)
_any_int = st.one_of(
    st.integers(-(1 << 31), (1 << 32) - 1),
    st.sampled_from([0, 1, -1, (1 << 32) - 1, 1 << 32, -(1 << 32), 1 << 64, -(1 << 80)]),
)


@st.composite
def _tuple(
    draw: st.DrawFn, proto: st.SearchStrategy[int] | None = None, odd: bool = True
) -> FiveTuple:
    p = draw(
        proto if proto is not None else st.sampled_from([TCP, TCP, TCP, UDP] if odd else [TCP])
    )
    ip, port = (_ip, _port) if odd else (_plain_ip, st.integers(0, 65535))
    return FiveTuple(draw(ip), draw(port), draw(ip), draw(port), p)


_deltas = st.builds(
    Deltas, _any_int, _any_int, _any_int, _any_int, st.integers(-16, 16) | st.just(1 << 70)
)
_good_deltas = st.builds(Deltas, _any_int, _any_int, _any_int, _any_int, st.integers(-14, 14))


@st.composite
def _entry(draw: st.DrawFn) -> MappingEntry:
    """Half the entries are what the daemon writes (IN, OUT, OUT two-path, any agent), the
    other half mix in every unusual value (the ``None`` cases and what Python raises on)."""
    odd = draw(st.booleans())
    out = draw(st.booleans())
    two = draw(st.integers(0, 9)) < (4 if out else (1 if odd else 0))  # IN two-path: None
    cut = draw(st.sampled_from([None, 0, 1, (1 << 32) - 1, 1 << 40, -5]))
    deltas = st.one_of(_deltas, _deltas, _deltas, st.none()) if odd else _good_deltas
    slot = st.integers(0, pl.SLOT_SPACE - 1)
    epoch = st.sampled_from([0, 1, (1 << 32) - 1]) | st.integers(0, (1 << 32) - 1)
    if odd:
        slot = slot | st.sampled_from([-1, 0, pl.SLOT_SPACE - 1, pl.SLOT_SPACE, 1 << 64])
        epoch = epoch | st.sampled_from([1 << 32, -1])
    return MappingEntry(
        EntryKey(Direction.OUT if out else Direction.IN, draw(_tuple(odd=odd))),
        draw(_tuple(odd=odd)),
        draw(deltas),  # type: ignore[arg-type]  # None: a case the encoders refuse
        draw(slot),
        draw(st.sampled_from(list(Role))),
        new_rewrite=draw(_tuple(odd=odd)) if two else None,
        new_deltas=draw(deltas) if two else None,
        peer_cut=cut if out or (odd and draw(st.integers(0, 9)) == 0) else None,
        epoch=draw(epoch),
    )


def _py(f: Any, *a: Any) -> bytes | str | None:
    """The Python encoder's answer, or ``"raises"``."""
    try:
        return f(*a)  # type: ignore[no-any-return]
    except (ValueError, TypeError, OverflowError, OSError, IndexError, KeyError, AttributeError):
        return "raises"


_agent = st.one_of(st.none(), st.integers(0, 255))
_SETTINGS = settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@_SETTINGS
@given(_entry(), st.sampled_from([INS, MOD]), _agent)
def test_update_bytes_equal_python(e: MappingEntry, kind: int, agent: int | None) -> None:
    want = _py(PY.update, kind, e, agent)
    got = C.update(kind, e, agent)
    if want == "raises":
        assert got is None, e
    else:
        assert got == want, e
    # the keyword form and the default agent
    assert C.update(kind, e, agent_id=agent) == got
    if agent is None:
        assert C.update(kind, e) == got


@_SETTINGS
@given(st.sampled_from(list(Direction)), _tuple(st.sampled_from([TCP, UDP, 0, 255])), _agent)
def test_delete_bytes_equal_python(d: Direction, t: FiveTuple, agent: int | None) -> None:
    key = EntryKey(d, t)
    want = _py(PY.delete, key, agent)
    got = C.delete(key, agent)
    if want == "raises":
        assert got is None, key
    else:
        assert got == want, key
        assert C.delete(key, agent_id=agent) == got


T = FiveTuple("198.18.0.10", 20000, "10.0.0.1", 80)
S = FiveTuple("198.19.1.2", 1024, "10.0.0.1", 80)


def _e(**kw: Any) -> MappingEntry:
    args: dict[str, Any] = {
        "key": EntryKey(Direction.OUT, T),
        "rewrite": S,
        "deltas": Deltas(1, -1, 7, -7, 3),
        "slot": 5,
    }
    args.update(kw)
    return MappingEntry(**args)


def test_the_shapes_the_daemon_writes_are_serialised_not_none() -> None:
    """IN, OUT single path, OUT two path (with and without peer_cut), another agent's OUT."""
    shapes = [
        _e(key=EntryKey(Direction.IN, S), rewrite=T, role=Role.OLD),
        _e(),
        _e(peer_cut=0),
        _e(new_rewrite=T, new_deltas=Deltas(2, 3, 4, 5, -14), peer_cut=99, epoch=7),
        _e(role=Role.NEW, epoch=(1 << 32) - 1, slot=pl.SLOT_SPACE - 1),
    ]
    for e in shapes:
        for agent in (None, 0, 3, 255):
            got = C.update(INS, e, agent)
            assert got is not None and got == PY.update(INS, e, agent), e
            msg = p4r.Update.FromString(got)
            assert msg == TR.entry_update_contract(INS, e, agent), e
        assert C.delete(e.key, 9) == PY.delete(e.key, 9)
        assert TR.delete_update(e.key, 9) == TR.delete_update_contract(e.key, 9)


@pytest.mark.parametrize(
    "e",
    [
        _e(deltas=None),  # no deltas
        _e(new_rewrite=T, new_deltas=None),  # two-path without new deltas
        _e(rewrite=FiveTuple("1.1.1.1", 1, "2.2.2.2", 2, UDP)),  # non-TCP rewrite
        _e(new_rewrite=FiveTuple("1.1.1.1", 1, "2.2.2.2", 2, UDP), new_deltas=Deltas()),
        _e(deltas=Deltas(win_shift=15)),
        _e(deltas=Deltas(win_shift=-15)),
        _e(new_rewrite=T, new_deltas=Deltas(win_shift=15)),
        _e(slot=-1),
        _e(slot=pl.SLOT_SPACE),
        _e(epoch=-1),
        _e(epoch=1 << 32),
        _e(key=EntryKey(Direction.IN, S), new_rewrite=T, new_deltas=Deltas()),  # IN two-path
        _e(key=EntryKey(Direction.IN, S), peer_cut=0),  # IN with peer_cut
    ],
)
def test_none_where_python_returns_none(e: MappingEntry) -> None:
    assert PY.update(INS, e) is None
    assert C.update(INS, e) is None


@pytest.mark.parametrize(
    "e",
    [
        _e(rewrite=FiveTuple("1.2.3.4.5", 1, "2.2.2.2", 2)),  # inet_aton refuses it
        _e(key=EntryKey(Direction.OUT, FiveTuple("x", 1, "2.2.2.2", 2))),
        _e(rewrite=FiveTuple("1.1.1.1", -1, "2.2.2.2", 2)),  # a negative port
        _e(key=EntryKey(Direction.OUT, FiveTuple("1.1.1.1", 1 << 64, "2.2.2.2", 2))),  # 9 bytes
    ],
)
def test_none_where_python_raises_and_the_translator_raises_valueerror(e: MappingEntry) -> None:
    """What the Python encoder cannot serialise raises there; the C encoder says ``None`` and
    the Translator's contract path gives the proper one-line error."""
    assert _py(PY.update, INS, e) == "raises"
    assert C.update(INS, e) is None
    tr = _translator()
    tr.slots = pl.SLOT_SPACE
    with pytest.raises((ValueError, TypeError)):
        tr.entry_update_raw(INS, e)


@pytest.mark.parametrize("e", [_e(role="neither"), _e(slot=1.0), _e(deltas=Deltas(seq=0.5))])  # type: ignore[arg-type]
def test_none_where_python_raises_on_wrong_types(e: MappingEntry) -> None:
    """Values of the wrong type (a bug upstream, not input): ``None`` from the C encoder."""
    assert _py(PY.update, INS, e) == "raises"
    assert C.update(INS, e) is None


def test_agent_id_outside_8_bits_is_none_and_the_contract_refuses_it() -> None:
    for agent in (-1, 256, 1 << 70):
        assert C.update(INS, _e(), agent) is None
        assert C.delete(_e().key, agent) is None
        with pytest.raises(ValueError, match="agent_id"):
            TR.entry_update_raw(INS, _e(), agent)
    assert C.update(-1, _e()) is None and C.update(1 << 14, _e()) is None


def test_bad_calls_are_type_errors() -> None:
    with pytest.raises(TypeError):
        C.update(INS)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        C.update(INS, _e(), 1, 2)  # type: ignore[call-arg]
    with pytest.raises(TypeError):
        C.delete(_e().key, agent=1)  # type: ignore[call-arg]
    with pytest.raises(ValueError):
        bad: Any = ()
        entry_encoder._fastenc.Encoder(
            tables=bad, actions=bad, agent=b"\x00", ttl=b"", roles={}, dir_in=None,
            dir_out=None, tcp=6, slot_space=1, max_win_shift=14, delete_kind=3,
        )  # fmt: skip


def test_translator_uses_c_and_equals_the_contract_path() -> None:
    assert TR.encoder == "c"
    tr = _translator()
    tr.slots = pl.SLOT_SPACE
    py = _translator("python")
    py.slots = pl.SLOT_SPACE
    assert py.encoder == "python" and isinstance(py.fast, _FastEncoder)
    for i in range(200):
        e = _e(
            key=EntryKey(
                Direction.OUT if i % 3 else Direction.IN,
                FiveTuple(f"10.1.{i}.1", i, "10.0.0.1", 80),
            ),
            rewrite=FiveTuple("198.18.0.1", 40000 + i, f"198.19.{i}.9", 443),
            deltas=Deltas(i * 7919, -i, i << 20, -(i << 20), i % 29 - 14),
            slot=i * 331,
            role=list(Role)[i % 3],
            epoch=i * 1000003,
            peer_cut=i if i % 3 and i % 4 == 0 else None,
            new_rewrite=T if i % 3 and i % 5 == 0 else None,
            new_deltas=Deltas(i, i, i, i, 0) if i % 3 and i % 5 == 0 else None,
        )  # fmt: skip
        for kind in (INS, MOD):
            raw = tr.entry_update_raw(kind, e)
            assert raw == py.entry_update_raw(kind, e)
            assert p4r.Update.FromString(raw) == tr.entry_update_contract(kind, e)
            assert tr.entry_update(kind, e) == tr.entry_update_contract(kind, e)
        assert tr.delete_update_raw(e.key) == py.delete_update_raw(e.key)
        assert tr.delete_update(e.key) == tr.delete_update_contract(e.key)


def test_c_encoded_writes_through_the_p4runtime_server(
    server: tuple[P4RuntimeServer, TableBackend],
) -> None:
    """INSERT, MODIFY and DELETE encoded in C, through the client to the project's P4Runtime
    server (which checks every entry against the contract's P4Info): the server holds exactly
    the contract path's entries."""
    srv, backend = server
    idx = P4InfoIndex(contract_p4info())
    tr = _translator()
    es = [
        _e(key=EntryKey(Direction.IN, FiveTuple(f"198.19.0.{i}", 1024, "10.0.0.1", 80)), rewrite=T)
        for i in range(1, 21)
    ] + [
        _e(key=EntryKey(Direction.OUT, FiveTuple("10.0.0.1", 80, f"198.19.0.{i}", 1024)),
           new_rewrite=S if i % 2 else None, new_deltas=Deltas(i) if i % 2 else None,
           peer_cut=i if i % 2 else None)
        for i in range(1, 21)
    ]  # fmt: skip

    def want(kind: int, entries: list[MappingEntry]) -> dict[Any, Any]:
        return {
            backend._key(m.entity.table_entry): m.entity.table_entry
            for m in (tr.entry_update_contract(kind, e) for e in entries)
        }

    async def main() -> None:
        c = P4RuntimeClient(srv.address, 1, 10, idx)
        await c.start(timeout=5)
        await c.write([tr.entry_update_raw(INS, e) for e in es])
        assert backend.entries == want(INS, es)
        changed = [MappingEntry(e.key, e.rewrite, Deltas(99, 98, 97, 96, 1), 777) for e in es[:10]]
        await c.write([tr.entry_update_raw(MOD, e) for e in changed])
        assert backend.entries == want(INS, changed + es[10:])
        await c.write([tr.delete_update_raw(e.key) for e in es[:30]])
        assert backend.entries == want(INS, es[30:])
        await c.close()

    asyncio.run(main())


def test_fallback_to_python_when_the_module_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(entry_encoder, "_fastenc", None)
    tr = _translator()
    assert tr.encoder == "python" and isinstance(tr.fast, _FastEncoder)
    e = _e(new_rewrite=T, new_deltas=Deltas(1), peer_cut=3)
    assert tr.entry_update_raw(INS, e) == C.update(INS, e)
    assert tr.delete_update_raw(e.key) == C.delete(e.key)
    with pytest.raises(ImportError):
        tr.fast.c_encoder()  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="encoder"):
        entry_encoder.new_encoder(tr.tables, tr.actions, 0, "rust")


def test_fallback_when_the_import_fails_logs_once() -> None:
    """A fresh interpreter where ``import controller._fastenc`` fails: the Translator runs on
    the Python encoder and says so once, however many Translators there are."""
    code = """
import logging, sys, tempfile
from pathlib import Path
sys.modules["controller._fastenc"] = None  # import fails with ImportError
logging.basicConfig(level=logging.INFO, format="%(name)s: %(message)s", stream=sys.stdout)
from controller.p4rt.p4info import P4InfoIndex
from controller.translate import Translator
from dysco_bench.controller_bench import _config, _entries
from tests.controller_support import contract_p4info
with tempfile.TemporaryDirectory() as d:
    cfg = _config(Path(d), "127.0.0.1:1", policies=False)
    trs = [Translator(P4InfoIndex(contract_p4info()), cfg) for _ in range(2)]
print("encoders", *[t.encoder for t in trs])
print("bytes", len(trs[0].entry_update_raw(1, _entries(1)[0])))
"""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    r = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, env=env, timeout=120
    )
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    logged = [x for x in lines if "session-entry encoder" in x]
    assert len(logged) == 1 and "Python" in logged[0] and "not built" in logged[0], lines
    assert "encoders python python" in lines
    assert any(x.startswith("bytes ") and int(x.split()[1]) > 50 for x in lines)


def test_the_servers_fast_entry_check_takes_what_the_encoder_writes() -> None:
    """The P4Runtime server's entry check (``EntryValidator``) has a one-regex fast pass over
    an entry's serialization; session entries carry ``idle_timeout_ns``, which it must accept
    (without it every session entry took the field-by-field pass: ~10 us instead of ~2.5)."""
    from controller.p4rt.validate import EntryValidator

    v = EntryValidator(contract_p4info())
    shapes = [
        _e(key=EntryKey(Direction.IN, S), rewrite=T),
        _e(),
        _e(new_rewrite=T, new_deltas=Deltas(1, 2, 3, 4, -3), peer_cut=5, epoch=(1 << 32) - 1),
    ]
    for e in shapes:
        te = p4r.Update.FromString(C.update(INS, e)).entity.table_entry
        assert te.idle_timeout_ns > 0
        for ttl in (te.idle_timeout_ns, 0, 1, (1 << 63) - 1, -1):
            te.idle_timeout_ns = ttl
            assert v.rx[te.table_id].fullmatch(te.SerializeToString()), (e, ttl)
            assert v.check(te) is None and v.diagnose(te) is None
        # a value too wide is still refused, TTL or not
        te.action.action.params[0].value = b"\x01" + te.action.action.params[0].value
        assert v.check(te) is not None
