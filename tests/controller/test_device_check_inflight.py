"""The periodic device check (``DeviceSync.check``) reads the device back only once the writes
queued before it completed: an entry whose Write is still in flight is not reported missing
and written a second time (seen as "N entries missing or different, repaired" during the
``dysco bench controller`` bursts)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from controller.config import load_config
from controller.daemon import Daemon
from controller.p4rt.gen.p4.v1 import p4runtime_pb2 as p4r
from dysco_pipeline import pipeline as pl
from tests.controller_support import one_box_device, syn_frame, until


def test_writes_queued_before_a_device_check_are_not_repaired_by_it(tmp_path: Path) -> None:
    """Session A's Write is held by the device; session B's entries wait in the daemon's
    writer behind it when the check begins. The server applies a Write and a Read one at a
    time, so a read-back that does not wait for B's Write sees B's entries missing."""
    backend, srv, cfg_path = one_box_device(tmp_path)
    cfg = load_config(cfg_path)
    hold = threading.Event()
    go = threading.Event()
    held = threading.Event()
    inner_write = backend.write

    def write(updates: Sequence[p4r.Update]) -> Any:  # the server's thread
        if hold.is_set() and not held.is_set():
            held.set()
            go.wait(30)
        return inner_write(updates)

    backend.write = write  # type: ignore[method-assign]

    async def main() -> None:
        d = Daemon(cfg, management=False)
        await d.start(connect_timeout=5)
        try:
            await until(lambda: d.writer.pending == 0)
            assert await d.check_device() == 0  # in sync before
            hold.set()
            pin = {"reason": int(pl.Reason.SYN), "direction": 1, "ingress_port": 1}
            backend.inject(syn_frame(40000), pin)  # A: its Write is held by the device
            await until(held.is_set)
            backend.inject(syn_frame(40001), pin)  # B: queued behind A in the writer
            await until(lambda: d.writer.pending >= 4)
            check = asyncio.create_task(d.check_device())
            await asyncio.sleep(0.3)  # the check has begun (and, without the fix, read)
            go.set()
            repairs = await check
            assert repairs == 0 and d.in_sync
            await until(lambda: d.writer.pending == 0)
            assert d.writer.stats.repaired == 0  # no INSERT found its entry already there
            assert len(d.shadow) == 4
        finally:
            go.set()
            await d.stop()

    try:
        asyncio.run(main())
    finally:
        srv.stop()
