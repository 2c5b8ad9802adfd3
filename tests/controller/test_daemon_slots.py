"""Register slots through the daemon: they wrap within the device's capacity (the P4Info's
register size, 65,536 on bmv2, or ``device.slots``), skip the slots of live sides, and an
entry the pipeline cannot hold never reaches the shadow table."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

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


def test_device_slots_set_the_capacity_beyond_16_bits(tmp_path: Path) -> None:
    """``device.slots`` (the DPDK agent's ``--slots``) lifts the allocator past 65,536: slots
    above 16 bits are handed out, written to the device, and wrap at the configured number."""
    backend, srv, cfg_path = one_box_device(tmp_path)
    text = cfg_path.read_text()
    cfg_path.write_text(text.replace("  p4info:", "  slots: 100000\n  p4info:", 1))
    cfg = load_config(cfg_path)
    assert cfg.device.slots == 100_000

    async def main() -> None:
        d = Daemon(cfg)
        await d.start(connect_timeout=5)
        try:
            assert d.agent.config.slot_limit == 100_000
            static = len(d.translator.static_entries())
            await until(lambda: len(backend.entries) >= static)
            d.agent._next_slot = 99_998  # as if 99,997 slots had been handed out
            for sport in range(42000, 42003):
                backend.inject(syn_frame(sport), SYN_IN)
            await until(lambda: len(backend.packet_outs) >= 3)
            assert sorted(e.slot for e in d.shadow.values()) == sorted(2 * [99_998, 99_999, 1])
            written = {_slot(d, te) for te in backend.entries.values() if te.table_id in _ids(d)}
            assert written == {99_998, 99_999, 1}  # as the device holds them
            assert d.counters.handler_errors == 0
        finally:
            await d.stop()
            srv.stop()

    asyncio.run(main())


def _ids(d: Daemon) -> set[int]:
    return {d.p4info.table(t.value).id for t in (pl.Tbl.OUT_SESSION, pl.Tbl.IN_SESSION)}


def _slot(d: Daemon, te: Any) -> int:
    """The ``slot`` parameter of a session table entry as written."""
    a = te.action.action
    pid = d.p4info.action_by_id[a.action_id].params["slot"][0]
    return int.from_bytes(next(p.value for p in a.params if p.param_id == pid), "big")


def test_slot_capacity_from_the_p4info_or_the_configuration() -> None:
    from controller.p4rt.p4info import P4InfoIndex, slot_capacity
    from tests.controller_support import contract_p4info

    index = P4InfoIndex(contract_p4info())
    assert slot_capacity(index) == pl.NUM_SLOTS == 65536  # bmv2's register cells
    assert slot_capacity(index, 1_000_001) == 1_000_001
    assert slot_capacity(index, 1 << 30) == pl.SLOT_SPACE == 1 << 24


def test_device_slots_out_of_range_is_one_clear_error(tmp_path: Path) -> None:
    from dysco_proto.policy import ConfigError

    _backend, srv, cfg_path = one_box_device(tmp_path)
    srv.stop()
    text = cfg_path.read_text()
    cfg_path.write_text(text.replace("  p4info:", "  slots: 16777217\n  p4info:", 1))
    try:
        load_config(cfg_path)
    except ConfigError as e:
        assert "device.slots" in str(e) and len(str(e).splitlines()) == 1
    else:
        raise AssertionError("slots beyond 2**24 accepted")
