"""The executable link between the Spin model and the Python agent: lock steps vs the table.

The lock relation the model checks is :data:`dysco_proto.model.lock_table.TABLE` (the model's
``lock_gen.pml`` is generated from it). This module checks that the *running* agent follows
the same relation:

- :class:`LockRecorder` is a :class:`~dysco_proto.model.driver.Observer`: around every
  ``Agent.handle`` call it snapshots the agent's subsession locks (status, owner, held FIFO),
  which requests it anchors and which held requests it keeps, and decodes the lock messages
  going in and out.
- :func:`check_step` replays one such step against the table: the lock message received (if
  any), the left-anchor starts and finishes that happened in the step, and the held requests
  they released must transform the before-locks into exactly the after-locks; the message
  must get the table's verdict (forwarded to the next hop or to the local anchor, held,
  nacked or dropped) and every held request the table refuses must be nacked. Any other
  lock change is a divergence.

The conformance test (every row, through ``Agent.handle`` with encoded control messages) and
the trace check (multi-agent runs from :mod:`dysco_proto.model.driver`) both use it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from dysco_proto.actions import Action, Observe, SendControl
from dysco_proto.agent import Agent, Side
from dysco_proto.events import ControlIn, Event
from dysco_proto.lock import LockState
from dysco_proto.model.driver import Host
from dysco_proto.model.lock_table import Lock, LockMsg, Status, Verdict, step
from dysco_proto.packet import FiveTuple
from dysco_proto.wire import ControlCodec, ControlMessage, MsgType, RequestId, WireError

LOCK_TYPES: Mapping[MsgType, LockMsg] = {
    MsgType.REQUEST_LOCK: LockMsg.REQUEST,
    MsgType.ACK_LOCK: LockMsg.ACK,
    MsgType.NACK_LOCK: LockMsg.NACK,
    MsgType.CANCEL_LOCK: LockMsg.CANCEL,
}

ALock = Lock[RequestId]


def view(lock: LockState) -> ALock:
    """The abstract value of an agent lock."""
    status = Status(lock.status.value)
    owner = lock.request if status is not Status.UNLOCKED else None
    return Lock(status, owner, tuple(lock.held), frozenset(lock.ended))


def _right_sides(agent: Agent) -> list[Side]:
    return [h.right for h in agent.records.values() if h.right is not None]


@dataclass
class StepRecord:
    """What one ``Agent.handle`` call did to the locks of that agent."""

    agent: str
    event: Event
    msg: ControlMessage | None
    sides: dict[int, Side]  # id -> side, every right side before or after
    subs: dict[int, FiveTuple]  # id -> the side's subsession before the step (sides are live)
    before: dict[int, ALock]
    after: dict[int, ALock] = field(default_factory=dict)
    present_after: set[int] = field(default_factory=set)  # sides still in the agent
    lefts_before: dict[RequestId, Side] = field(default_factory=dict)
    lefts_after: dict[RequestId, Side] = field(default_factory=dict)
    held_msgs: set[tuple[object, RequestId]] = field(default_factory=set)
    involved: Side | None = None  # the side whose lock the message addresses (table rows)
    lside: Side | None = None  # for requests/cancels: the side the message came in on
    lside_sub: FiveTuple | None = None  # the left side's subsession before the step
    skip: str = ""  # why the message is outside the table (anchor handling, unknown, ...)
    sent: list[ControlMessage] = field(default_factory=list)

    def describe(self) -> str:
        what = self.msg.type.name if self.msg is not None else type(self.event).__name__
        r = f" {self.msg.request.anchor}/{self.msg.request.number}" if self.msg else ""
        return f"{self.agent}: {what}{r}"


class LockRecorder:
    """Observer recording one :class:`StepRecord` per agent event (lock-relevant ones only)."""

    def __init__(self, key: bytes) -> None:
        self._codec = ControlCodec(key)
        self.steps: list[StepRecord] = []
        self._open: StepRecord | None = None

    def decode(self, data: bytes) -> ControlMessage | None:
        """Decode a control datagram without replay checks (``None`` if it is not one)."""
        try:
            return self._codec.decode(data, check_replay=False)
        except WireError:
            return None

    def before(self, host: Host, event: Event) -> None:
        """Snapshot the agent's locks and locate the lock the message addresses."""
        agent, ip = host.agent, host.ip
        msg = self.decode(event.data) if isinstance(event, ControlIn) else None
        sides = {id(s): s for s in _right_sides(agent)}
        rec = StepRecord(
            ip,
            event,
            msg,
            sides,
            {k: s.sub for k, s in sides.items()},
            {k: view(s.lock) for k, s in sides.items()},
            lefts_before={r: la.side for r, la in agent.lefts.items()},
            held_msgs=set(agent.held_msgs),
        )
        if msg is not None and msg.type in LOCK_TYPES:
            _locate(agent, msg, rec)
        self._open = rec

    def after(self, host: Host, event: Event, actions: list[Action]) -> None:
        """Snapshot again, decode what was sent, keep the step if it touched a lock."""
        agent = host.agent
        rec = self._open
        self._open = None
        if rec is None:
            return
        for s in _right_sides(agent):
            rec.sides.setdefault(id(s), s)
            rec.present_after.add(id(s))
        rec.after = {k: view(s.lock) for k, s in rec.sides.items()}
        rec.lefts_after = {r: la.side for r, la in agent.lefts.items()}
        for a in actions:
            if isinstance(a, Observe) and a.kind == "control.rejected":
                # e.g. an exact duplicate caught by the replay window: no lock logic runs
                rec.skip = rec.skip or f"rejected ({a.fields.get('code')})"
                rec.involved = None
            if isinstance(a, SendControl):
                m = self.decode(a.data)
                if m is not None:
                    rec.sent.append(m)
        interesting = (rec.msg is not None and rec.msg.type in LOCK_TYPES) or rec.before != {
            k: v for k, v in rec.after.items() if k in rec.before
        }
        if interesting or rec.lefts_before.keys() != rec.lefts_after.keys():
            self.steps.append(rec)


def _locate(agent: Agent, msg: ControlMessage, rec: StepRecord) -> None:
    """Find the lock a lock message addresses, as ``Agent`` will (before it runs)."""
    sub = msg.subsession
    if msg.type in (MsgType.REQUEST_LOCK, MsgType.CANCEL_LOCK):
        lside = agent.left_by_sub.get(sub) if sub is not None else None
        if lside is None:
            rec.skip = "unknown subsession"
            return
        rec.lside = lside
        rec.lside_sub = lside.sub
        if msg.right_anchor in agent.addresses:
            rec.skip = "right anchor"
            return
        if msg.type is MsgType.REQUEST_LOCK and msg.request in agent.abandoned:
            rec.skip = "abandoned request"
            return
        if lside.record.right is None:
            rec.skip = "last hop"
            return
        rec.involved = lside.record.right
    else:
        rside = agent.right_by_sub.get(sub) if sub is not None else None
        if rside is None:
            rec.skip = "unknown subsession"
            return
        rec.involved = rside
        left = rside.record.left
        rec.lside_sub = left.sub if left is not None else None


@dataclass(frozen=True)
class Divergence:
    """One disagreement between the agent and the table."""

    step: str
    what: str

    def __str__(self) -> str:
        return f"{self.step}: {self.what}"


def _apply(
    rec: StepRecord, lock: ALock, msg: LockMsg, r: RequestId, side: Side, log: list[str]
) -> tuple[ALock, Verdict, tuple[RequestId, ...]]:
    """Apply one table step and, recursively, the re-processing of a released request."""
    st = step(lock, msg, r)
    log.append(f"{msg.value}({r.number}) {st.row.note}")
    lock = st.lock
    if st.released is not None and (rec.subs.get(id(side)), st.released) in rec.held_msgs:
        lock, _v, _ref = _apply(rec, lock, LockMsg.REQUEST, st.released, side, log)
    return lock, st.verdict, st.refused


def _sent(rec: StepRecord, mtype: MsgType, r: RequestId, sub: object = None) -> bool:
    return any(
        m.type is mtype and m.request == r and (sub is None or m.subsession == sub)
        for m in rec.sent
    )


def check_step(rec: StepRecord) -> list[Divergence]:
    """Replay one recorded step against the table; return every divergence found."""
    out: list[Divergence] = []
    name = rec.describe()
    predicted = dict(rec.before)
    log: dict[int, list[str]] = {}
    # 1. the lock message itself
    verdict: Verdict | None = None
    refused: tuple[RequestId, ...] = ()
    msg = rec.msg
    if msg is not None and msg.type in LOCK_TYPES and rec.involved is not None:
        k = id(rec.involved)
        lm = LOCK_TYPES[msg.type]
        steps_k = log.setdefault(k, [])
        predicted[k], verdict, refused = _apply(
            rec, predicted[k], lm, msg.request, rec.involved, steps_k
        )
    # 2. left-anchor requests that ended (FINISH) or started (REQUEST) in this step
    for r, side in rec.lefts_before.items():
        if r not in rec.lefts_after and id(side) in predicted:
            k = id(side)
            predicted[k], _v, _ref = _apply(
                rec, predicted[k], LockMsg.FINISH, r, side, log.setdefault(k, [])
            )
    for r, side in rec.lefts_after.items():
        if r not in rec.lefts_before:
            k = id(side)
            if k not in predicted:
                out.append(Divergence(name, f"request {r} started on an unknown side"))
                continue
            predicted[k], v, _ref = _apply(
                rec, predicted[k], LockMsg.REQUEST, r, side, log.setdefault(k, [])
            )
            if v is not Verdict.FORWARD:
                out.append(Divergence(name, f"own request {r} started on a busy lock"))
    # 3. every lock must end where the table says
    for k, after in rec.after.items():
        want = predicted.get(k)
        if want is None or k not in rec.present_after:
            continue  # a side created or removed (session teardown) in this step
        if after != want:
            how = "; ".join(log.get(k, [])) or "no lock step expected"
            out.append(
                Divergence(
                    name,
                    f"lock {_fmt(rec.before.get(k))} -> {_fmt(after)}, table: {_fmt(want)} ({how})",
                )
            )
    # 4. the verdict on the message and the refusal of held requests
    if msg is not None and verdict is not None and rec.involved is not None:
        out.extend(_check_verdict(rec, msg, verdict, refused, name))
    return out


def _fmt(lock: ALock | None) -> str:
    if lock is None:
        return "-"
    owner = f"({lock.owner.number})" if lock.owner is not None else ""
    held = f" held={[h.number for h in lock.held]}" if lock.held else ""
    return f"{lock.status.value}{owner}{held}"


def _check_verdict(
    rec: StepRecord,
    msg: ControlMessage,
    verdict: Verdict,
    refused: tuple[RequestId, ...],
    name: str,
) -> list[Divergence]:
    out: list[Divergence] = []
    r = msg.request
    side = rec.involved
    assert side is not None
    sub = rec.subs[id(side)]
    lsub = rec.lside_sub
    own = r in rec.lefts_before and rec.lefts_before[r] is side
    if msg.type is MsgType.REQUEST_LOCK:
        fwd = _sent(rec, MsgType.REQUEST_LOCK, r, sub)
        nack = lsub is not None and _sent(rec, MsgType.NACK_LOCK, r, lsub)
        held = r in rec.after[id(side)].held
        got = (
            Verdict.FORWARD
            if fwd
            else Verdict.NACK
            if nack
            else Verdict.HOLD
            if held
            else Verdict.DROP
        )
    elif msg.type is MsgType.CANCEL_LOCK:
        got = Verdict.FORWARD if _sent(rec, MsgType.CANCEL_LOCK, r, sub) else Verdict.DROP
    else:
        passed = lsub is not None and _sent(rec, msg.type, r, lsub)
        got = Verdict.FORWARD if passed or (own and verdict is Verdict.FORWARD) else Verdict.DROP
    if got is not verdict:
        out.append(Divergence(name, f"verdict {got.value}, table: {verdict.value}"))
    for h in refused:
        if (sub, h) in rec.held_msgs and not _sent(rec, MsgType.NACK_LOCK, h):
            out.append(Divergence(name, f"held request {h.number} not refused"))
    return out


def check_all(steps: Iterable[StepRecord]) -> list[Divergence]:
    """Check every recorded step."""
    out: list[Divergence] = []
    for rec in steps:
        out.extend(check_step(rec))
    return out
