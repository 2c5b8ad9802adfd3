"""Device read-back and idle entries per agent, for a daemon with several agents.

:class:`~controller.device_sync.DeviceSync` reconciles a device with one shadow of entries
and reports idle entries to one agent. With per-host agents (``ports.hosts[*].agent_id``)
every agent has its own shadow (an OUT key is unique only together with its agent id), so
the daemon runs one ``DeviceSync`` per agent on an :class:`AgentView`: the daemon as that
agent sees it (its shadow, foreign entries, restored state, its events and actions) with a
:class:`AgentTranslator` that reads back only the agent's entries and writes them with its
agent id. The device-wide entries (port roles, routes, local addresses, the clone session)
are the first agent's to install and check.

Cost: an idle scan reads the session tables once for all agents (``Daemon._idle_rounds``);
a device check still reads them once per agent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from controller.agents import AgentUnit, HostAgent
from controller.p4rt.gen.p4.v1 import p4runtime_pb2 as p4r
from dysco_pipeline import pipeline as pl
from dysco_proto.actions import Action
from dysco_proto.entries import EntryKey, MappingEntry
from dysco_proto.events import Event

if TYPE_CHECKING:
    from controller.daemon import Daemon
    from controller.translate import StaticKey, Translator

__all__ = ["AgentTranslator", "AgentView"]


class AgentTranslator:
    """The daemon's translator bound to one agent: entries written, deleted and compared
    with its agent id, read back only when they are its own; device-wide entries only for
    the first agent. Everything else is the daemon's translator."""

    def __init__(self, tr: Translator, agent_id: int, owns_static: bool) -> None:
        self._tr = tr
        self._agent_id = agent_id
        self._owns_static = owns_static

    def entry_from_p4(self, te: p4r.TableEntry) -> tuple[MappingEntry, float | None] | None:
        got = self._tr.owned_entry_from_p4(te)
        if got is None or got[0] != self._agent_id:
            return None
        return got[1], got[2]

    def entry_update(self, kind: int, e: MappingEntry) -> p4r.Update:
        return self._tr.entry_update(kind, e, self._agent_id)

    def delete_update(self, key: EntryKey) -> p4r.Update:
        return self._tr.delete_update(key, self._agent_id)

    def same(self, a: MappingEntry, b: MappingEntry) -> bool:
        return self._tr.same(a, b, self._agent_id)

    def static_entries(self) -> list[pl.TableEntry]:
        return self._tr.static_entries() if self._owns_static else []

    def static_updates(self) -> list[tuple[StaticKey, p4r.Update]]:
        return list(self._tr.static_updates()) if self._owns_static else []

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tr, name)


class AgentView:
    """The daemon as one of its agents sees it (what ``DeviceSync`` reads and writes)."""

    def __init__(self, daemon: Daemon, unit: AgentUnit) -> None:
        object.__setattr__(self, "_d", daemon)
        object.__setattr__(self, "_u", unit)
        owns = unit is daemon.first
        object.__setattr__(
            self, "translator", AgentTranslator(daemon.translator, unit.agent_id, owns)
        )

    @property
    def agent(self) -> HostAgent:
        return self._u.agent

    @property
    def shadow(self) -> dict[EntryKey, MappingEntry]:
        return self._u.shadow

    @property
    def last_hit(self) -> dict[EntryKey, float]:
        return self._u.last_hit

    @property
    def foreign(self) -> dict[EntryKey, MappingEntry]:
        return self._u.foreign

    @property
    def _restored_entries(self) -> dict[EntryKey, MappingEntry]:
        return self._u.restored_entries

    @property
    def _restored_actions(self) -> list[Action] | None:
        return self._u.restored_actions

    def dispatch(self, event: Event) -> list[Action]:
        return self._d.dispatch(event, self._u)

    def persist(self, actions: list[Action]) -> None:
        self._d.persist(actions, self._u)

    def execute(self, actions: list[Action]) -> None:
        self._d.execute(actions, self._u)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._d, name)

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "_restored_entries":
            self._u.restored_entries = value
        elif name == "_restored_actions":
            self._u.restored_actions = value
        elif name == "in_sync":
            self._u.in_sync = value
        else:
            setattr(self._d, name, value)
