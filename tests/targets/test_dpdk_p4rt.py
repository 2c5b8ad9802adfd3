"""The P4Runtime server in front of the DPDK agent and of the reference model, driven by the
controller's own P4Runtime client over real gRPC: arbitration, pipeline push (the contract's
P4Info only), batched writes with per-update errors, wildcard reads, packet-out and packet-in."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Iterator

import grpc
import pytest

from controller.p4rt.client import DevicePacketIn, P4RuntimeClient, WriteError
from controller.p4rt.gen.p4.config.v1 import p4info_pb2
from controller.p4rt.gen.p4.v1 import p4runtime_pb2 as p4r
from controller.p4rt.gen.p4.v1 import p4runtime_pb2_grpc as p4r_grpc
from controller.p4rt.p4info import P4InfoIndex
from controller.p4rt.validate import EntryValidator
from dysco_pipeline import pipeline as pl
from dysco_proto.entries import Deltas, Direction, EntryKey, MappingEntry, Role
from dysco_proto.packet import FiveTuple
from dysco_targets.backend_api import UpdateStatus
from dysco_targets.backends import DpdkBackend, RefModelBackend
from dysco_targets.contract import CONTRACT_P4INFO, load_contract_p4info
from dysco_targets.entities import P4RuntimeCodec
from dysco_targets.server import P4RuntimeServer
from tests.dpdk_support import ip_int, start_agent, tcp_frame

pytestmark = pytest.mark.skipif(not CONTRACT_P4INFO.exists(), reason="no compiled P4Info")


@pytest.fixture(params=["dpdk", "refmodel"])
def served(request: pytest.FixtureRequest) -> Iterator[tuple[P4RuntimeServer, object]]:
    if request.param == "dpdk":
        agent = start_agent(sessions=8192)
        backend: object = DpdkBackend(agent=agent)
    else:
        backend = RefModelBackend()
    srv = P4RuntimeServer(backend, "127.0.0.1:0").start()  # type: ignore[arg-type]
    yield srv, backend
    srv.stop()


def _session_entries(n: int) -> list[pl.TableEntry]:
    out = []
    for i in range(n):
        t = FiveTuple("198.18.0.1", 10000 + i % 50000, "198.18.1.2", 80 + i // 50000)
        sub = FiveTuple("198.18.2.1", 20000 + i % 40000, "198.18.2.2", 8080 + i // 40000)
        out.append(
            pl.entry_to_table(
                MappingEntry(
                    EntryKey(Direction.OUT, t),
                    sub,
                    Deltas(seq=1000 + i, ack=(-5000) % 2**32),
                    i % 65536,
                ),
                agent_id=1,
            )
        )
        out.append(
            pl.entry_to_table(
                MappingEntry(
                    EntryKey(Direction.IN, sub.reversed()),
                    t.reversed(),
                    Deltas(seq=5000, ack=(-1000 - i) % 2**32),
                    i % 65536,
                    Role.ONE,
                )
            )
        )
    return out


def _base_entries() -> list[pl.TableEntry]:
    return [
        pl.TableEntry.build(
            pl.Tbl.PORT_ROLE, {"ingress_port": 0}, pl.Act.HOST_PORT, {"agent_id": 1}
        ),
        pl.TableEntry.build(pl.Tbl.PORT_ROLE, {"ingress_port": 1}, pl.Act.NETWORK_PORT, {}),
        pl.TableEntry.build(pl.Tbl.LOCAL_ADDR, {"dst_addr": "198.18.0.1"}, pl.Act.SET_LOCAL, {}),
        pl.TableEntry.build(
            pl.Tbl.IPV4_FWD,
            {"dst_addr": "198.18.2.0/24"},
            pl.Act.ROUTE,
            {"port": 1, "src_mac": 0x020000000001, "dst_mac": 0x020000000002},
        ),
        pl.TableEntry.build(
            pl.Tbl.IPV4_FWD,
            {"dst_addr": "0.0.0.0/0"},
            pl.Act.ROUTE,
            {"port": 0, "src_mac": 0x020000000003, "dst_mac": 0x020000000004},
        ),
    ]


def _updates(
    codec: P4RuntimeCodec, entries: list[pl.TableEntry], kind: int = p4r.Update.INSERT
) -> list[p4r.Update]:
    return [p4r.Update(type=kind, entity=p4r.Entity(table_entry=codec.to_p4r(e))) for e in entries]  # type: ignore[arg-type]


def test_server_with_backend(served: tuple[P4RuntimeServer, object]) -> None:
    srv, backend = served
    info = load_contract_p4info()
    idx = P4InfoIndex(info)
    codec = P4RuntimeCodec(idx)
    got: list[DevicePacketIn] = []

    async def main() -> None:
        c = P4RuntimeClient(srv.address, 1, 5, idx, on_packet_in=got.append)
        await c.start(timeout=10)
        assert c.pipeline_pushed
        entries = _base_entries() + _session_entries(3000)
        await c.write(_updates(codec, entries))
        # wildcard read returns exactly what was written (canonical values)
        back = [codec.from_p4r(te) async for te in c.read_table_entries(0)]
        key = lambda e: (e.table.value, sorted(e.match.items()))  # noqa: E731
        assert sorted(back, key=key) == sorted(entries, key=key)
        # one table only
        out_id = codec.table_ids[pl.Tbl.OUT_SESSION]
        n_out = len([te async for te in c.read_table_entries(out_id)])
        assert n_out == 3000
        # per-update errors: duplicate, then a good one, then a delete of a missing entry
        extra = _session_entries(3001)[-2:]
        ups = _updates(codec, [entries[5], extra[0]])
        ups += _updates(codec, [_session_entries(4000)[-1]], p4r.Update.DELETE)
        with pytest.raises(WriteError) as ei:
            await c.write(ups)
        assert [e.code if e else None for e in ei.value.errors] == [
            "ALREADY_EXISTS",
            None,
            "NOT_FOUND",
        ]
        # modify then delete
        await c.write(_updates(codec, [extra[0]], p4r.Update.MODIFY))
        await c.write(_updates(codec, [extra[0]], p4r.Update.DELETE))
        # packet-out PROBE (freeze) -> PROBE_REPLY packet-in with the token
        await c.send_packet(
            b"",
            {"op": int(pl.PacketOutOp.PROBE), "flags": 1, "slot": 7, "token": 0xABCD, "epoch": 0},
        )
        for _ in range(200):
            if got:
                break
            await asyncio.sleep(0.01)
        assert got and got[0].metadata["reason"] == pl.Reason.PROBE_REPLY
        assert got[0].metadata["token"] == 0xABCD and got[0].metadata["slot"] == 7
        # a SYN from the host port is punted to the controller with its metadata
        syn = tcp_frame(ip_int("198.18.0.1"), ip_int("198.18.1.2"), 10003, 80, 1, 0, 0x02)
        if isinstance(backend, DpdkBackend):
            backend.client.inject(0, syn, live=True)
        else:
            assert isinstance(backend, RefModelBackend)
            backend.inject(syn, 0)
        for _ in range(200):
            if len(got) > 1:
                break
            await asyncio.sleep(0.01)
        pi = got[1]
        assert pi.metadata["reason"] == pl.Reason.SYN and pi.payload == syn
        assert pi.metadata["flags"] & pl.PacketInFlag.ENTRY_HIT and pi.metadata["slot"] == 3
        await c.close()

    asyncio.run(main())


def test_pipeline_must_be_the_contract(served: tuple[P4RuntimeServer, object]) -> None:
    srv, _ = served
    info = load_contract_p4info()
    other = p4info_pb2.P4Info()
    other.CopyFrom(info)
    other.tables[0].match_fields[0].bitwidth = 12
    ch = grpc.insecure_channel(srv.address)
    stub = p4r_grpc.P4RuntimeStub(ch)
    q: list[p4r.StreamMessageRequest] = [
        p4r.StreamMessageRequest(
            arbitration=p4r.MasterArbitrationUpdate(device_id=1, election_id=p4r.Uint128(low=1))
        )
    ]

    def reqs() -> Iterator[p4r.StreamMessageRequest]:
        yield q[0]
        time.sleep(5)

    stream = stub.StreamChannel(reqs())
    first = next(stream)
    assert first.arbitration.status.code == 0
    with pytest.raises(grpc.RpcError) as ei:
        stub.SetForwardingPipelineConfig(
            p4r.SetForwardingPipelineConfigRequest(
                device_id=1,
                election_id=p4r.Uint128(low=1),
                action=p4r.SetForwardingPipelineConfigRequest.VERIFY_AND_COMMIT,
                config=p4r.ForwardingPipelineConfig(p4info=other),
            )
        )
    assert ei.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    stream.cancel()
    ch.close()


def _mutations(codec: P4RuntimeCodec, rng: random.Random) -> list[p4r.Update]:
    """Valid and invalid updates (every error class the decoders and the server's entry check
    refuse, a few of them combined to pin the order of the checks)."""
    good = _updates(codec, _base_entries() + _session_entries(30))
    out: list[p4r.Update] = []
    for u in good:
        v = p4r.Update()
        v.CopyFrom(u)
        mutate(v, rng.randrange(30), rng)
        out.append(v)
        if rng.random() < 0.2:
            out.append(u)  # duplicates -> ALREADY_EXISTS
    return out


def mutate(v: p4r.Update, k: int, rng: random.Random) -> None:
    """Mutation ``k`` of a valid update (some apply to some tables only; else none)."""
    te = v.entity.table_entry
    m0 = te.match[0] if te.match else None
    params = te.action.action.params
    if k == 0:
        te.table_id = 12345  # unknown table
    elif k == 1 and m0:
        m0.field_id = 99  # unknown match field
    elif k == 2 and m0 and m0.HasField("exact"):
        m0.exact.value = b"\x01" * 9  # too long
    elif k == 3 and m0:
        del te.match[0]  # missing field (LPM: becomes /0)
    elif k == 4 and params:
        del params[0]  # missing parameter
    elif k == 5 and params:
        params[0].param_id = 77  # unknown parameter
    elif k == 6:
        te.action.action.action_id = 21538806  # route: wrong action for most tables
    elif k == 7:
        te.is_default_action = True
    elif k == 8:
        v.type = p4r.Update.DELETE
        te.ClearField("action")
    elif k == 9:
        v.type = p4r.Update.MODIFY
    elif k == 10:
        v.type = p4r.Update.UNSPECIFIED
    elif k == 11:
        v.entity.ClearField("table_entry")
        v.entity.register_entry.register_id = 1
    elif k == 12 and params:
        params[0].value = b"\xff" * 8  # too long
    elif k == 13 and m0 and m0.HasField("exact"):
        m0.exact.value = b""  # empty
    elif k == 14 and m0 and m0.HasField("exact"):
        m0.exact.value = b"\x00" + m0.exact.value  # zero-padded (too long at full width)
    elif k == 15 and m0:
        te.match.append(m0)  # field given twice
    elif k == 16:
        te.priority = rng.choice([1, 10, -1])  # priority on a table without priorities
    elif k == 17:
        te.action.action.action_id = 424242  # unknown action
    elif k == 18 and params:
        params.append(params[0])  # parameter given twice
    elif k == 19 and params:
        params[0].value = b""  # empty parameter
    elif k == 20 and params:
        params[0].value = b"\x00" * 8 + params[0].value  # zero-padded parameter
    elif k == 21 and m0 and m0.HasField("exact"):
        m0.exact.value = b"\xff" * len(m0.exact.value)  # wider than 9 bits (ports), else max
    elif k == 22 and params:
        params[-1].value = bytes([rng.choice([1, 2, 3, 0xFF])])  # 1-bit / 9-bit limits
    elif k == 23 and m0 and m0.HasField("lpm"):
        m0.lpm.prefix_len = rng.choice([0, 33, -1])  # bad prefix length
    elif k == 24 and m0:
        m0.ClearField("exact")  # no match value
        m0.ClearField("lpm")
    elif k == 25 and m0 and m0.HasField("exact"):
        val = m0.exact.value  # a ternary match on an exact field
        m0.ternary.value = val
        m0.ternary.mask = rng.choice([val, b"", b"\x01" * 9])
    elif k == 26 and params:
        te.is_default_action = True  # default action with a bad parameter
        params[0].value = b""
    elif k == 27 and params:
        v.type = p4r.Update.UNSPECIFIED  # bad type and a too long parameter
        params[0].value = b"\x01" * 9
    elif k == 28 and params and m0:
        del te.match[0]  # a missing field and a too long parameter (the parameter's code)
        params[0].value = b"\x01" * 9
    elif k == 29 and m0 and params:
        m0.field_id = 99  # unknown field before a too long parameter
        params[0].value = b"\x01" * 9


def _table_bytes(b: DpdkBackend) -> list[bytes]:
    out = []
    for te in b.read_table(0, None):
        te.ClearField("time_since_last_hit")
        out.append(te.SerializeToString(deterministic=True))
    return sorted(out)


def reference_write(
    b: DpdkBackend, validator: EntryValidator, ups: list[p4r.Update]
) -> list[UpdateStatus]:
    """What the server gave before the agent checked entries: its Python entry check, then the
    Python translation (``DpdkBackend.write``) of the updates that passed it."""
    out: list[UpdateStatus | None] = [None] * len(ups)
    good = []
    for i, u in enumerate(ups):
        why = validator.check(u.entity.table_entry) if u.entity.HasField("table_entry") else None
        if why is not None:
            out[i] = UpdateStatus(*why)
        else:
            good.append(i)
    for i, r in zip(good, b.write([ups[i] for i in good]), strict=True):
        out[i] = r
    return [r for r in out if r is not None]


def test_c_write_decoder_equals_python_path() -> None:
    """The agent's C decoder of serialized WriteRequests, with its entry check, gives the same
    per-update codes and the same table contents as the server's Python check followed by the
    Python translation, on valid and invalid updates; a request with another entity is left
    to the server (``None``) with nothing applied."""
    idx = P4InfoIndex(load_contract_p4info())
    codec = P4RuntimeCodec(idx)
    validator = EntryValidator(load_contract_p4info())
    agent = start_agent(sessions=4096)
    try:
        b = DpdkBackend(agent=agent)
        for seed in range(40):
            ups = _mutations(codec, random.Random(seed))
            tables_only = [u for u in ups if u.entity.HasField("table_entry")]
            b.set_pipeline(idx, b"")
            if len(tables_only) < len(ups):
                raw = p4r.WriteRequest(device_id=1, updates=ups).SerializeToString()
                assert b.write_checked(raw) is None, seed
                assert _table_bytes(b) == [], seed
            raw = p4r.WriteRequest(device_id=1, updates=tables_only).SerializeToString()
            fast = b.write_checked(raw)
            assert fast is not None
            fast_tables = _table_bytes(b)
            b.set_pipeline(idx, b"")
            slow = reference_write(b, validator, tables_only)
            slow_tables = _table_bytes(b)
            assert fast == [s.code for s in slow], seed
            assert fast_tables == slow_tables, seed
            # write_raw (the server's path for a parsed request) agrees too, with the same
            # messages where the entry check passes
            b.set_pipeline(idx, b"")
            via_raw = b.write_raw(raw, tables_only)
            assert via_raw is not None
            assert via_raw[: len(slow)] == [
                s if validator.check(u.entity.table_entry) is None else via_raw[i]
                for i, (u, s) in enumerate(zip(tables_only, slow, strict=True))
            ], seed
            assert [s.code for s in via_raw] == fast, seed
            assert _table_bytes(b) == slow_tables, seed
    finally:
        agent.stop()


def test_clone_session_accepted(served: tuple[P4RuntimeServer, object]) -> None:
    """The contract's mirror clone session (bmv2 needs it) is accepted, stored and read back."""
    from dysco_bench.dataplane_bench import P4RTSession

    srv, _ = served
    s = P4RTSession(srv.address)
    try:
        entry = p4r.CloneSessionEntry(session_id=pl.CPU_CLONE_SESSION)
        entry.replicas.add(egress_port=pl.CPU_PORT, instance=1)
        pre = p4r.PacketReplicationEngineEntry(clone_session_entry=entry)
        up = p4r.Update(
            type=p4r.Update.INSERT, entity=p4r.Entity(packet_replication_engine_entry=pre)
        )
        s.write(
            [up, *_updates(P4RuntimeCodec(P4InfoIndex(load_contract_p4info())), _base_entries())]
        )
        with pytest.raises(grpc.RpcError):
            s.write([up])  # ALREADY_EXISTS
        req = p4r.ReadRequest(device_id=1)
        req.entities.add().packet_replication_engine_entry.SetInParent()
        got = [e for r in s.stub.Read(req) for e in r.entities]
        assert len(got) == 1
        assert got[0].packet_replication_engine_entry.clone_session_entry.session_id == 100
    finally:
        s.close()
