"""Invariant checks of the simulator.

Checked as the run goes (every violation is recorded as a string; the run continues):

- **ack beyond sent**: every endpoint (end hosts and proxy connections) reports an ack or SACK
  edge above the highest sequence number it ever sent (see :mod:`dysco_proto.sim.tcp`);
- **byte streams**: every chunk an end host receives is compared, as it arrives, with the
  expected stream at that position (:class:`StreamCheck`): the delivered stream is a prefix
  of the expected one at all times. Left-to-right, the expected stream is the prefixes the
  offset boxes inserted (nearest to the server first) followed by the client's stream;
- **lock safety** (:class:`LockCheck`): whenever an agent's lock table changes, for every
  request whose left anchor reports its first subsession ``LOCKED(r)``, the old path of the
  segment is walked through the data paths' entries and every subsession on it must be
  ``LOCKED(r)`` at its left end; no subsession may be held (pending or locked) by two agents
  with different requests, and no subsession may belong to two locked requests' segments.
  Transitions are checked too: a subsession never goes from ``LOCKED(r)`` straight to being
  held by another request, nor from ``PENDING(r)`` to ``LOCKED(r')``;
- **outcomes** (:class:`OutcomeCheck`): every request gets exactly one terminal outcome
  (completed, refused or cancelled); a request through a failed box never completes.

Checked at the end (after quiescence): every stream fully delivered, every session closed at
both ends, no state left in any agent or data path (:func:`leak_report`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from dysco_proto.packet import FiveTuple

TERMINAL = ("reconfig.completed", "reconfig.refused", "reconfig.cancelled")
LockTable = Mapping[FiveTuple, tuple[str, Any]]


class Violations:
    """Collects violation messages (all are counted; the first ``limit`` are kept)."""

    def __init__(self, limit: int = 200, on_first: Callable[[str], None] | None = None) -> None:
        self.limit = limit
        self.items: list[str] = []
        self.count = 0
        self._seen: set[str] = set()
        self._on_first = on_first

    def add(self, message: str) -> None:
        """Record one violation (identical messages are kept once, but counted)."""
        self.count += 1
        if self.count == 1 and self._on_first is not None:
            self._on_first(message)
        if message in self._seen:
            return
        self._seen.add(message)
        if len(self.items) < self.limit:
            self.items.append(message)

    def __bool__(self) -> bool:
        return self.count > 0


class StreamCheck:
    """Checks, chunk by chunk, that a delivered byte stream is a prefix of ``expected``."""

    __slots__ = ("broken", "expected", "name", "pos", "violations")

    def __init__(self, name: str, expected: bytes, violations: Violations) -> None:
        self.name = name
        self.expected = expected
        self.pos = 0
        self.broken = False
        self.violations = violations

    def feed(self, chunk: bytes) -> None:
        """Bytes delivered in order to the application."""
        if self.broken:
            return
        end = self.pos + len(chunk)
        if end > len(self.expected):
            self.broken = True
            self.violations.add(
                f"{self.name}: delivered {end} bytes, more than the {len(self.expected)} sent"
            )
            return
        if self.expected[self.pos : end] != chunk:
            bad = next(
                i for i, b in enumerate(chunk) if b != self.expected[self.pos + i]
            )  # first differing byte
            self.broken = True
            self.violations.add(
                f"{self.name}: delivered stream differs from the sent stream at byte "
                f"{self.pos + bad}"
            )
            return
        self.pos = end

    @property
    def complete(self) -> bool:
        return not self.broken and self.pos == len(self.expected)


@dataclass(slots=True)
class RequestRecord:
    """One reconfiguration request as the simulator issued it."""

    tag: int
    session: int
    op: str  # insert, remove, replace, multi, remove_proxy, failure, concurrent
    left: str  # the host the command was given to
    right: str  # proposed right anchor (for RemoveMe: the proxy's right neighbour)
    new_boxes: tuple[str, ...]
    issued_at: float
    dead_box: bool = False
    request: Any = None  # RequestId reported by reconfig.started
    anchor: str = ""  # agent that reported reconfig.started
    anchor_session: FiveTuple | None = None  # session tuple at that anchor (when known)
    outcome: str = ""  # completed | refused | cancelled
    reason: str = ""
    ended_at: float = 0.0


class OutcomeCheck:
    """Tracks requests and their outcomes."""

    def __init__(self, violations: Violations) -> None:
        self.violations = violations
        self.requests: dict[int, RequestRecord] = {}
        self.by_request: dict[Any, RequestRecord] = {}
        self.live: dict[int, RequestRecord] = {}

    def issued(self, rec: RequestRecord) -> None:
        self.requests[rec.tag] = rec
        self.live[rec.tag] = rec

    def observe(
        self, host_ip: str, kind: str, fields: Mapping[str, Any], now: float
    ) -> RequestRecord | None:
        """Process an ``Observe``; returns the record when it is a terminal outcome."""
        if kind == "reconfig.started":
            rec = self.requests.get(fields.get("tag", -1))
            if rec is None:
                self.violations.add(f"{host_ip}: reconfig.started with unknown tag {fields}")
                return None
            rec.request = fields.get("request")
            rec.anchor = host_ip
            if rec.request is not None:
                self.by_request[rec.request] = rec
            return None
        if kind not in TERMINAL:
            return None
        tag = fields.get("tag", -1)
        rec = self.requests.get(tag)
        if rec is None:
            self.violations.add(f"{host_ip}: {kind} with unknown tag {tag!r} ({fields})")
            return None
        outcome = kind.split(".", 1)[1]
        if rec.outcome:
            self.violations.add(
                f"request tag {tag}: second terminal outcome {outcome} (first: {rec.outcome})"
            )
            return None
        rec.outcome = outcome
        rec.reason = str(fields.get("reason", ""))
        rec.ended_at = now
        self.live.pop(tag, None)
        if outcome == "completed" and rec.dead_box:
            self.violations.add(f"request tag {tag} through a failed box completed")
        return rec

    def finish(self) -> None:
        """End of run: every request must have ended."""
        for rec in self.requests.values():
            if not rec.outcome:
                self.violations.add(
                    f"request tag {rec.tag} ({rec.op} on session {rec.session}, "
                    f"request {rec.request}) has no terminal outcome"
                )


class WalkEnv(Protocol):
    """What :class:`LockCheck` needs to walk a segment's old path."""

    def out_rewrite(self, ip: str, session: FiveTuple) -> FiveTuple | None:
        """The OUT rewrite (old path) of ``session`` at host ``ip``."""

    def in_rewrite(self, ip: str, sub: FiveTuple) -> FiveTuple | None:
        """The IN rewrite of subsession ``sub`` arriving at host ``ip``."""

    def box_emits(self, ip: str, received: FiveTuple) -> FiveTuple | None:
        """The tuple the box at ``ip`` emits rightwards for ``received``."""

    def left_ending(self, ip: str, request: Any) -> bool:
        """Whether ``request`` is being cancelled at its left anchor ``ip``: its cancelLock
        unlocks the hops before the left anchor's own lock is released (protocol-design.md
        4.1), as in the Spin model's exemption for requests already ending there."""


@dataclass(slots=True)
class LockCheck:
    """Lock safety over the agents' lock tables (see the module docstring).

    Tables are kept per agent (only subsessions that are not unlocked) together with an index
    subsession -> {agent: request}, both updated incrementally by :meth:`update`.
    """

    violations: Violations
    tables: dict[str, dict[FiveTuple, tuple[str, Any]]] = field(default_factory=dict)
    index: dict[FiveTuple, dict[str, Any]] = field(default_factory=dict)
    locked: dict[Any, set[tuple[str, FiveTuple]]] = field(default_factory=dict)
    touched: set[Any] = field(default_factory=set)
    checks: int = 0

    def update(self, ip: str, locks: LockTable, now: float = 0.0) -> bool:
        """Store ``ip``'s lock table; returns whether it changed."""
        new = {k: v for k, v in locks.items() if v[0] != "unlocked"}
        old = self.tables.get(ip, {})
        if old == new:
            return False
        index = self.index
        locked = self.locked
        touched = self.touched
        for sub, (status, req) in old.items():
            touched.add(req)
            now_held = new.get(sub)
            if (
                now_held is not None
                and now_held[1] != req
                and (status == "locked" or now_held[0] == "locked")
            ):
                # A locked subsession can only be released (cancel, GC): a request arriving
                # meanwhile is nacked and nothing stays held, so no event hands it over; and
                # only the pending request's own ackLock can lock a pending subsession.
                self.violations.add(
                    f"t={now:.6f}: subsession {sub} at {ip} went from {status} by {req} to "
                    f"{now_held[0]} by {now_held[1]}"
                )
            if status == "locked":
                where = locked.get(req)
                if where is not None:
                    where.discard((ip, sub))
                    if not where:
                        del locked[req]
            if sub not in new:
                holders = index.get(sub)
                if holders is not None:
                    holders.pop(ip, None)
                    if not holders:
                        del index[sub]
        for sub, (status, req) in new.items():
            touched.add(req)
            if status == "locked":
                locked.setdefault(req, set()).add((ip, sub))
            holders = index.setdefault(sub, {})
            holders[ip] = req
            if len(holders) > 1 and len({repr(r) for r in holders.values()}) > 1:
                who = ", ".join(f"{h} by {r}" for h, r in sorted(holders.items()))
                self.violations.add(
                    f"t={now:.6f}: subsession {sub} held by different requests: {who}"
                )
        if new:
            self.tables[ip] = new
        else:
            self.tables.pop(ip, None)
        return True

    def check(
        self, live: Mapping[int, RequestRecord], env: WalkEnv, now: float, full: bool = False
    ) -> None:
        """Walk the segment of every request locked at its left anchor (see the module
        docstring). Unless ``full``, only requests whose lock entries changed since the last
        check are walked: a request's segment can only lose its lock where a table changed."""
        self.checks += 1
        touched, self.touched = self.touched, set()
        owner: dict[FiveTuple, int] = {}
        for rec in live.values():
            if rec.request is None or rec.anchor_session is None:
                continue
            if rec.request not in self.locked or not (full or rec.request in touched):
                continue
            table = self.tables.get(rec.anchor)
            if table is None:
                continue
            first = env.out_rewrite(rec.anchor, rec.anchor_session)
            if first is None:
                continue
            state = table.get(first)
            if state is None or state[0] != "locked" or state[1] != rec.request:
                continue
            ending = getattr(env, "left_ending", None)  # (optional for stand-in envs)
            if ending is not None and ending(rec.anchor, rec.request):
                continue
            subs = self._walk(rec, env, first)
            if subs is None:
                continue
            for ip, sub in subs:
                st = self.tables.get(ip, {}).get(sub)
                if st is None or st[0] != "locked" or st[1] != rec.request:
                    self.violations.add(
                        f"t={now:.6f}: request {rec.request} (tag {rec.tag}) is locked at its "
                        f"left anchor but subsession {sub} at {ip} is {st or 'unlocked'}"
                    )
                prev = owner.get(sub)
                if prev is not None and prev != rec.tag:
                    self.violations.add(
                        f"t={now:.6f}: locked requests tags {prev} and {rec.tag} share "
                        f"subsession {sub}"
                    )
                owner[sub] = rec.tag

    @staticmethod
    def _walk(
        rec: RequestRecord, env: WalkEnv, first: FiveTuple
    ) -> list[tuple[str, FiveTuple]] | None:
        """The old-path subsessions of ``rec``'s segment as (left end, subsession)."""
        ip = rec.anchor
        sub = first
        out: list[tuple[str, FiveTuple]] = []
        target = rec.right
        for _ in range(64):
            out.append((ip, sub))
            nxt = sub.dst_ip
            if nxt == target:
                return out
            received = env.in_rewrite(nxt, sub)
            if received is None:
                return None
            emitted = env.box_emits(nxt, received)
            if emitted is None:
                return None
            ip = nxt
            sub_next = env.out_rewrite(ip, emitted)
            if sub_next is None:
                return None
            sub = sub_next
        return None


@dataclass(slots=True)
class Leftover:
    """What one agent (and its data path) still holds after quiescence."""

    host: str
    sessions: int
    sides: int
    pending: int
    entries: int
    ports_in_use: int
    active_reconfigs: int
    timers: int
    datapath_entries: int
    keys: tuple[str, ...] = ()  # a few of the data path's leftover entry keys

    @property
    def leaked(self) -> int:
        """Leftover objects counted as leaks (timers are reported, not counted)."""
        return (
            self.sessions
            + self.pending
            + max(self.entries, self.datapath_entries)
            + self.ports_in_use
            + self.active_reconfigs
        )

    def describe(self) -> str:
        return (
            f"{self.host}: sessions={self.sessions} sides={self.sides} pending={self.pending} "
            f"entries={self.entries} datapath_entries={self.datapath_entries} "
            f"ports_in_use={self.ports_in_use} active_reconfigs={self.active_reconfigs} "
            f"timers={self.timers}" + (f" keys=[{', '.join(self.keys)}]" if self.keys else "")
        )
