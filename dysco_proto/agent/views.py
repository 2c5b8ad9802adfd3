"""Read-only views of an agent's state: sizes and locks, sessions, reconfigurations.

For the management API, the simulator's invariants and leak checks. Also the protocol
decisions an adapter needs to ask the agent about (:meth:`ViewsMixin.default_right_anchor`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from dysco_proto.agent.base import AgentBase
from dysco_proto.agent.records import Side
from dysco_proto.entries import Deltas, EntryKey
from dysco_proto.events import ReconfigKind
from dysco_proto.lock import LockStatus
from dysco_proto.packet import FiveTuple
from dysco_proto.wire import RequestId


@dataclass(frozen=True)
class AgentState:
    """Introspection snapshot (for the management API, the simulator and leak checks)."""

    sessions: int
    sides: int
    pending: int
    entries: frozenset[EntryKey]
    ports_in_use: int
    timers: int
    locks: Mapping[FiveTuple, tuple[str, RequestId | None]]
    active_reconfigs: int


@dataclass(frozen=True)
class SideView:
    """Read-only view of one session side (management API)."""

    which: str  # "left" | "right"
    local: str
    peer: str
    subsession: FiveTuple
    session: FiveTuple
    in_deltas: Deltas
    out_deltas: Deltas
    lock: str
    lock_request: RequestId | None
    busy: RequestId | None
    entries: int


@dataclass(frozen=True)
class SessionView:
    """Read-only view of this agent's state for one session (or a related proxy pair)."""

    id: int
    left: SideView | None
    right: SideView | None
    pending: bool
    closing: bool
    fin_lr: bool
    fin_rl: bool

    @property
    def session(self) -> FiveTuple:
        """The session tuple as the local host sees it (left side first)."""
        side = self.left or self.right
        assert side is not None
        return side.session


@dataclass(frozen=True)
class ReconfigView:
    """Read-only view of a reconfiguration this agent anchors."""

    request: RequestId
    role: str  # "left" | "right"
    phase: str
    tag: int
    session: FiveTuple
    peer_anchor: str


class ViewsMixin(AgentBase):
    """Introspection (see :class:`dysco_proto.agent.Agent`)."""

    def state(self) -> AgentState:
        """A snapshot of this agent's state sizes and lock table."""
        entries: set[EntryKey] = set()
        sides = 0
        locks: dict[FiveTuple, tuple[str, RequestId | None]] = {}
        for rec in self.records.values():
            for s in rec.sides():
                sides += 1
                entries |= s.installed
                if not s.is_left:
                    locks[s.sub] = (s.lock.status.value, s.lock.request)
        return AgentState(
            sessions=len(self.records),
            sides=sides,
            pending=len(self.pending_by_tag) + len(self.pending_by_tuple),
            entries=frozenset(entries),
            ports_in_use=sum(
                (s.own_port is not None) + sum(p is not None for p in s.retired.values())
                for h in self.records.values()
                for s in h.sides()
            )
            + sum(1 for la in self.lefts.values() if la.new_port is not None),
            timers=len(self.timers),
            locks=locks,
            active_reconfigs=len(self.lefts) + len(self.rights),
        )

    def locks(self) -> dict[FiveTuple, tuple[str, RequestId | None]]:
        """Subsessions whose lock is not free (cheap: for per-step invariant checks)."""
        return {
            sub: (side.lock.status.value, side.lock.request)
            for sub, side in self.right_by_sub.items()
            if side.lock.status is not LockStatus.UNLOCKED
        }

    def sessions(self) -> list[SessionView]:
        """Views of every session record this agent holds state for, by id."""

        def view(side: Side | None) -> SideView | None:
            if side is None:
                return None
            return SideView(
                "left" if side.is_left else "right",
                side.local,
                side.peer,
                side.sub,
                side.stuple,
                side.in_deltas,
                side.out_deltas,
                side.lock.status.value,
                side.lock.request,
                side.busy,
                len(side.installed),
            )

        return [
            SessionView(
                h.id,
                view(h.left),
                view(h.right),
                h.pending is not None,
                h.closing,
                h.fin_lr,
                h.fin_rl,
            )
            for h in sorted(self.records.values(), key=lambda h: h.id)
        ]

    def reconfigs(self) -> list[ReconfigView]:
        """Reconfigurations in progress at this agent, as left or right anchor."""
        out = [
            ReconfigView(
                la.request, "left", la.phase.value, la.tag, la.side.stuple, la.right_anchor
            )
            for la in self.lefts.values()
        ]
        out += [
            ReconfigView(ra.request, "right", ra.phase.value, 0, ra.side.stuple, ra.left_anchor)
            for ra in self.rights.values()
        ]
        return out

    def is_retired(self, key: EntryKey) -> bool:
        """Whether ``key`` is an old path's IN entry kept after a fold for late packets (a
        data-plane adapter may report those idle sooner than a session's own entries)."""
        side = self.by_key.get(key)
        return side is not None and key in side.retired

    def default_right_anchor(self, session: FiveTuple, kind: ReconfigKind) -> str | None:
        """The right anchor of a reconfiguration of ``session`` (the session tuple of a
        right side here) when the caller names none: for an insertion, the next hop (the
        new boxes go between this agent and it); for a removal, the hop after the next one
        (the next box is spliced out), known from the chain this side sent at set-up. None
        if there is no such right side or the session is unknown."""
        side = self.right_by_stuple.get(session)
        if side is None:
            return None
        if kind is ReconfigKind.INSERT:
            return side.peer
        hops = side.syn_msg.hops if side.syn_msg is not None else ()
        return hops[0] if hops else None  # the chain sent to the peer lists the hops after it
