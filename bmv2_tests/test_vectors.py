"""Every pipeline vector (tests/vectors/) on bmv2 through P4Runtime.

For each case: flush the dataplane, insert the case's entries (one batch), send each step's
frame on its port (or as a P4Runtime packet-out), compare the frames that come out of each
port and the packet-ins with the expectations, then delete every entry the case inserted.
Registers are not reset between cases: every case uses its own slots.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bmv2_tests.harness import missing_tools

_MISSING = missing_tools()
if _MISSING is not None:
    pytest.skip(_MISSING, allow_module_level=True)

from bmv2_tests.harness import Bmv2  # noqa: E402
from dysco_pipeline import pipeline as pl  # noqa: E402
from tests.vectors import corpus  # noqa: E402

CASES = corpus.load()


@pytest.fixture(scope="module")
def switch() -> Iterator[Bmv2]:
    sw = Bmv2()
    try:
        yield sw
    finally:
        sw.close()


def _hex(frames: list[tuple[int, bytes]]) -> list[tuple[int, str]]:
    return sorted((p, f.hex()) for p, f in frames)


@pytest.mark.timeout(120)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_vector_on_bmv2(switch: Bmv2, case: corpus.Case) -> None:
    if case.min_slots > pl.NUM_SLOTS:
        pytest.skip(f"bmv2's registers hold {pl.NUM_SLOTS} slots; this case needs {case.min_slots}")
    switch.flush()
    cleanup = switch.p4rt.insert_entries(list(corpus.table_entries(case)))
    try:
        for i, step in enumerate(case.steps):
            if step.packet_out is not None:
                switch.p4rt.packet_out(step.packet_out, step.payload)
            else:
                switch.ports.send(step.ingress_port, step.packet)
            frames, pins = switch.collect(len(step.outputs), len(step.packet_ins))
            where = f"{case.name} step {i} ({step.note})"
            assert _hex(frames) == _hex(step.outputs), f"{where}: frames"
            got = [(p.metadata, p.payload.hex()) for p in pins]
            want = [(m, f.hex()) for m, f in step.packet_ins]
            assert got == want, f"{where}: packet-ins"
    finally:
        switch.p4rt.write(cleanup)


def test_cpu_port_matches_contract() -> None:
    assert pl.CPU_PORT < 511
