"""Serialized updates (``Translator.entry_update_raw``) through the writer and the client to
the project's P4Runtime server over real gRPC: the server stores exactly the entries of the
message path, per-update errors come back in order, and the writer's repairs work on them."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import pytest

from controller.p4rt.client import P4RuntimeClient, WriteError
from controller.p4rt.gen.p4.v1 import p4runtime_pb2 as p4r
from controller.p4rt.p4info import P4InfoIndex
from controller.translate import Translator
from controller.writer import OrderedWriter
from dysco_bench.controller_bench import _config, _entries
from dysco_targets.server import P4RuntimeServer
from tests.controller_support import TableBackend, contract_p4info


def _translator(idx: P4InfoIndex) -> Translator:
    with tempfile.TemporaryDirectory() as d:
        return Translator(idx, _config(Path(d), "127.0.0.1:1", policies=False))


def test_raw_updates_equal_messages_and_errors_keep_order(
    server: tuple[P4RuntimeServer, TableBackend],
) -> None:
    srv, backend = server
    idx = P4InfoIndex(contract_p4info())
    tr = _translator(idx)
    es = _entries(40)
    ins = p4r.Update.INSERT

    async def main() -> None:
        c = P4RuntimeClient(srv.address, 1, 10, idx)
        await c.start(timeout=5)
        # the first half as messages, the second as bytes: the device holds the same entries
        await c.write([tr.entry_update(ins, e) for e in es[:20]])
        await c.write([tr.entry_update_raw(ins, e) for e in es[20:]])
        want = {
            backend._key(tr.entry_update(ins, e).entity.table_entry): tr.entry_update(
                ins, e
            ).entity.table_entry
            for e in es
        }
        assert backend.entries == want
        # a mixed batch with duplicates: errors per update, in the request's order
        mixed: list[p4r.Update | bytes] = [
            tr.entry_update_raw(ins, es[0]),
            tr.entry_update(ins, _entries(1, 100)[0]),
            tr.entry_update_raw(ins, _entries(1, 101)[0]),
            tr.entry_update(ins, es[1]),
        ]
        with pytest.raises(WriteError) as ei:
            await c.write(mixed)
        codes = [e.code if e else None for e in ei.value.errors]
        assert codes == ["ALREADY_EXISTS", None, None, "ALREADY_EXISTS"]
        assert len(backend.entries) == 42
        # the writer repairs a duplicate INSERT given as bytes into a MODIFY
        w = OrderedWriter(c, 100)
        w.start()
        changed = _entries(1)[0]
        changed = type(changed)(changed.key, changed.rewrite, changed.deltas, 777)
        w.write(tr.entry_update_raw(ins, changed), changed.key)
        await w.drain(timeout=10)
        assert w.stats.repaired == 1 and w.stats.errors == 0
        k = backend._key(tr.entry_update(ins, changed).entity.table_entry)
        assert backend.entries[k] == tr.entry_update(ins, changed).entity.table_entry
        await w.close()
        await c.close()

    asyncio.run(main())
