"""Register slots through the daemon: they wrap within the pipeline's NUM_SLOTS, skip the
slots of live sides, and an entry the pipeline cannot hold never reaches the shadow table."""

from __future__ import annotations

import asyncio
from pathlib import Path

from controller.config import load_config
from controller.daemon import Daemon
from dysco_pipeline import pipeline as pl
from tests.controller_support import one_box_device, syn_frame, until

SYN_IN = {"reason": int(pl.Reason.SYN), "direction": 1, "ingress_port": 1}


def test_slots_wrap_at_the_pipeline_limit_and_skip_live_sides(tmp_path: Path) -> None:
    backend, srv, cfg_path = one_box_device(tmp_path)
    cfg = load_config(cfg_path)

    async def main() -> None:
        d = Daemon(cfg)
        await d.start(connect_timeout=5)
        try:
            static = len(d.translator.static_entries())
            await until(lambda: len(backend.entries) >= static)
            for sport in (41000, 41001):  # two live sessions: slots 1 and 2
                backend.inject(syn_frame(sport), SYN_IN)
            await until(lambda: len(backend.packet_outs) >= 2)
            live = {e.slot for e in d.shadow.values()}
            assert live == {1, 2}
            # Stand in for a controller that has already handed out 65,533 slots (setting up
            # that many sessions here would take a minute): the next slots are the last two.
            d.agent._next_slot = pl.NUM_SLOTS - 2
            for sport in range(42000, 42004):
                backend.inject(syn_frame(sport), SYN_IN)
            await until(lambda: len(backend.packet_outs) >= 6)
            slots = sorted(e.slot for e in d.shadow.values())
            # each session side holds its OUT and IN entry on one slot
            assert slots == sorted(2 * [1, 2, 3, 4, pl.NUM_SLOTS - 2, pl.NUM_SLOTS - 1])
            assert d.counters.handler_errors == 0
            # every shadow entry is on the device: the shadow holds nothing never written
            assert len(backend.entries) == static + len(d.shadow) == static + 12
        finally:
            await d.stop()
            srv.stop()

    asyncio.run(main())
