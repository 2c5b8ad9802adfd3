"""``OrderedWriter.pending`` counts a Write still in flight: `status.ready` and the benches
wait on it before sending traffic, and a batch taken off the queue is not yet on the device."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any, cast

from controller.p4rt.gen.p4.v1 import p4runtime_pb2 as p4r
from controller.writer import OrderedWriter


class _SlowClient:
    """A client whose Write completes only when the test says so."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.started = asyncio.Event()
        self.written: list[int] = []

    async def write(self, updates: Sequence[p4r.Update]) -> None:
        self.started.set()
        await self.release.wait()
        self.written.append(len(updates))


def test_pending_counts_the_write_in_flight() -> None:
    async def main() -> None:
        client = _SlowClient()
        writer = OrderedWriter(cast(Any, client), max_batch=10)
        writer.start()
        try:
            for i in range(3):
                writer.write(p4r.Update(type=p4r.Update.INSERT), ("k", i))
            assert writer.pending == 3
            await asyncio.wait_for(client.started.wait(), 5)
            # the batch left the queue and its Write is outstanding: still pending
            assert writer.pending == 3 and client.written == []
            client.release.set()
            await writer.drain(5)
            assert writer.pending == 0 and client.written == [3]
        finally:
            await writer.close()

    asyncio.run(main())
