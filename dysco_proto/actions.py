"""Actions an agent returns. A target executes them in order.

Ordering contract: an entry write is complete before any later ``SendPacket`` is emitted
(punted packets are re-injected only after their entries are installed).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from typing import Any

from dysco_proto.entries import EntryKey, MappingEntry
from dysco_proto.packet import Segment
from dysco_proto.timers import TimerKey
from dysco_proto.wire import RequestId


@dataclass(frozen=True, slots=True)
class InstallEntry:
    entry: MappingEntry


@dataclass(frozen=True, slots=True)
class ModifyEntry:
    """Replace the entry with the same key; the slot's registers are kept."""

    entry: MappingEntry


@dataclass(frozen=True, slots=True)
class RemoveEntry:
    key: EntryKey


class Toward(enum.StrEnum):
    NETWORK = "network"  # leaves the device towards the peer; already rewritten by the agent
    HOST = "host"  # delivered to the local host (endpoint or middlebox)


@dataclass(frozen=True, slots=True)
class SendPacket:
    """Packet-out. The data plane does not rewrite it again.

    ``host`` names the local host (one of the agent's addresses) a ``Toward.HOST`` packet is
    for: a middlebox receives packets addressed to the session's destination, not to itself,
    so the target cannot derive the port from the packet.
    """

    segment: Segment
    toward: Toward
    host: str | None = None


@dataclass(frozen=True, slots=True)
class Probe:
    """Ask the data plane for a slot's registers; with ``freeze`` first set ``cut = sent_hi``.

    The answer comes back as a :class:`~dysco_proto.events.SlotSnapshot` with the same token.
    """

    slot: int
    token: int
    freeze: bool = False
    epoch: int = 0


@dataclass(frozen=True, slots=True)
class SendControl:
    """A UDP control datagram to a peer agent's control port."""

    src_ip: str
    dst_ip: str
    data: bytes


@dataclass(frozen=True, slots=True)
class StartTimer:
    """(Re)start a one-shot timer; restarting an existing id replaces it."""

    timer_id: TimerKey
    delay: float


@dataclass(frozen=True, slots=True)
class CancelTimer:
    """Cancel a timer (no effect if it is not running)."""

    timer_id: TimerKey


@dataclass(frozen=True, slots=True)
class Observe:
    """Something worth logging or counting. ``kind`` is a stable dotted name."""

    kind: str
    fields: dict[str, Any] = field(default_factory=dict)


class Outcome(enum.StrEnum):
    """How a reconfiguration ended (for the one that asked for it)."""

    COMPLETED = "completed"
    CANCELLED = "cancelled"
    REFUSED = "refused"


@dataclass(frozen=True, slots=True)
class ReconfigFinished:
    """A reconfiguration asked for with ``request_tag`` ended (at its left anchor, or at the
    agent that refused or abandoned it). ``request`` is ``None`` when it never started."""

    tag: int
    outcome: Outcome
    reason: str = ""
    request: RequestId | None = None
    elapsed: float | None = None

    @property
    def kind(self) -> str:
        """The observation name of this outcome (``reconfig.completed``, ...)."""
        return f"reconfig.{self.outcome.value}"

    def fields(self) -> dict[str, Any]:
        """The outcome as observation fields (logs, metrics, traces)."""
        out: dict[str, Any] = {"tag": self.tag, "request": self.request, "reason": self.reason}
        if self.elapsed is not None:
            out["elapsed"] = self.elapsed
        return out

    def as_observe(self) -> Observe:
        """The same outcome as an :class:`Observe` (for sinks that count observations)."""
        return Observe(self.kind, self.fields())


Action = (
    InstallEntry
    | ModifyEntry
    | RemoveEntry
    | SendPacket
    | Probe
    | SendControl
    | StartTimer
    | CancelTimer
    | Observe
    | ReconfigFinished
)
