"""The controller's P4Runtime layer against the project's P4Runtime server over real gRPC."""

from __future__ import annotations

import asyncio

import pytest

from controller.p4rt.client import DevicePacketIn, DeviceUnavailable, P4RuntimeClient, WriteError
from controller.p4rt.gen.p4.v1 import p4runtime_pb2 as p4r
from controller.p4rt.p4info import P4InfoIndex, encode_uint
from dysco_pipeline import pipeline as pl
from dysco_targets.server import P4RuntimeServer
from tests.controller_support import TableBackend, contract_p4info


def _entries(idx: P4InfoIndex, n: int, start: int = 0) -> list[p4r.Update]:
    t = idx.table(pl.Tbl.IN_SESSION.value)
    a = idx.action(pl.Act.IN_REWRITE.value)
    out = []
    for i in range(start, start + n):
        ex = p4r.FieldMatch.Exact
        f = t.match
        match = [
            p4r.FieldMatch(field_id=f["src_addr"][0], exact=ex(value=encode_uint(0x0A000001, 32))),
            p4r.FieldMatch(field_id=f["dst_addr"][0], exact=ex(value=encode_uint(0x0A000002, 32))),
            p4r.FieldMatch(field_id=f["proto"][0], exact=ex(value=b"\x06")),
            p4r.FieldMatch(field_id=f["src_port"][0], exact=ex(value=encode_uint(i % 65536, 16))),
            p4r.FieldMatch(
                field_id=f["dst_port"][0], exact=ex(value=encode_uint(80 + i // 65536, 16))
            ),
        ]
        params = [p4r.Action.Param(param_id=pid, value=b"\x01") for pid, _b in a.params.values()]
        te = p4r.TableEntry(
            table_id=t.id,
            match=match,
            action=p4r.TableAction(action=p4r.Action(action_id=a.id, params=params)),
        )
        out.append(p4r.Update(type=p4r.Update.INSERT, entity=p4r.Entity(table_entry=te)))
    return out


def test_arbitration_pipeline_writes_reads_packets(
    server: tuple[P4RuntimeServer, TableBackend],
) -> None:
    srv, backend = server
    idx = P4InfoIndex(contract_p4info())
    got: list[DevicePacketIn] = []

    async def main() -> None:
        c = P4RuntimeClient(srv.address, 1, 10, idx, on_packet_in=got.append)
        await c.start(timeout=5)
        assert c.connected and c.pipeline_pushed and backend.pipelines == 1
        # batched writes, then a read-back of every entry
        await c.write(_entries(idx, 2500))
        assert len(backend.entries) == 2500
        n = 0
        async for _te in c.read_table_entries(0):
            n += 1
        assert n == 2500
        # per-update errors: the duplicates fail, the new ones succeed
        with pytest.raises(WriteError) as ei:
            await c.write(_entries(idx, 3, start=2499))
        errs = ei.value.errors
        assert [e.code if e else None for e in errs] == ["ALREADY_EXISTS", None, None]
        assert len(backend.entries) == 2502
        # packet-out with named metadata; packet-in with named metadata
        await c.send_packet(b"\x00" * 20, {"op": 1, "egress_port": 7})
        for _ in range(100):
            if backend.packet_outs:
                break
            await asyncio.sleep(0.01)
        assert backend.packet_outs[0][1]["egress_port"] == 7
        backend.inject(b"abc", {"reason": 1, "direction": 1, "ingress_port": 3})
        for _ in range(100):
            if got:
                break
            await asyncio.sleep(0.01)
        assert got[0].payload == b"abc" and got[0].metadata["ingress_port"] == 3
        await c.close()
        # a second controller with the same P4Info does not push the pipeline again
        c2 = P4RuntimeClient(srv.address, 1, 11, idx)
        await c2.start(timeout=5)
        assert not c2.pipeline_pushed and backend.pipelines == 1 and len(backend.entries) == 2502
        await c2.close()

    asyncio.run(main())


def test_unreachable_device_is_one_clear_error() -> None:
    idx = P4InfoIndex(contract_p4info())

    async def main() -> None:
        c = P4RuntimeClient("127.0.0.1:1", 1, 1, idx)
        with pytest.raises(DeviceUnavailable) as ei:
            await c.start(timeout=1.0)
        assert "127.0.0.1:1" in str(ei.value)

    asyncio.run(main())


def test_backup_controller_is_refused(server: tuple[P4RuntimeServer, TableBackend]) -> None:
    srv, _backend = server
    idx = P4InfoIndex(contract_p4info())

    async def main() -> None:
        c1 = P4RuntimeClient(srv.address, 1, 20, idx)
        await c1.start(timeout=5)
        c2 = P4RuntimeClient(srv.address, 1, 5, idx)
        with pytest.raises(DeviceUnavailable):
            await c2.start(timeout=2)
        await c1.close()

    asyncio.run(main())


def test_reconnect_after_server_restart() -> None:
    idx = P4InfoIndex(contract_p4info())
    backend = TableBackend()
    srv = P4RuntimeServer(backend, "127.0.0.1:0", contract=contract_p4info()).start()
    port = srv.port
    connects: list[bool] = []

    async def on_connected(first: bool) -> None:
        connects.append(first)

    async def main() -> None:
        c = P4RuntimeClient(srv.address, 1, 1, idx, on_connected=on_connected, reconnect_max=0.2)
        await c.start(timeout=5)
        srv.stop(grace=0)
        await asyncio.sleep(0.3)
        srv2 = P4RuntimeServer(backend, f"127.0.0.1:{port}", contract=contract_p4info()).start()
        try:
            for _ in range(100):
                if len(connects) >= 2:
                    break
                await asyncio.sleep(0.05)
            assert connects[:2] == [True, False]
            await c.write(_entries(idx, 10))
        finally:
            await c.close()
            srv2.stop()

    asyncio.run(main())
