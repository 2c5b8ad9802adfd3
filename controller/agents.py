"""The daemon's agents: one sans-IO :class:`~dysco_proto.agent.Agent` per host (or one for
all hosts, the single-agent configuration), and the device-wide register slot allocator they
share.

A device has one register file: every live session side holds one slot of it, whichever
agent owns the side. :class:`SlotPool` hands out slots for all the agents of one device, so
no two agents ever hold the same slot, and any agent may use the whole capacity.
:class:`HostAgent` is an :class:`Agent` that takes its slots from the pool.

:class:`AgentUnit` is what the daemon keeps per agent: the agent, its pipeline agent id and
addresses, its shadow of the entries it installed, its state store (one SQLite file per agent,
named after the agent id in the per-host configuration) and what a restart restored.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from controller.checkpointer import Checkpointer
from controller.store import StateStore
from dysco_proto.actions import Action
from dysco_proto.agent import Agent, AgentConfig
from dysco_proto.checkpoint import Tracker
from dysco_proto.entries import EntryKey, MappingEntry
from dysco_proto.events import BoxOffset, ControlIn, Event, RelateProxy, SlotSnapshot
from dysco_proto.packet import FiveTuple

__all__ = ["AgentUnit", "Agents", "HostAgent", "SlotPool", "store_path"]


class SlotPool:
    """Register slots of one device, shared by its agents: ``[base, limit)``, handed out
    round-robin, never one a live side of any agent holds."""

    def __init__(self, base: int, limit: int) -> None:
        self.base = base
        self.limit = limit
        self.cursor = base
        self.agents: list[Agent] = []

    def taken(self, slot: int) -> bool:
        """Whether a live side of any agent holds ``slot``."""
        return any(slot in a.slot_owner for a in self.agents)

    def allocate(self) -> int | None:
        """The next free slot (``None``: every slot is held)."""
        for _ in range(sum(len(a.slot_owner) for a in self.agents) + 1):
            slot = self.cursor
            self.cursor += 1
            if self.cursor >= self.limit:
                self.cursor = self.base
            if not self.taken(slot):
                return slot
        return None

    def owner(self, slot: int) -> Agent | None:
        """The agent whose live side holds ``slot``."""
        for a in self.agents:
            if slot in a.slot_owner:
                return a
        return None


class HostAgent(Agent):
    """An :class:`Agent` whose register slots come from its device's :class:`SlotPool`.

    The agent's own cursor (``_next_slot``, checkpointed with it) follows the pool's; a value
    set from outside (a restored checkpoint, slots of foreign entries skipped) moves the pool's
    cursor there at the next allocation."""

    def __init__(self, config: AgentConfig, pool: SlotPool) -> None:
        super().__init__(config)
        self.pool = pool
        self._pool_seen = self._next_slot
        pool.agents.append(self)

    def _new_slot(self) -> int | None:
        if self._next_slot != self._pool_seen:
            self.pool.cursor = self._next_slot
        slot = self.pool.allocate()
        self._next_slot = self._pool_seen = self.pool.cursor
        return slot


@dataclass
class AgentUnit:
    """One agent of a daemon and what the daemon keeps for it."""

    agent_id: int
    addresses: tuple[str, ...]
    agent: HostAgent
    tracker: Tracker
    store: StateStore
    saver: Checkpointer
    checkpoint_path: Path
    # shadow of what this agent installed: key -> entry, last hit; entries read back from the
    # device that are this agent's (by agent id / address) but not installed by it
    shadow: dict[EntryKey, MappingEntry] = field(default_factory=dict)
    last_hit: dict[EntryKey, float] = field(default_factory=dict)
    foreign: dict[EntryKey, MappingEntry] = field(default_factory=dict)
    restored_actions: list[Action] | None = None
    restored_entries: dict[EntryKey, MappingEntry] = field(default_factory=dict)
    store_failed: bool = False
    in_sync: bool = True  # the device holds this agent's entries (last read-back)

    @property
    def label(self) -> str:
        """How logs and the store name this agent: ``agent <id> (<addresses>)``."""
        return f"agent {self.agent_id} ({', '.join(self.addresses)})"


def store_path(base: Path, agent_id: int, per_host: bool) -> Path:
    """The state store of one agent: ``base`` itself in the single-agent configuration,
    ``<base stem>.agent<id><suffix>`` with per-host agents."""
    if not per_host:
        return base
    return base.with_name(f"{base.stem}.agent{agent_id}{base.suffix}")


class Agents:
    """The daemon's agents (:class:`AgentUnit` by agent id in ``units``, one device-wide
    ``slots`` pool): which agent an address, a session or an event is for, and the first
    agent's state under the names a single-agent daemon always had (``agent``, ``shadow``,
    ``store``, ...). A mixin of :class:`controller.daemon.Daemon`."""

    units: dict[int, AgentUnit]
    slots: SlotPool
    _unit_by_addr: dict[str, AgentUnit]

    @property
    def first(self) -> AgentUnit:
        """The first agent of the configuration."""
        return next(iter(self.units.values()))

    @property
    def agent(self) -> HostAgent:
        """The first agent (the only one of a single-agent configuration)."""
        return self.first.agent

    @property
    def tracker(self) -> Tracker:
        return self.first.tracker

    @property
    def store(self) -> StateStore:
        return self.first.store

    @property
    def saver(self) -> Checkpointer:
        return self.first.saver

    @property
    def checkpoint_path(self) -> Path:
        return self.first.checkpoint_path

    @property
    def shadow(self) -> dict[EntryKey, MappingEntry]:
        """The first agent's shadow (``units`` for every agent's)."""
        return self.first.shadow

    @property
    def last_hit(self) -> dict[EntryKey, float]:
        return self.first.last_hit

    @property
    def foreign(self) -> dict[EntryKey, MappingEntry]:
        return self.first.foreign

    @property
    def _restored_entries(self) -> dict[EntryKey, MappingEntry]:
        """The first agent's restored entries, pending reconciliation (``units``: all)."""
        return self.first.restored_entries

    @_restored_entries.setter
    def _restored_entries(self, value: dict[EntryKey, MappingEntry]) -> None:
        self.first.restored_entries = value

    @property
    def _restored_actions(self) -> list[Action] | None:
        return self.first.restored_actions

    @_restored_actions.setter
    def _restored_actions(self, value: list[Action] | None) -> None:
        self.first.restored_actions = value

    @property
    def in_sync(self) -> bool:
        """The device holds what every agent installed, as far as the last read-back showed
        (false after losing the primary role or finding entries missing, until repaired)."""
        return all(u.in_sync for u in self.units.values())

    @in_sync.setter
    def in_sync(self, value: bool) -> None:
        for u in self.units.values():
            u.in_sync = value

    def unit_for(self, address: str) -> AgentUnit | None:
        """The agent serving local ``address``."""
        return self._unit_by_addr.get(address)

    def unit_for_session(self, session: FiveTuple, right: bool = False) -> AgentUnit | None:
        """The first agent holding a side of ``session`` (with ``right``: a right side,
        i.e. the agent that may anchor a reconfiguration of it)."""
        for u in self.units.values():
            a = u.agent
            if session in a.right_by_stuple or (not right and session in a.left_by_stuple):
                return u
        return None

    def entry_count(self) -> int:
        """Session entries installed by every agent."""
        return sum(len(u.shadow) for u in self.units.values())

    def _lookup_entry(self, key: EntryKey) -> MappingEntry | None:
        """The entry with ``key`` of the first agent, as this controller believes the device
        holds it (per agent: :meth:`_lookup_agent_entry`)."""
        return self._lookup_agent_entry(self.first.agent_id, key)

    def _lookup_agent_entry(self, agent_id: int, key: EntryKey) -> MappingEntry | None:
        u = self.units.get(agent_id)
        if u is None:
            return None
        e = u.shadow.get(key)
        return e if e is not None else u.foreign.get(key)

    def unit_for_event(self, event: Event) -> AgentUnit:
        """The agent an event without a known agent is for: a register report by the owner
        of its slot (or of its probe token), a control message by its destination, a proxy
        relation or box offset by the local host's session; else the first agent."""
        if len(self.units) == 1:
            return self.first
        u: AgentUnit | None = None
        if isinstance(event, SlotSnapshot):
            owner = self.slots.owner(event.slot)
            u = next((x for x in self.units.values() if x.agent is owner), None)
            if u is None and event.token:
                u = next((x for x in self.units.values() if event.token in x.agent.tokens), None)
        elif isinstance(event, ControlIn):
            u = self.unit_for(event.dst_ip)
        elif isinstance(event, RelateProxy):
            u = self.unit_for(event.outbound.src_ip) or self.unit_for_session(event.inbound)
        elif isinstance(event, BoxOffset):
            u = self.unit_for_session(event.session)
        return u or self.first
