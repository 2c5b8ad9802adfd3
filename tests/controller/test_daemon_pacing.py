"""The one pacing loop behind the daemon's idle scan and reconciler (``Daemon._paced``): a
round runs only while the device is connected, the next one waits ``timers.<period>`` or
``IDLE_SCAN_COST_FACTOR`` times the last round's duration, whichever is longer, and a failed
round is logged in one line and retried. Sleeps and the clock are the test's own."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from types import SimpleNamespace

import pytest

import controller.daemon as dmod
from controller.config import load_config
from controller.daemon import Daemon
from tests.controller_support import daemon_yaml, write_p4info


class _Stop(Exception):
    pass


def test_paced_rounds_follow_their_cost_skip_while_disconnected_and_survive_failures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    p4info = write_p4info(tmp_path / "dysco.p4info.txtpb")
    cfg = daemon_yaml(tmp_path, "sw1", "127.0.0.1:9", p4info, ("10.0.0.1", 1), 0, [])
    d = Daemon(load_config(cfg), management=False)
    period = d.config.timers["idle_scan"]
    clock = SimpleNamespace(now=100.0)
    device = SimpleNamespace(connected=False)
    sleeps: list[float] = []
    durations = [0.5, 0.03, 0.001]  # the second round fails after 0.03 s
    rounds: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        sleeps.append(seconds)
        device.connected = len(sleeps) > 1  # disconnected during the first wait only
        if len(sleeps) > len(durations) + 1:
            raise _Stop

    async def round_() -> None:
        took = durations[len(rounds)]
        rounds.append(took)
        clock.now += took
        if len(rounds) == 2:
            raise RuntimeError("device gone")

    monkeypatch.setattr(dmod.asyncio, "sleep", fake_sleep)
    monkeypatch.setattr(dmod, "time", SimpleNamespace(monotonic=lambda: clock.now))
    monkeypatch.setattr(d, "client", device)
    caplog.set_level(logging.INFO, logger="controller.daemon")
    with pytest.raises(_Stop):
        asyncio.run(d._paced("idle_scan", round_, "idle read", logging.INFO))
    factor = dmod.IDLE_SCAN_COST_FACTOR
    assert rounds == durations  # none while disconnected, the failed one did not end it
    assert sleeps == pytest.approx(
        [period, period, max(period, factor * 0.5), max(period, factor * 0.03), period]
    )
    failed = [r.getMessage() for r in caplog.records if "failed" in r.getMessage()]
    assert failed == ["idle read failed: device gone"]
    d.store.close()
