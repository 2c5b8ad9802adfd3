"""The daemon's state stores, one per agent (restart and persistence, ``docs/controller.md``):
what each event changed noted per agent, committed before anything leaves the process, and
every agent restored from its own store at start. A mixin of :class:`controller.daemon.Daemon`.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from typing import TYPE_CHECKING, Any

from controller.agents import AgentUnit, HostAgent, SlotPool
from controller.store import StoreError
from dysco_proto.actions import (
    Action,
    InstallEntry,
    ModifyEntry,
    Probe,
    RemoveEntry,
    SendControl,
    SendPacket,
)
from dysco_proto.checkpoint import CheckpointError, Tracker

if TYPE_CHECKING:
    from controller.config import Config
    from controller.metrics import Metrics

log = logging.getLogger("controller.daemon")

__all__ = ["AgentStores"]

#: actions that make the daemon flush the store before they leave the process (a Write RPC,
#: a packet-out, a control message)
_LEAVING = (InstallEntry, ModifyEntry, RemoveEntry, SendPacket, Probe, SendControl)


class AgentStores:
    """Persistence of a daemon's agents (each :class:`AgentUnit` has its store and saver)."""

    config: Config
    metrics: Metrics
    counters: Any
    units: dict[int, AgentUnit]
    slots: SlotPool
    _noted: int
    _committed: int
    _flush_soon: asyncio.Handle | None = None

    @property
    def first(self) -> AgentUnit:  # the Agents mixin's
        raise NotImplementedError

    def _new_agent(self, agent_id: int, addresses: tuple[str, ...]) -> tuple[HostAgent, Tracker]:
        raise NotImplementedError

    def persist(self, actions: list[Action], unit: AgentUnit | None = None) -> None:
        """Note what the last event of an agent (default: the first) changed
        (:meth:`Checkpointer.note`); :meth:`flush_store` commits it. Called before the
        event's actions are executed; the store is flushed before anything leaves the process
        (a Write RPC, a packet-out, a control message, a management reply), so nothing on the
        device or told to a peer or operator is unknown to a restarted daemon, and one
        transaction per agent covers every event since the last one."""
        u = unit or self.first
        u.saver.note(u.agent, u.tracker, actions)
        self._noted += 1
        if u.saver.changed and not any(isinstance(a, _LEAVING) for a in actions):
            self._commit_soon()

    def _commit_soon(self) -> None:
        """Commit an event that changed durable state but sends nothing once the current
        burst of events is handled (``loop.call_soon``). Nothing of it leaves the process, so
        no flush would come otherwise: the SYN-ACK mirror records what the host received in
        the handshake (the peer's ISN, timestamp, window scale), the device has forwarded the
        SYN-ACK already, and a daemon killed before its next send restored the side without
        them (its next new-path handshake then lacked the window scale: a stateful box on the
        new path called the session's data INVALID)."""
        if self._flush_soon is not None:
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no event loop: commit now
            self.flush_store()
            return
        self._flush_soon = loop.call_soon(self._flush_soon_run)

    def _flush_soon_run(self) -> None:
        self._flush_soon = None
        self.flush_store()

    def _flush_for(self, need: int) -> None:
        """Commit unless the notes up to ``need`` are already committed."""
        if need > self._committed:
            self.flush_store()

    def flush_store(self) -> None:
        """Commit everything noted by :meth:`persist` since the last flush (one SQLite
        transaction per agent with changes; ``controller/store.py``). Its cost follows the
        number of sessions and entries changed since then, never the total. A store that
        cannot be written is logged once (until it works again) and retried at the next
        flush."""
        ok = True
        for u in self.units.values():
            if not u.saver.unsaved:
                continue
            try:
                u.saver.commit(u.agent, u.tracker)
            except (sqlite3.Error, StoreError) as e:
                self.metrics.errors.labels(self.config.device.name, "checkpoint").inc()
                if not u.store_failed:
                    log.warning("cannot write the state store %s: %s", u.checkpoint_path, e)
                u.store_failed = True
                ok = False
                continue
            u.store_failed = False
            self.counters.checkpoints += 1
        if ok:
            self._committed = self._noted

    def _store_label(self, u: AgentUnit) -> str:
        """What a store records as its owner: the device and, with per-host agents, the
        agent id and its addresses (a store of another agent is not restored)."""
        if not self.config.per_host:
            return self.config.device.name
        return f"{self.config.device.name} {u.label}"

    def _load_checkpoint(self) -> None:
        """Restore the previous instance's agents, each from its own state store (before
        connecting).

        An unusable store (not a regular file, not a database, malformed or out-of-range
        content, another device's or agent's) is moved aside with one log line and that
        agent starts clean: the device's entries are then kept as foreign ones (traffic keeps
        flowing)."""
        for u in self.units.values():
            self._load_unit(u)
        self.counters.restored_sessions = sum(len(u.agent.records) for u in self.units.values())

    def _load_unit(self, u: AgentUnit) -> None:
        path = u.checkpoint_path
        try:
            restored = u.saver.load(u.agent, self._store_label(u))
        except (StoreError, CheckpointError, ValueError) as e:
            bad = u.store.move_aside()
            log.warning(
                "ignoring state store %s (%s); moved to %s, starting clean from the device",
                path,
                e,
                bad.name,
            )
            self.slots.agents.remove(u.agent)
            u.agent, u.tracker = self._new_agent(u.agent_id, u.addresses)
            u.saver.forget_replay()
            try:
                u.store.open()
                u.store.reset(self._store_label(u))
            except (StoreError, sqlite3.Error) as e2:
                log.warning("cannot create the state store %s: %s", path, e2)
            return
        if restored is None:
            return
        u.tracker.take()
        u.restored_actions, u.restored_entries = restored
        log.info("%s: restored %d sessions from %s", u.label, len(u.agent.records), path)
