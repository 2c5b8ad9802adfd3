"""The device against the daemon's shadow: read back, repaired, its idle entries found.

The daemon keeps a shadow of every session entry it installed (``Daemon.shadow``) and the
entries it found on the device but did not install (``Daemon.foreign``: a previous
instance's, kept running until idle). :class:`DeviceSync` reads the device's table back and
makes it hold exactly that: after every (re)connection (:meth:`~DeviceSync.on_connected`),
after a restart from the state store (:meth:`~DeviceSync.reconcile_restored`), periodically
(:meth:`~DeviceSync.check`), and it reports idle entries to the agent
(:meth:`~DeviceSync.idle_round`). ``docs/controller.md`` (Reconciliation) describes the rules.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import TYPE_CHECKING

from controller.p4rt.gen.p4.v1 import p4runtime_pb2 as p4r
from controller.translate import IDLE_TTL_NS
from dysco_pipeline import pipeline as pl
from dysco_proto.entries import EntryKey, MappingEntry
from dysco_proto.events import EntryIdle

if TYPE_CHECKING:
    from controller.daemon import Daemon

log = logging.getLogger(__name__)

WRITES_WAIT = 30.0
"""Seconds a device check waits for the writes queued before it (then it reads anyway)."""


class DeviceSync:
    """Reconciliation of one :class:`~controller.daemon.Daemon`'s device with its shadow."""

    def __init__(self, daemon: Daemon, agent_id: int) -> None:
        self.d = daemon
        self.agent_id = agent_id  # writes are keyed (agent id, entry key), as the daemon's
        self._capped_since: dict[EntryKey, float] = {}  # entries idle for the whole TTL
        self._warned_no_idle = False

    async def read_entries(self) -> dict[EntryKey, MappingEntry]:
        """The session entries the device holds, by key."""
        d = self.d
        device: dict[EntryKey, MappingEntry] = {}
        async for te in d.client.read_table_entries(0):
            got = d.translator.entry_from_p4(te)
            if got is not None:
                device[got[0].key] = got[0]
        return device

    def _reinstall(self, entry: MappingEntry, have: MappingEntry | None) -> bool:
        """Queue the write that makes the device hold ``entry`` where it holds ``have``
        (nothing: insert; something else: modify); False if it holds it already."""
        d = self.d
        if have is not None and (have == entry or d.translator.same(have, entry)):
            return False
        kind = p4r.Update.INSERT if have is None else p4r.Update.MODIFY
        d.writer.write(d.translator.entry_update(kind, entry), (self.agent_id, entry.key))
        return True

    def _delete(self, key: EntryKey) -> None:
        self.d.writer.write(self.d.translator.delete_update(key), (self.agent_id, key))

    async def on_connected(self, first: bool) -> None:
        """After every (re)connection: make the device hold exactly what we installed.

        First connection (controller start): entries already on the device belong to sessions
        of a previous controller instance; they are the restored agent's (after a restart from
        the state store), else kept running as *foreign* entries (traffic keeps flowing) and
        removed when idle. Later connections (device or channel restarted): entries we
        installed but the device lost are re-installed, entries we did not install removed.
        """
        d = self.d
        await self.install_static()
        d._static_queued = True
        device = await self.read_entries()
        if first:
            if d._restored_actions is not None:
                self.reconcile_restored(device)
                return
            for e in device.values():
                d.foreign[e.key] = e
            self.reserve_foreign()
            return
        for key, entry in d.shadow.items():
            if self._reinstall(entry, device.get(key)):
                d.counters.reconciled_added += 1
        for key in device:
            if key not in d.shadow and key not in d.foreign:
                d.counters.reconciled_removed += 1
                self._delete(key)

    async def check(self) -> int:
        """Read every entry back; reinstall the static entries and the session entries the
        device lost or holds differently, delete session entries nobody installed. Returns the
        number of repairs queued; ``in_sync`` is true once a read-back needed none."""
        d = self.d
        static = d.translator.static_entries()
        have_static: list[pl.TableEntry] = []
        device: dict[EntryKey, MappingEntry] = {}
        known = dict(d.shadow)  # installed when the read began (later ones: in flight)
        # ... and on the device before it begins: an entry whose Write is still in flight
        # when the read passes its table would look missing and be written twice
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(d.writer.written(), WRITES_WAIT)
        async for te in d.client.read_table_entries(0):
            got = d.translator.entry_from_p4(te)
            if got is not None:
                device[got[0].key] = got[0]
                continue
            ce = d.translator.contract_entry(te)
            if ce is not None and ce in static:
                have_static.append(ce)
        repairs = 0
        if any(e not in have_static for e in static):
            repairs += len(static)
            await self.install_static()
        for n, (key, entry) in enumerate(known.items(), 1):
            if n % 4096 == 0:
                await asyncio.sleep(0)  # a large table: let packet-ins through meanwhile
            if d.shadow.get(key) is not entry:
                continue  # changed or removed since the read began: its own write is queued
            repairs += self._reinstall(entry, device.get(key))
        for key in device:
            if key not in known and key not in d.shadow and key not in d.foreign:
                repairs += 1
                self._delete(key)
        if repairs:
            d.counters.reconciled_added += repairs
            log.warning(
                "device %s: %d entries missing or different, repaired",
                d.config.device.name,
                repairs,
            )
        d.in_sync = repairs == 0 and d.client.connected
        return repairs

    def reconcile_restored(self, device: dict[EntryKey, MappingEntry]) -> None:
        """First connection after a restore: checkpointed entries missing or different on the
        device are reinstalled, entries the checkpoint does not know are foreign (kept until
        idle, their ports and slots reserved), then the restore actions run (timers, reverts
        of dropped reconfigurations)."""
        d = self.d
        for key, entry in d._restored_entries.items():
            d.shadow[key] = entry
            d.last_hit[key] = time.monotonic()
            if self._reinstall(entry, device.get(key)):
                d.counters.reconciled_added += 1
            else:
                d.counters.reconciled_adopted += 1
        for key, e in device.items():
            if key not in d._restored_entries:
                d.foreign[key] = e
        self.reserve_foreign()
        actions, d._restored_actions = d._restored_actions or [], None
        d._restored_entries = {}
        d.persist(actions)
        d.execute(actions)

    def reserve_foreign(self) -> None:
        """Keep the new agent from reusing the ports and slots of foreign entries."""
        d = self.d
        top_slot = 0
        for e in d.foreign.values():
            top_slot = max(top_slot, e.slot)
            m = e.key.match
            if m.dst_ip in d.agent.addresses:
                d.agent.ports.reserve(m.dst_ip, m.src_ip, m.dst_port)
        # No public API for the slot counter yet (proposed: Agent.adopt); avoid slot reuse.
        if top_slot >= getattr(d.agent, "_next_slot", 0):
            limit = d.agent.config.slot_limit or pl.SLOT_SPACE
            d.agent._next_slot = top_slot + 1 if top_slot + 1 < limit else 1
        d.persist([])

    async def install_static(self) -> None:
        """Install the device-wide entries the pipeline needs (e.g. local addresses)."""
        for key, update in self.d.translator.static_updates():
            self.d.writer.write(update, key)

    # -- idle entries -------------------------------------------------------------------------

    async def idle_round(self, rows: list[p4r.TableEntry] | None = None) -> None:
        """Report entries unused for ``idle_timeout`` (old paths' retired entries:
        ``retired_timeout``) to the agent, and drop foreign ones unused for ``idle_timeout``.

        Idleness comes only from the device: the idle time it reports for an entry, bounded
        by the last packet-in that matched it (a punt proves a hit). An entry the device
        reports no idle time for is never aged: a packet-in alone says nothing about the hits
        between punts, and ageing by it removed live entries (an old path retired 24 ms
        before, whose last punt was its SYN)."""
        d = self.d
        timeout = d.config.timers["idle_timeout"]
        retired_timeout = d.config.timers["retired_timeout"]
        reported = await self.device_idle_times(rows)
        now = time.monotonic()
        idle_dev = self._integrate(reported, now)
        for key in list(d.shadow):
            dev_idle = idle_dev.get(key)
            if dev_idle is None:
                continue
            idle = min(dev_idle, now - d.last_hit[key]) if key in d.last_hit else dev_idle
            limit = retired_timeout if d.agent.is_retired(key) else timeout
            if idle >= limit:
                d.counters.idle_reports += 1
                d.last_hit[key] = now  # report at most once per timeout
                d.dispatch(EntryIdle(key))
        for key in list(d.foreign):
            dev_idle = idle_dev.get(key)
            if dev_idle is not None and dev_idle >= timeout:
                self.remove_foreign(key)

    def _integrate(self, reported: dict[EntryKey, float], now: float) -> dict[EntryKey, float]:
        """Idle times past the entries' TTL: a device that reports at most the TTL
        (bmv2) says only "at least the TTL", so count on from when it first said so."""
        cap = IDLE_TTL_NS / 1e9 - 0.01
        since = self._capped_since
        out: dict[EntryKey, float] = {}
        for key, idle in reported.items():
            if idle >= cap:
                out[key] = max(idle, cap + now - since.setdefault(key, now))
            else:
                since.pop(key, None)
                out[key] = idle
        for key in [k for k in since if k not in reported]:
            del since[key]
        return out

    async def session_rows(self) -> list[p4r.TableEntry]:
        """Both session tables as the device holds them, with their idle times (one read
        serves every agent of a device: :meth:`idle_round`'s ``rows``)."""
        d = self.d
        rows: list[p4r.TableEntry] = []
        for tbl in (pl.Tbl.OUT_SESSION, pl.Tbl.IN_SESSION):
            rows.extend(
                [te async for te in d.client.read_table_entries(d.translator.tables[tbl][0], True)]
            )
        return rows

    async def device_idle_times(
        self, rows: list[p4r.TableEntry] | None = None
    ) -> dict[EntryKey, float]:
        """The idle time of each of this agent's session entries, as far as the device
        reports it (empty when it reports none: then nothing ages, and the daemon says so
        once); from ``rows`` when the caller read them already."""
        d = self.d
        out: dict[EntryKey, float] = {}
        for te in rows if rows is not None else await self.session_rows():
            got = d.translator.entry_from_p4(te)
            if got is not None and got[1] is not None:
                out[got[0].key] = got[1]
        if d.shadow and not out and not self._warned_no_idle:
            self._warned_no_idle = True
            log.warning(
                "device %s reports no idle times for its session entries: they will not age "
                "out (idle_timeout, retired_timeout)",
                d.config.device.name,
            )
        return out

    def remove_foreign(self, key: EntryKey) -> None:
        """Delete a foreign entry from the device (it went idle)."""
        if self.d.foreign.pop(key, None) is not None:
            self.d.counters.orphans_removed += 1
            self._delete(key)


__all__ = ["DeviceSync"]
