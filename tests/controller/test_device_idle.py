"""How the daemon ages session entries: only by the idle times the device reports.

- :meth:`DeviceSync._integrate` counts on past the entries' TTL for a device that reports at
  most the TTL (bmv2; ``bmv2_tests/test_idle_bmv2.py`` reads the real switch), and agrees
  with a device that reports the whole idle time (the DPDK agent);
- a device that reports no idle times gets no entry aged (a packet-in says nothing about
  the hits between punts), and the daemon says so once.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

import pytest

from controller.config import load_config
from controller.daemon import Daemon
from controller.device_sync import DeviceSync
from controller.translate import IDLE_TTL_NS
from dysco_pipeline import pipeline as pl
from dysco_proto.entries import Direction, EntryKey
from dysco_proto.packet import FiveTuple
from tests.controller_support import one_box_device, syn_frame, until

TTL_S = IDLE_TTL_NS / 1e9


def test_integration_counts_past_the_ttl_and_restarts_on_a_hit() -> None:
    sync = DeviceSync.__new__(DeviceSync)  # _integrate uses nothing of the daemon
    sync._capped_since = {}
    k = EntryKey(Direction.IN, FiveTuple("10.0.0.2", 80, "10.0.0.1", 40000))
    assert sync._integrate({k: 1.0}, 100.0) == {k: 1.0}
    assert sync._integrate({k: TTL_S}, 101.0) == {k: TTL_S}  # capped: "at least the TTL"
    assert sync._integrate({k: TTL_S}, 111.0) == {k: pytest.approx(TTL_S - 0.01 + 10.0)}
    assert sync._integrate({k: 14.0}, 111.0) == {k: 14.0}  # a device reporting all of it
    assert sync._integrate({k: 0.2}, 112.0) == {k: 0.2}  # hit again: the device's figure
    assert sync._capped_since == {}
    sync._integrate({k: TTL_S}, 113.0)
    assert sync._integrate({}, 114.0) == {} and sync._capped_since == {}  # entry gone


def test_device_without_idle_times_ages_nothing(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    backend, srv, cfg_path = one_box_device(
        tmp_path, timers="{rto: 0.05, idle_scan: 0.05, idle_timeout: 0.2, retired_timeout: 0.2}"
    )
    backend.reports_idle = False
    cfg = load_config(cfg_path)

    async def main() -> None:
        d = Daemon(cfg)
        await d.start(connect_timeout=5)
        try:
            backend.inject(
                syn_frame(41000), {"reason": int(pl.Reason.SYN), "direction": 1, "ingress_port": 1}
            )
            await until(lambda: len(d.shadow) == 2)
            with caplog.at_level(logging.WARNING, logger="controller.device_sync"):
                await until(lambda: "reports no idle times" in caplog.text)
                rounds = d.counters.idle_reports
                await asyncio.sleep(1.0)  # five times idle_timeout, twenty scans
            assert len(d.shadow) == 2 and d.counters.idle_reports == rounds == 0
            assert caplog.text.count("reports no idle times") == 1
        finally:
            await d.stop()
            srv.stop(0)

    asyncio.run(main())
