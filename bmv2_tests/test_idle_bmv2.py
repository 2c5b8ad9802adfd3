"""Idle times of session entries on bmv2, read the way the daemon ages entries.

bmv2 (PI) reports an entry's ``time_since_last_hit`` only when the read asks for it, tracks it
only for an entry with a TTL, and reports at most that TTL. The controller once read without
asking, fell back to the time since the entry's last packet-in, and so removed an old path's
retired entry 24 ms after its fold while data still crossed it (the session died on a RST).
Here: an entry hit by traffic reads as recently hit across more than one TTL, an entry no
packet hits reads as idle for the whole TTL, and the daemon's integration carries that past
the TTL. Skips with one line when bmv2 or p4c is missing.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from pathlib import Path

import pytest

from bmv2_tests.harness import P4INFO, missing_tools

_MISSING = missing_tools()
if _MISSING is not None:
    pytest.skip(_MISSING, allow_module_level=True)

from bmv2_tests.harness import Bmv2  # noqa: E402
from controller.config import load_config  # noqa: E402
from controller.device_sync import DeviceSync  # noqa: E402
from controller.p4rt.client import P4RuntimeClient  # noqa: E402
from controller.p4rt.gen.p4.v1 import p4runtime_pb2 as p4r  # noqa: E402
from controller.p4rt.p4info import load_p4info  # noqa: E402
from controller.translate import IDLE_TTL_NS, Translator  # noqa: E402
from dysco_pipeline import pipeline as pl  # noqa: E402
from dysco_proto.entries import EntryKey  # noqa: E402
from tests.controller_support import daemon_yaml  # noqa: E402
from tests.vectors import corpus  # noqa: E402

TTL_S = IDLE_TTL_NS / 1e9


async def _idle_times(client: P4RuntimeClient, tr: Translator) -> dict[EntryKey, float]:
    out: dict[EntryKey, float] = {}
    async for te in client.read_table_entries(tr.tables[pl.Tbl.IN_SESSION][0], True):
        got = tr.entry_from_p4(te)
        assert got is not None and got[1] is not None, "bmv2 reported no idle time"
        out[got[0].key] = got[1]
    return out


@pytest.mark.timeout(120)
def test_entry_hit_by_traffic_is_not_idle_on_bmv2(tmp_path: Path) -> None:
    case = next(c for c in corpus.load() if c.name == "in_rewrite_basic")
    entries = list(corpus.table_entries(case))
    session = next(e for e in entries if e.table is pl.Tbl.IN_SESSION)
    _agent, hit = pl.entry_from_table(session)
    m = hit.key.match
    quiet = dataclasses.replace(
        hit, key=dataclasses.replace(hit.key, match=dataclasses.replace(m, src_port=m.src_port + 1))
    )
    step = case.steps[0]
    sw = Bmv2()
    try:
        sw.p4rt.insert_entries([e for e in entries if e is not session])
        cfg = daemon_yaml(tmp_path, "sw", sw.address, P4INFO, (m.dst_ip, 1), 0, [])
        p4info = load_p4info(P4INFO)
        tr = Translator(p4info, load_config(cfg))
        # the session entries as the daemon writes them (with their TTL)
        sw.p4rt.write([tr.entry_update(p4r.Update.INSERT, e) for e in (hit, quiet)])

        async def main() -> None:
            client = P4RuntimeClient(sw.address, 0, 2, p4info, push_pipeline="never")
            await client.start()
            try:
                end = time.monotonic() + TTL_S + 1.5  # longer than the TTL
                while time.monotonic() < end:
                    sw.ports.send(step.ingress_port, step.packet)
                    await asyncio.sleep(0.25)
                idle = await _idle_times(client, tr)
                assert idle[hit.key] < 1.0, idle  # hit 0.25 s ago, not "since the insert"
                assert idle[quiet.key] >= TTL_S - 0.01, idle  # never hit: the whole TTL
                sync = DeviceSync.__new__(DeviceSync)
                sync._capped_since = {}
                t0 = time.monotonic()
                assert sync._integrate(idle, t0)[quiet.key] >= TTL_S - 0.01
                await asyncio.sleep(1.0)
                later = sync._integrate(await _idle_times(client, tr), time.monotonic())
                assert later[quiet.key] >= TTL_S + 0.9, later  # counted on past the TTL
                assert later[hit.key] < TTL_S, later
            finally:
                await client.close()

        asyncio.run(main())
    finally:
        sw.close()
