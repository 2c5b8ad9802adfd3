"""Minimal stand-ins for the agent and the data path, for simulator tests only.

The fake data path forwards everything unchanged (punting SYNs); the fake agent re-injects
SYNs and refuses every reconfiguration. Sessions therefore run directly client to server,
which is enough to test the engine, the network plumbing and determinism without the real
protocol.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from dysco_proto.actions import Action, Outcome, ReconfigFinished, SendPacket, Toward
from dysco_proto.entries import Direction, EntryKey, MappingEntry
from dysco_proto.events import (
    Event,
    PacketIn,
    PuntReason,
    Reconfigure,
    RemoveMe,
    SlotSnapshot,
)
from dysco_proto.packet import FiveTuple, Segment
from dysco_proto.sim.scenario import HostSpec, SimParams


@dataclass
class FakeResult:
    to_network: list[Segment] = field(default_factory=list)
    to_host: list[Segment] = field(default_factory=list)
    punts: list[PacketIn] = field(default_factory=list)
    reports: list[SlotSnapshot] = field(default_factory=list)


class FakeDataPath:
    def __init__(self, local_addresses: Iterable[str] = ()) -> None:
        self.entries: dict[EntryKey, MappingEntry] = {}
        self.probes: list[tuple[int, int, bool, int]] = []

    def install(self, entry: MappingEntry, now: float = 0.0) -> None:
        self.entries[entry.key] = entry

    def modify(self, entry: MappingEntry, now: float = 0.0) -> None:
        self.entries[entry.key] = entry

    def remove(self, key: EntryKey) -> None:
        self.entries.pop(key, None)

    def _process(self, seg: Segment, direction: Direction) -> FakeResult:
        res = FakeResult()
        if seg.is_syn:
            res.punts.append(PacketIn(PuntReason.SYN, direction, seg))
        elif direction is Direction.OUT:
            res.to_network.append(seg)
        else:
            res.to_host.append(seg)
        return res

    def from_host(self, seg: Segment, now: float) -> FakeResult:
        return self._process(seg, Direction.OUT)

    def from_network(self, seg: Segment, now: float) -> FakeResult:
        return self._process(seg, Direction.IN)

    def probe(self, slot: int, token: int, freeze: bool, epoch: int = 0) -> SlotSnapshot:
        self.probes.append((slot, token, freeze, epoch))
        return SlotSnapshot(slot, 1, 2, 3, None, 1 if freeze else None, token)

    def idle_entries(self, now: float) -> list[EntryKey]:
        return []


@dataclass(frozen=True)
class FakeState:
    sessions: int = 0
    sides: int = 0
    pending: int = 0
    entries: frozenset[EntryKey] = frozenset()
    ports_in_use: int = 0
    timers: int = 0
    locks: dict[FiveTuple, tuple[str, Any]] = field(default_factory=dict)
    active_reconfigs: int = 0


class FakeAgent:
    """Re-injects SYNs, refuses every reconfiguration, records everything it saw."""

    def __init__(self, ip: str = "") -> None:
        self.ip = ip
        self.events: list[tuple[float, Event]] = []

    def handle(self, event: Event, now: float) -> list[Action]:
        self.events.append((now, event))
        if isinstance(event, PacketIn) and event.reason is PuntReason.SYN:
            toward = Toward.NETWORK if event.direction is Direction.OUT else Toward.HOST
            return [SendPacket(event.segment, toward)]
        if isinstance(event, Reconfigure | RemoveMe):
            return [ReconfigFinished(event.request_tag, Outcome.REFUSED, "fake")]
        return []

    def state(self) -> FakeState:
        return FakeState()

    def locks(self) -> dict[FiveTuple, tuple[str, Any]]:
        return {}


def fake_agent(spec: HostSpec, policies: object, index: int, params: SimParams) -> FakeAgent:
    return FakeAgent(spec.ip)


def fake_datapath(spec: HostSpec, params: SimParams) -> FakeDataPath:
    return FakeDataPath([spec.ip])
