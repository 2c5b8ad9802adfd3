"""Controller restart: the daemon checkpoints its agent, a new instance restores it and
reconciles with the device (missing entries reinstalled, unknown ones kept as foreign until
idle); the restored sessions stay manageable."""

from __future__ import annotations

import asyncio
from pathlib import Path

from controller.config import load_config
from controller.daemon import Daemon
from controller.p4rt.gen.p4.v1 import p4runtime_pb2 as p4r
from dysco_pipeline import pipeline as pl
from dysco_proto.entries import Deltas, Direction, EntryKey, MappingEntry
from dysco_proto.packet import FiveTuple
from tests.controller_support import (
    one_box_device,
    syn_frame,
    synack_mirrored,
    until,
)


def test_restart_restores_sessions_and_reconciles(tmp_path: Path) -> None:
    backend, srv, cfg_path = one_box_device(tmp_path)
    cfg = load_config(cfg_path)
    pin = {"reason": int(pl.Reason.SYN), "direction": 1, "ingress_port": 1}

    async def main() -> None:
        d = Daemon(cfg)
        await d.start(connect_timeout=5)
        static = len(d.translator.static_entries())
        n = 20
        try:
            for i in range(n):
                backend.inject(syn_frame(40000 + i), pin)
            await until(lambda: len(backend.packet_outs) >= n)
            for v in list(d.agent.sessions()):  # type: ignore[union-attr]
                assert v.right is not None
                synack_mirrored(d, v.right.session)
            await d.writer.drain()
            before = {v.session: (v.right.subsession, v.right.peer) for v in d.agent.sessions()}  # type: ignore[union-attr]
            slots = {e.slot for e in d.shadow.values()}
            victim = next(iter(d.shadow))
        finally:
            await d.stop()
        assert d.checkpoint_path.exists() and d.checkpoint_path.stat().st_mode & 0o777 == 0o600

        # while no controller runs: the device loses one entry, and holds one we never made
        d0 = Daemon(cfg, management=False)
        backend.write([d0.translator.delete_update(victim)])
        stray = MappingEntry(
            EntryKey(Direction.IN, FiveTuple("10.0.0.7", 999, "10.0.0.1", 80)),
            FiveTuple("10.0.0.7", 999, "10.0.0.1", 80), Deltas(), 4000,
        )  # fmt: skip
        backend.write([d0.translator.entry_update(p4r.Update.INSERT, stray)])

        d2 = Daemon(cfg)
        await d2.start(connect_timeout=5)
        try:
            await until(lambda: d2.writer.pending == 0 and d2.counters.reconciled_added >= 1)
            assert d2.counters.restored_sessions == n
            assert d2.counters.reconciled_added == 1  # the lost entry, reinstalled
            assert d2.counters.reconciled_adopted == 2 * n - 1
            assert set(d2.foreign) == {stray.key}
            # the reinstall may still be in the server's hands when the writer reports done
            await until(lambda: len(backend.entries) == static + 2 * n + 1)
            assert len(backend.entries) == static + 2 * n + 1
            after = {v.session: (v.right.subsession, v.right.peer) for v in d2.agent.sessions()}  # type: ignore[union-attr]
            assert after == before
            # the restored sessions are manageable: a reconfiguration starts (its peer is not
            # running here, so it does not complete) and the session shows its entries
            t = next(iter(before))
            res = await d2.handle_mgmt(
                "reconfig",
                {"kind": "insert", "session": str(t), "boxes": ["10.0.0.6"], "timeout": 0.3},
                _noop,
            )
            assert res["total"] == 1 and d2.agent.counters.get("reconfig.started") == 1
            shown = await d2.handle_mgmt("session", {"id": str(t)}, _noop)
            assert len(shown["entries"]) >= 2
            # a new session neither reuses a restored slot nor the stray entry's
            backend.inject(syn_frame(50000), pin)
            await until(lambda: len(backend.packet_outs) >= n + 1)
            new = [e for k, e in d2.shadow.items() if k.match.src_port == 50000]
            assert new and not {e.slot for e in new} & (slots | {stray.slot})
        finally:
            await d2.stop()
            srv.stop()

    asyncio.run(main())


async def _noop(_p: dict[str, object]) -> None:
    return None
