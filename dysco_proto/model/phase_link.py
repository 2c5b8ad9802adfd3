"""The link between the phase table and the running agent: every phase step checked.

:data:`dysco_proto.phase_table.TABLE` drives the agent (each phase change is a row lookup);
this module checks, from outside, that what the agent did is what the table says:

- :class:`PhaseRecorder` wraps ``Agent.handle``: before the call it notes the phase of every
  request the agent holds a record for (left and right anchors, rightRequests, finished
  right-anchor requests still answered), turns on the agent's ``phase_log``, and after the
  call checks the step;
- :func:`check_step`: for every request, the rows logged in the call must chain from its
  phase before (row.phase = current phase, then current = row.next) to its phase after;
  a phase that changed with no row, or a row that does not start where the request was, is
  a divergence; and every act of a row that is visible as an action (messages, packets,
  entry writes, probes, timers, outcomes: :data:`CHECKED`) must be among the call's actions.

The recorder also counts the rows taken (``covered``), so a test can require that the
scenarios it runs exercise every row of the table.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from dysco_proto.actions import (
    Action,
    InstallEntry,
    ModifyEntry,
    Outcome,
    Probe,
    ReconfigFinished,
    SendControl,
    SendPacket,
    StartTimer,
)
from dysco_proto.agent import HOLD, Agent
from dysco_proto.entries import Role as EntryRole
from dysco_proto.events import Event
from dysco_proto.packet import TcpFlags
from dysco_proto.phase_table import Act, Role, Row
from dysco_proto.timers import TimerKind
from dysco_proto.wire import ControlCodec, MsgType, RequestId, WireError

PhaseKey = tuple[Role, RequestId]


def phases(agent: Agent) -> dict[PhaseKey, str]:
    """The phase of every request ``agent`` holds a record for (IDLE ones are absent)."""
    out: dict[PhaseKey, str] = {}
    for r, la in agent.lefts.items():
        out[(Role.LEFT, r)] = la.phase.value
    for r in agent.right_done:
        out[(Role.RIGHT, r)] = "done"
    for r, ra in agent.rights.items():
        out[(Role.RIGHT, r)] = ra.phase.value
    for r in agent.right_requests:
        out[(Role.REQUESTER, r)] = "waiting"
    return out


def _norm(phase: str | None) -> str:
    """IDLE, DONE and no record are the same to the check (no record of the request)."""
    return "-" if phase is None or phase in ("idle", "done") else phase


_MSG_ACTS = {
    Act.SEND_REQUEST_LOCK: MsgType.REQUEST_LOCK,
    Act.SEND_ACK_LOCK: MsgType.ACK_LOCK,
    Act.SEND_NACK_LOCK: MsgType.NACK_LOCK,
    Act.SEND_CANCEL_LOCK: MsgType.CANCEL_LOCK,
    Act.SEND_ACK_CANCEL: MsgType.ACK_CANCEL,
    Act.SEND_RIGHT_REQUEST: MsgType.RIGHT_REQUEST,
    Act.SEND_ACK: MsgType.ACK,
    Act.SEND_ACK_ACK: MsgType.ACK_ACK,
}
_TIMER_ACTS = {
    Act.ARM_LOCK: TimerKind.LOCK,
    Act.ARM_LPROBE: TimerKind.LPROBE,
    Act.ARM_SYN: TimerKind.SYN,
    Act.ARM_CPROBE: TimerKind.CPROBE,
    Act.ARM_ACK: TimerKind.ACK,
    Act.ARM_PROBE: TimerKind.PROBE,
    Act.ARM_CANCEL: TimerKind.CANCEL,
    Act.ARM_RSPROBE: TimerKind.RSPROBE,
    Act.ARM_RPROBE: TimerKind.RPROBE,
    Act.ARM_RANCHOR: TimerKind.RANCHOR,
    Act.ARM_RR: TimerKind.RR,
}
_FINISH_ACTS = {
    Act.FINISH_COMPLETED: Outcome.COMPLETED,
    Act.FINISH_CANCELLED: Outcome.CANCELLED,
    Act.FINISH_REFUSED: Outcome.REFUSED,
}
CHECKED = frozenset(
    {*_MSG_ACTS, *_TIMER_ACTS, *_FINISH_ACTS}
    | {Act.SEND_SYN, Act.SEND_SYNACK, Act.SEND_THIRD_ACK, Act.STAGE_HOLD, Act.SWITCH}
    | {Act.PROBE, Act.PROBE_FREEZE, Act.FOLD}
)
"""The acts visible as actions; the others (taking the own lock, undoing a staged path)
depend on what was staged and are checked by the entry and lock checks elsewhere."""


@dataclass
class Emitted:
    """What one ``handle`` call emitted, indexed for the act checks."""

    msgs: set[tuple[MsgType, RequestId]] = field(default_factory=set)
    flags: set[TcpFlags] = field(default_factory=set)
    new_installs: int = 0
    holds: int = 0
    switches: int = 0
    single: int = 0
    probes: set[bool] = field(default_factory=set)
    timers: set[tuple[TimerKind, RequestId | None]] = field(default_factory=set)
    outcomes: set[tuple[Outcome, RequestId | None]] = field(default_factory=set)

    @classmethod
    def of(cls, actions: Iterable[Action], codec: ControlCodec) -> Emitted:
        e = cls()
        for a in actions:
            if isinstance(a, SendControl):
                try:
                    m = codec.decode(a.data, check_replay=False)
                except WireError:
                    continue
                e.msgs.add((m.type, m.request))
            elif isinstance(a, SendPacket):
                e.flags.add(a.segment.flags & (TcpFlags.SYN | TcpFlags.ACK))
            elif isinstance(a, InstallEntry):
                e.new_installs += a.entry.role is EntryRole.NEW
            elif isinstance(a, ModifyEntry):
                nr = a.entry.new_rewrite
                e.holds += nr == HOLD
                e.switches += nr is not None and nr != HOLD
                e.single += nr is None
            elif isinstance(a, Probe):
                e.probes.add(a.freeze)
            elif isinstance(a, StartTimer):
                e.timers.add((a.timer_id.kind, a.timer_id.request))
            elif isinstance(a, ReconfigFinished):
                e.outcomes.add((a.outcome, a.request))
        return e

    def shows(self, act: Act, r: RequestId) -> bool:
        """Whether the emitted actions include ``act`` for request ``r``."""
        if act in _MSG_ACTS:
            return (_MSG_ACTS[act], r) in self.msgs
        if act in _TIMER_ACTS:
            return (_TIMER_ACTS[act], r) in self.timers
        if act in _FINISH_ACTS:
            return (_FINISH_ACTS[act], r) in self.outcomes
        checks: dict[Act, Callable[[], bool]] = {
            Act.SEND_SYN: lambda: TcpFlags.SYN in self.flags,
            Act.SEND_SYNACK: lambda: (
                (TcpFlags.SYN | TcpFlags.ACK) in self.flags and (MsgType.SYN_ACK, r) in self.msgs
            ),
            Act.SEND_THIRD_ACK: lambda: TcpFlags.ACK in self.flags,
            Act.STAGE_HOLD: lambda: self.new_installs > 0 and self.holds > 0,
            Act.SWITCH: lambda: self.switches > 0,
            Act.FOLD: lambda: self.single > 0,
            Act.PROBE: lambda: False in self.probes,
            Act.PROBE_FREEZE: lambda: True in self.probes,
        }
        return checks[act]()


@dataclass(frozen=True)
class PhaseDivergence:
    """A step of the agent the phase table does not explain."""

    agent: str
    event: str
    request: RequestId
    what: str

    def __str__(self) -> str:
        r = f"{self.request.anchor}/{self.request.number}"
        return f"{self.agent} {self.event} r={r}: {self.what}"


def check_step(
    name: str,
    event: Event,
    before: dict[PhaseKey, str],
    after: dict[PhaseKey, str],
    log: list[tuple[RequestId, Row]],
    emitted: Emitted,
) -> list[PhaseDivergence]:
    """Check one ``handle`` call: rows chain from each request's phase before to after."""
    out: list[PhaseDivergence] = []
    ev = type(event).__name__
    current = dict(before)
    touched: set[PhaseKey] = set()
    for r, row in log:
        key = (row.role, r)
        now = current.get(key) or "idle"
        if row.phase.value != now:
            out.append(PhaseDivergence(name, ev, r, f"row {row.key} taken in phase {now}"))
        current[key] = row.next.value
        touched.add(key)
        for act in row.acts:
            if act in CHECKED and not emitted.shows(act, r):
                out.append(PhaseDivergence(name, ev, r, f"row {row.key}: no action for {act}"))
    for key in set(before) | set(after) | touched:
        want, got = current.get(key), after.get(key)
        if _norm(got) != _norm(want):
            what = f"{key[0]} phase {before.get(key, 'idle')} -> {got or 'idle'}, rows give {want}"
            out.append(PhaseDivergence(name, ev, key[1], what))
    return out


class PhaseRecorder:
    """Checks every ``handle`` call of the agents it watches against the phase table."""

    def __init__(self, key: bytes) -> None:
        self._codec = ControlCodec(key)
        self.covered: Counter[Row] = Counter()
        self.divergences: list[PhaseDivergence] = []
        self.steps = 0

    def handle(self, name: str, agent: Agent, event: Event, now: float) -> list[Action]:
        """Run ``agent.handle(event, now)`` and check the step."""
        before = phases(agent)
        log: list[tuple[RequestId, Row]] = []
        agent.phase_log = log
        try:
            actions = _ORIGINAL_HANDLE(agent, event, now)
        finally:
            agent.phase_log = None
        after = phases(agent)
        self.steps += 1
        for _r, row in log:
            self.covered[row] += 1
        if log or before != after:
            emitted = Emitted.of(actions, self._codec)
            self.divergences += check_step(name, event, before, after, log, emitted)
        return actions

    def watch(self, agent: Agent, name: str = "") -> Agent:
        """Route ``agent.handle`` through :meth:`handle` (instance attribute); returns it."""
        label = name or min(agent.addresses)

        def handle(event: Event, now: float) -> list[Action]:
            return self.handle(label, agent, event, now)

        agent.handle = handle  # type: ignore[method-assign]
        return agent


_ORIGINAL_HANDLE = Agent.handle
