"""The daemon notices losing its device (docs/controller.md, Losing the device): another
controller takes the primary role and deletes every entry, or entries vanish behind the daemon's
back. Real gRPC, the project's P4Runtime server with the reference-model backend, and a second
real client."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.daemon import Daemon
from controller.p4rt.client import P4RuntimeClient
from controller.p4rt.gen.p4.v1 import p4runtime_pb2 as p4r
from controller.p4rt.p4info import P4InfoIndex
from dysco_pipeline import pipeline as pl
from dysco_targets.backends import RefModelBackend
from dysco_targets.contract import CONTRACT_P4INFO
from tests.controller_support import (
    contract_p4info,
    refmodel_device,
    run_daemon,
    syn_frame,
    until,
)

pytestmark = pytest.mark.skipif(not CONTRACT_P4INFO.exists(), reason="no compiled P4Info")

TIMERS = "{rto: 0.05, idle_scan: 0.2, idle_timeout: 30, reconnect_max: 0.2, reconcile: 0.3}"


def _count(backend: RefModelBackend) -> int:
    return len(list(backend.state.tables.entries()))


def test_daemon_regains_primary_and_repairs_a_wiped_device(tmp_path: Path) -> None:
    backend, srv, cfg = refmodel_device(tmp_path, TIMERS)
    idx = P4InfoIndex(contract_p4info())

    async def main(d: Daemon) -> None:
        await until(lambda: d.status()["ready"], timeout=20)
        static = len(d.translator.static_entries())
        # one session: its two entries join the static ones
        backend.inject(syn_frame(40000), 1)
        await until(lambda: _count(backend) == static + 2, timeout=20)
        await until(lambda: d.status()["ready"], timeout=20)
        full = _count(backend)

        # another controller takes the primary role and deletes every entry
        rogue = P4RuntimeClient(srv.address, 1, 1000, idx, push_pipeline="never")
        await rogue.start(timeout=10)
        await until(lambda: not d.status()["ready"], timeout=20)
        st = d.status()
        assert not st["primary"] and st["primary_lost"] == 1
        doomed = [te async for te in rogue.read_table_entries(0)]
        assert len(doomed) == full
        await rogue.write(
            [p4r.Update(type=p4r.Update.DELETE, entity=p4r.Entity(table_entry=te)) for te in doomed]
        )
        assert _count(backend) == 0
        assert not d.status()["ready"]  # still not primary: nothing repaired yet
        await rogue.close()

        # primary again: the device is read back and repaired, then ready again
        await until(lambda: _count(backend) == full, timeout=30)
        await until(lambda: d.status()["ready"], timeout=30)
        assert d.status()["primary"]

        # entries vanish while the daemon is primary (someone on the device itself):
        # the periodic read-back finds and reinstalls them, static ones included
        gone = [
            p4r.Update(type=p4r.Update.DELETE, entity=p4r.Entity(table_entry=te))
            for te in backend.read_table(0, None)
        ]
        before = d.counters.reconciled_added
        assert all(s.code == 0 for s in backend.write(gone))
        assert _count(backend) == 0
        await until(lambda: _count(backend) == full, timeout=30)
        await until(lambda: d.status()["ready"], timeout=30)
        assert d.counters.reconciled_added >= before + full
        tables = {e.table for e in backend.state.tables.entries()}
        assert pl.Tbl.LOCAL_ADDR in tables and pl.Tbl.IN_SESSION in tables

    run_daemon(cfg, srv, main)
