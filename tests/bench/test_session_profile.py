"""The session profile's CPU accounting and floor bound (dysco_bench.session_profile)."""

from __future__ import annotations

import time
from typing import Any

import pytest

from dysco_bench.session_profile import CpuParts, floor_bound


def _spin(seconds: float) -> None:
    end = time.thread_time() + seconds
    while time.thread_time() < end:
        pass


class _Steps:
    def inner(self) -> None:
        _spin(0.02)

    def outer(self) -> None:
        _spin(0.03)
        self.inner()

    def failing(self) -> None:
        _spin(0.01)
        raise ValueError("boom")


def test_parts_are_exclusive_of_the_wrapped_calls_inside() -> None:
    steps = _Steps()
    cp = CpuParts()
    cp.wrap(steps, "inner", "inner")
    cp.wrap(steps, "outer", "outer")
    t0 = time.thread_time()
    steps.outer()
    steps.inner()
    spent = time.thread_time() - t0
    parts = cp.snapshot()
    assert 0.029 <= parts["outer"] < 0.045  # its own 30 ms, not the 20 ms of inner
    assert 0.039 <= parts["inner"] < 0.06  # two calls, one nested
    assert sum(parts.values()) <= spent + 1e-6


def test_a_part_that_raises_is_still_counted_and_the_stack_unwinds() -> None:
    steps = _Steps()
    cp = CpuParts()
    cp.wrap(steps, "failing", "failing")
    cp.wrap(steps, "inner", "inner")
    with pytest.raises(ValueError):
        steps.failing()
    steps.inner()
    parts = cp.snapshot()
    assert parts["failing"] >= 0.009 and parts["inner"] >= 0.019
    assert cp._stack == []


def test_floor_bound_is_the_rate_that_fills_every_core() -> None:
    grpc: dict[str, Any] = {"client_us": 70.0, "server_us": 65.0}
    # 125 + 70 + 65 + 40 = 300 us per session: 2 cores make 6,667 sessions/s
    assert floor_bound(125.0, grpc, 40.0, 2) == 6667
    assert floor_bound(0.0, {"client_us": 0.0, "server_us": 0.0}, 0.0, 2) == 0
