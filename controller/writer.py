"""Ordered, micro-batched execution of entry writes and the sends that depend on them.

The agent's ordering contract (``dysco_proto.actions``): an entry write is complete before any
later packet-out. Many sessions set up concurrently, so writes are *micro-batched*: every
update emitted while a Write RPC is in flight joins the next batch, and one RPC carries the
entries of many set-ups. Rules:

- one Write RPC in flight at a time; batches complete in order;
- a batch is closed when it reaches ``max_batch`` updates, when an update touches a key already
  in it (P4Runtime applies the updates of one request in any order), or when an update follows
  a send of the same action list that waits for that batch;
- a send (packet-out, probe, control message) waits until every write emitted before it has
  completed; sends leave in emission order.

Per-update errors are repaired where the intent is unambiguous (INSERT that finds the entry:
MODIFY; MODIFY/DELETE that does not find it: INSERT / nothing) and counted otherwise.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field

from controller.p4rt.client import DeviceUnavailable, P4RuntimeClient, WriteError
from controller.p4rt.gen.p4.v1 import p4runtime_pb2 as p4r

log = logging.getLogger(__name__)


@dataclass
class WriterStats:
    """Counters of the writer."""

    updates: int = 0
    batches: int = 0
    max_batch_seen: int = 0
    errors: int = 0
    repaired: int = 0
    retries_unavailable: int = 0
    sends: int = 0
    deferred_sends: int = 0
    error_codes: dict[str, int] = field(default_factory=dict)


@dataclass
class _Batch:
    seq: int
    updates: list[p4r.Update | bytes] = field(default_factory=list)
    keys: set[Hashable] = field(default_factory=set)
    done: asyncio.Future[None] | None = None


class OrderedWriter:
    """Micro-batching writer over a :class:`P4RuntimeClient`."""

    def __init__(
        self,
        client: P4RuntimeClient,
        max_batch: int = 1000,
        on_error: Callable[[str, p4r.Update], None] | None = None,
    ) -> None:
        self.client = client
        self.max_batch = max_batch
        self.on_error = on_error
        self.stats = WriterStats()
        self._next_seq = 1
        self._open: _Batch | None = None
        self._closed: deque[_Batch] = deque()
        self._inflight: _Batch | None = None  # taken off the queues, its Write not yet done
        self._done_seq = 0
        self._last_write_seq = 0  # the batch holding the most recent write
        self._waiting: deque[tuple[int, Callable[[], None]]] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._scope = 0  # current action list
        self._scope_barrier: tuple[int, int] | None = None  # (scope, batch seq)
        self._idle = asyncio.Event()
        self._idle.set()
        self._watchers: deque[tuple[int, asyncio.Future[None]]] = deque()

    def start(self) -> None:
        """Start the background writer task."""
        self._task = asyncio.create_task(self._run(), name="p4rt-writer")

    async def close(self) -> None:
        """Stop the writer task (pending writes are dropped)."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None

    def begin_scope(self) -> None:
        """Mark the start of one action list (the agent's answer to one event)."""
        self._scope += 1

    # -- submission -------------------------------------------------------------------------

    def write(self, update: p4r.Update | bytes, key: Hashable) -> None:
        """Queue one update (a message, or its serialization: passed on unparsed); ``key``
        identifies the entry (for conflict detection)."""
        b = self._open
        if (
            b is None
            or len(b.updates) >= self.max_batch
            or key in b.keys
            or (self._scope_barrier is not None and self._scope_barrier == (self._scope, b.seq))
        ):
            if b is not None and b.updates:
                self._closed.append(b)
            b = self._open = _Batch(self._next_seq)
            self._next_seq += 1
        b.updates.append(update)
        b.keys.add(key)
        self._last_write_seq = b.seq
        self.stats.updates += 1
        self._idle.clear()
        self._wake.set()

    def send(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` (a send) once every write queued so far has completed, in order."""
        need = self._last_write_seq
        if need <= self._done_seq and not self._waiting:
            self.stats.sends += 1
            fn()
            return
        self.stats.deferred_sends += 1
        self._waiting.append((need, fn))
        if self._open is not None and self._open.seq == need:
            self._scope_barrier = (self._scope, need)

    async def written(self) -> None:
        """Wait until every write queued so far has completed (later ones are not waited for;
        nothing is sent). A device read-back started after it sees those writes applied."""
        need = self._last_write_seq
        if need <= self._done_seq:
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._watchers.append((need, fut))
        await fut

    @property
    def pending(self) -> int:
        """Updates not yet completed (queued, or in a Write still in flight)."""
        n = sum(len(b.updates) for b in self._closed)
        n += len(self._inflight.updates) if self._inflight is not None else 0
        return n + (len(self._open.updates) if self._open else 0)

    async def drain(self, timeout: float = 10.0) -> None:
        """Wait until every queued write and deferred send is done."""
        await asyncio.wait_for(self._idle.wait(), timeout)

    # -- the task -----------------------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            while True:
                if self._closed:
                    batch = self._closed.popleft()
                elif self._open is not None and self._open.updates:
                    batch = self._open
                    self._open = None
                else:
                    break
                self._inflight = batch
                try:
                    await self._execute(batch)
                finally:
                    self._inflight = None
                self._done_seq = batch.seq
                self._release()
            self._release()
            empty = self._open is None or not self._open.updates
            if not self._closed and empty and not self._waiting:
                self._idle.set()

    def _release(self) -> None:
        while self._watchers and self._watchers[0][0] <= self._done_seq:
            _, fut = self._watchers.popleft()
            if not fut.done():
                fut.set_result(None)
        while self._waiting and self._waiting[0][0] <= self._done_seq:
            _, fn = self._waiting.popleft()
            self.stats.sends += 1
            try:
                fn()
            except Exception:
                log.exception("deferred send failed")

    async def _execute(self, batch: _Batch) -> None:
        updates = batch.updates
        self.stats.batches += 1
        self.stats.max_batch_seen = max(self.stats.max_batch_seen, len(updates))
        attempt = 0
        while updates:
            try:
                await self.client.write(updates)
                return
            except DeviceUnavailable as e:
                attempt += 1
                self.stats.retries_unavailable += 1
                log.warning(
                    "write of %d updates: device unavailable (%s); retrying", len(updates), e
                )
                with contextlib.suppress(DeviceUnavailable):
                    await self.client.wait_connected(timeout=5.0)
                await asyncio.sleep(min(1.0, 0.05 * attempt))
            except WriteError as e:
                updates = self._repair(updates, e)
                attempt += 1
                if attempt > 2:
                    for u in updates:
                        self._count("GAVE_UP", u)
                    return

    def _repair(
        self, updates: list[p4r.Update | bytes], err: WriteError
    ) -> list[p4r.Update | bytes]:
        retry: list[p4r.Update | bytes] = []
        for raw, ue in zip(updates, err.errors, strict=False):
            if ue is None:
                continue
            u = p4r.Update.FromString(raw) if isinstance(raw, bytes) else raw
            code = ue.code
            if code == "ALREADY_EXISTS" and u.type == p4r.Update.INSERT:
                retry.append(p4r.Update(type=p4r.Update.MODIFY, entity=u.entity))
                self.stats.repaired += 1
            elif code == "NOT_FOUND" and u.type == p4r.Update.MODIFY:
                retry.append(p4r.Update(type=p4r.Update.INSERT, entity=u.entity))
                self.stats.repaired += 1
            elif code == "NOT_FOUND" and u.type == p4r.Update.DELETE:
                self.stats.repaired += 1
            else:
                self._count(code, u, ue.message)
        return retry

    def _count(self, code: str, update: p4r.Update | bytes, message: str = "") -> None:
        self.stats.errors += 1
        self.stats.error_codes[code] = self.stats.error_codes.get(code, 0) + 1
        log.warning("write failed: %s %s", code, message)
        if self.on_error is not None:
            u = p4r.Update.FromString(update) if isinstance(update, bytes) else update
            self.on_error(code, u)
