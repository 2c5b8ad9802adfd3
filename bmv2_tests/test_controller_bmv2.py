"""The controller against real bmv2 switches: the scenario of
``tests/controller/test_controller_e2e.py``
(a chained session set up by policy, two concurrent reconfigurations from different left
anchors over a lossy peer channel, every byte checked) with each device a
``simple_switch_grpc``. The controllers push the compiled pipeline (``p4src/build/``) and the
clone session themselves over P4Runtime; frames between switches and hosts travel through
bmv2's nanomsg ports. Skips with one line when bmv2 or p4c is missing.
"""

from __future__ import annotations

import asyncio
import queue
import threading
from pathlib import Path

import pytest

from bmv2_tests.harness import BMV2_JSON, P4INFO, Bmv2Process, missing_tools
from tests.controller.test_controller_e2e import chain_scenario
from tests.e2e_support import Device, Net

_MISSING = missing_tools()
pytestmark = pytest.mark.skipif(_MISSING is not None, reason=_MISSING or "")


class _Switch:
    """What :class:`Net` expects of a device's server (``address``, ``stop``) and backend
    (``inject``), over one bmv2 process; a thread hands the switch's output frames to the
    net's wires on the event loop."""

    def __init__(self, on_output: object, loop: asyncio.AbstractEventLoop) -> None:
        self.proc = Bmv2Process()
        self.address = self.proc.address
        self._stop = threading.Event()
        self._loop = loop
        self._on_output = on_output
        self._relay = threading.Thread(target=self._run, name="bmv2-relay", daemon=True)
        self._relay.start()

    def _run(self) -> None:
        rx = self.proc.ports.received
        while not self._stop.is_set():
            try:
                port, frame = rx.get(timeout=0.1)
            except queue.Empty:
                continue
            self._loop.call_soon_threadsafe(self._on_output, port, frame)  # type: ignore[arg-type]

    def inject(self, frame: bytes, port: int) -> None:
        self.proc.ports.send(port, frame)

    def stop(self, grace: float | None = None) -> None:
        self._stop.set()
        self._relay.join(timeout=2)
        self.proc.close()


class Bmv2Net(Net):
    """:class:`Net` with bmv2 switches and the compiled P4Info / bmv2 JSON."""

    def __init__(self, tmp: Path, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(tmp, loop)
        self.p4info = P4INFO

    def start_server(self, d: Device) -> None:
        sw = _Switch(lambda port, frame, d=d: self._output(d, port, frame), self.loop)
        d.server = sw  # type: ignore[assignment]
        d.backend = sw  # type: ignore[assignment]

    def config_text(self, d: Device, policies: str, extra: str = "") -> str:
        text = super().config_text(d, policies, extra)
        return text.replace(
            f"  p4info: {self.p4info}\n",
            f"  p4info: {self.p4info}\n  device_config: {BMV2_JSON}\n  push_pipeline: always\n"
            "  device_id: 0\n",
        )


def test_chain_reconfigured_concurrently_on_bmv2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    asyncio.run(asyncio.wait_for(chain_scenario(lambda loop: Bmv2Net(tmp_path, loop), capsys), 180))
