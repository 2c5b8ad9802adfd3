# ruff: noqa: E501
"""The reconfiguration phases of the anchors, as one machine-readable table.

Like the lock table (:mod:`dysco_proto.model.lock_table`) this is the single source of the
anchors' state machines (``docs/protocol-design.md`` section 4):

- the agent is driven by it: every phase change goes through :func:`row_for` with the
  anchor's current phase, the trigger and the guard the agent evaluated; the row gives the
  next phase (``Agent._lstep``, ``_rstep``, ``_pstep``). A step the table has no row for is a
  programming error (``KeyError``);
- the agent is checked against it: :mod:`dysco_proto.model.phase_link` records the steps an
  agent takes and verifies that the phases before and after every ``Agent.handle`` call are
  explained by the rows taken and that the actions a row lists were emitted;
- the state diagrams and the phase table of ``docs/protocol-design.md`` section 4 are generated
  from it (``python -m dysco_proto.model.phase_doc``).

A row is ``(role, phase, trigger, guard) -> (actions, next phase)``. ``IDLE`` and ``DONE``
are pseudo-phases: no record of the request exists before ``IDLE`` rows or after ``DONE``.
A (phase, trigger) pair with no row means the trigger is ignored in that phase (a stale or
duplicate message, a timer of an earlier phase).

Roles: the left anchor runs the request (``LEFT``), the right anchor answers it (``RIGHT``),
and a box host that asks its left neighbour to run one (a ``rightRequest``, e.g. a proxy
asking to be removed) is a ``REQUESTER`` until the request is taken up.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Role(enum.StrEnum):
    """Which end of a reconfiguration a record belongs to."""

    LEFT = "left"
    RIGHT = "right"
    REQUESTER = "requester"


class LeftPhase(enum.StrEnum):
    """Phases of a left anchor (stored in checkpoints by value)."""

    IDLE = "idle"  # pseudo: no record yet
    LOCKING = "locking"  # requestLock sent, waiting for ackLock / nackLock
    PREPARING = "preparing"  # locked; new path staged on hold, freezing the cutoff
    SYN_SENT = "syn_sent"  # new-path SYN sent, waiting for the SYN-ACK and synAck
    COMMITTING = "committing"  # waiting for the host to ack the peer's old-path bytes
    COMMITTED = "committed"  # third ACK and ack sent, waiting for ackAck
    SWITCHED = "switched"  # both on the new path, waiting for the old path to drain
    CANCELLING = "cancelling"  # cancelLock sent, waiting for ackCancel
    DONE = "done"  # pseudo: the record is gone


class RightPhase(enum.StrEnum):
    """Phases of a right anchor (stored in checkpoints by value)."""

    IDLE = "idle"
    LOCKED = "locked"  # ackLock sent, waiting for the new-path SYN
    PREPARING = "preparing"  # new path staged on hold, freezing the cutoff
    SYN_RCVD = "syn_rcvd"  # SYN-ACK sent, waiting for the left anchor's ack
    SWITCHED = "switched"  # on the new path, waiting for the old path to drain
    DONE = "done"  # pseudo: folded or reverted (a folded request still answers ack)


class RequesterPhase(enum.StrEnum):
    """Phases of a rightRequest at the box host that sent it."""

    IDLE = "idle"
    WAITING = "waiting"  # rightRequest sent, waiting for a requestLock or nackLock
    DONE = "done"


Phase = LeftPhase | RightPhase | RequesterPhase


class Trigger(enum.StrEnum):
    """What makes an anchor step: a command, a message, a punted packet, a snapshot, a timer."""

    RECONFIGURE = "Reconfigure"  # management command at the left anchor
    REMOVE_ME = "RemoveMe"  # management command at a box host
    RIGHT_REQUEST = "rightRequest"  # from the right neighbour: run this request
    REQUEST_LOCK = "requestLock"
    ACK_LOCK = "ackLock"
    NACK_LOCK = "nackLock"
    CANCEL_LOCK = "cancelLock"
    ACK_CANCEL = "ackCancel"
    NEW_PATH_SYN = "new-path SYN"  # the TCP SYN (with the syn message) on the new path
    SYNACK_PACKET = "new-path SYN-ACK"  # the right anchor's SYN-ACK, absorbed (punt)
    SYN_ACK_MSG = "synAck"
    ACK_MSG = "ack"
    ACK_ACK = "ackAck"
    SNAP_CUT = "snapshot: cutoff"  # answer to the freezing probe
    SNAP_COMMIT = "snapshot: commit"  # answer to the left anchor's commit probe
    SNAP_CHECK = "snapshot: drained?"  # answer to a completion probe, or a latch report
    TIMER_LOCK = "timer lock"
    TIMER_LPROBE = "timer lprobe"
    TIMER_SYN = "timer syn"
    TIMER_CPROBE = "timer cprobe"
    TIMER_ACK = "timer ack"
    TIMER_PROBE = "timer probe"
    TIMER_CANCEL = "timer cancel"
    TIMER_RSPROBE = "timer rsprobe"
    TIMER_RPROBE = "timer rprobe"
    TIMER_RANCHOR = "timer ranchor"
    TIMER_RR = "timer rr"
    SESSION_REMOVED = "session removed"  # the side went away (closed, idle, evicted)


class Guard(enum.StrEnum):
    """The condition the agent evaluated to choose among rows of one (phase, trigger)."""

    ANY = ""
    RETRY = "retries left"
    GIVE_UP = "retries exhausted"
    NOT_YET = "not yet"  # the snapshot does not allow the step: probe again
    NO_PORT = "no port"
    BUSY = "side busy"
    ABANDONED = "abandoned request"  # nack POLICY: the requester gave up already
    HELD_TOO_LONG = "held too long"  # hold_timeout passed while holding the host's data
    OTHER_HALF = "other half missing"  # SYN-ACK packet without synAck message or vice versa
    AFTER_HOLD = "last hold not drained"  # bytes the side's previous hold dropped not yet acked


class Act(enum.StrEnum):
    """What a row does. Acts marked (checked) are verified against the emitted actions."""

    TAKE_LOCK = "take own lock"
    SEND_REQUEST_LOCK = "send requestLock"  # (checked)
    SEND_ACK_LOCK = "send ackLock"  # (checked)
    SEND_NACK_LOCK = "send nackLock"  # (checked)
    SEND_CANCEL_LOCK = "send cancelLock"  # (checked)
    SEND_ACK_CANCEL = "send ackCancel"  # (checked)
    SEND_RIGHT_REQUEST = "send rightRequest"  # (checked)
    SEND_SYN = "send new-path SYN"  # (checked)
    SEND_SYNACK = "send SYN-ACK, window update, synAck"  # (checked)
    SEND_THIRD_ACK = "send third ACK"  # (checked)
    SEND_ACK = "send ack"  # (checked)
    SEND_ACK_ACK = "send ackAck"  # (checked)
    STAGE_HOLD = "install new IN, stage HOLD"  # (checked)
    SWITCH = "stage new path"  # (checked) OUT entry's new rewrite = the new subsession
    PROBE = "probe"  # (checked)
    PROBE_FREEZE = "probe+freeze"  # (checked)
    UNSTAGE = "unstage new path"
    REVERT = "revert staged path"
    FOLD = "fold"  # (checked) the entries become single-path on the new subsession
    ARM_LOCK = "arm lock"  # (checked) every ARM_x: StartTimer of kind x
    ARM_LPROBE = "arm lprobe"
    ARM_SYN = "arm syn"
    ARM_CPROBE = "arm cprobe"
    ARM_ACK = "arm ack"
    ARM_PROBE = "arm probe"
    ARM_CANCEL = "arm cancel"
    ARM_RSPROBE = "arm rsprobe"
    ARM_RPROBE = "arm rprobe"
    ARM_RANCHOR = "arm ranchor"
    ARM_RR = "arm rr"
    FINISH_COMPLETED = "finish: completed"  # (checked) ReconfigFinished(outcome)
    FINISH_CANCELLED = "finish: cancelled"
    FINISH_REFUSED = "finish: refused"


@dataclass(frozen=True, slots=True)
class Row:
    """One transition of an anchor: ``(role, phase, trigger, guard) -> (acts, next)``."""

    role: Role
    phase: Phase
    trigger: Trigger
    guard: Guard
    acts: tuple[Act, ...]
    next: Phase
    note: str = ""

    @property
    def key(self) -> tuple[Role, str, Trigger, Guard]:
        return (self.role, self.phase.value, self.trigger, self.guard)


# fmt: off
T, G, A = Trigger, Guard, Act
LP, RP, QP = LeftPhase, RightPhase, RequesterPhase
L, R, Q = Role.LEFT, Role.RIGHT, Role.REQUESTER

_CANCEL = (A.UNSTAGE, A.SEND_CANCEL_LOCK, A.ARM_CANCEL)
_REMOVED = "the side went away: end the request"

LEFT_ROWS: tuple[Row, ...] = (
    Row(L, LP.IDLE, T.RECONFIGURE, G.ANY, (A.TAKE_LOCK, A.SEND_REQUEST_LOCK, A.ARM_LOCK), LP.LOCKING, "start"),
    Row(L, LP.IDLE, T.RIGHT_REQUEST, G.ANY, (A.TAKE_LOCK, A.SEND_REQUEST_LOCK, A.ARM_LOCK), LP.LOCKING, "start for the right neighbour"),
    Row(L, LP.LOCKING, T.ACK_LOCK, G.ANY, (A.STAGE_HOLD, A.PROBE_FREEZE, A.ARM_LPROBE), LP.PREPARING, "locked: stage the new path, freeze the cutoff"),
    Row(L, LP.LOCKING, T.ACK_LOCK, G.AFTER_HOLD, (A.STAGE_HOLD, A.PROBE, A.ARM_LPROBE), LP.PREPARING, "locked after a hold: stage the new path, no freeze yet"),
    Row(L, LP.LOCKING, T.ACK_LOCK, G.NO_PORT, _CANCEL, LP.CANCELLING, "no port for the new subsession"),
    Row(L, LP.LOCKING, T.NACK_LOCK, G.ANY, (A.FINISH_REFUSED,), LP.DONE, "refused"),
    Row(L, LP.LOCKING, T.NACK_LOCK, G.ABANDONED, (), LP.DONE, "the requester reported already"),
    Row(L, LP.LOCKING, T.TIMER_LOCK, G.RETRY, (A.SEND_REQUEST_LOCK, A.ARM_LOCK), LP.LOCKING, "retransmit"),
    Row(L, LP.LOCKING, T.TIMER_LOCK, G.GIVE_UP, _CANCEL, LP.CANCELLING, "lock-timeout"),
    Row(L, LP.LOCKING, T.SESSION_REMOVED, G.ANY, (A.FINISH_CANCELLED,), LP.DONE, _REMOVED),
    Row(L, LP.PREPARING, T.SNAP_CUT, G.NOT_YET, (A.ARM_LPROBE,), LP.PREPARING, "host sent nothing yet"),
    Row(L, LP.PREPARING, T.SNAP_CUT, G.AFTER_HOLD, (A.ARM_LPROBE,), LP.PREPARING, "what the last hold dropped not yet acked: nothing held meanwhile"),
    Row(L, LP.PREPARING, T.SNAP_CUT, G.ANY, (A.SEND_SYN, A.ARM_SYN), LP.SYN_SENT, "SYN at cut - 1"),
    Row(L, LP.PREPARING, T.TIMER_LPROBE, G.ANY, (A.PROBE_FREEZE, A.ARM_LPROBE), LP.PREPARING, "probe again"),
    Row(L, LP.PREPARING, T.TIMER_LPROBE, G.AFTER_HOLD, (A.PROBE, A.ARM_LPROBE), LP.PREPARING, "probe again, no freeze"),
    Row(L, LP.PREPARING, T.SESSION_REMOVED, G.ANY, (A.FINISH_CANCELLED,), LP.DONE, _REMOVED),
    Row(L, LP.SYN_SENT, T.SYNACK_PACKET, G.OTHER_HALF, (), LP.SYN_SENT, "wait for synAck"),
    Row(L, LP.SYN_SENT, T.SYNACK_PACKET, G.ANY, (A.PROBE, A.ARM_CPROBE), LP.COMMITTING, "both halves in"),
    Row(L, LP.SYN_SENT, T.SYN_ACK_MSG, G.OTHER_HALF, (), LP.SYN_SENT, "wait for the SYN-ACK"),
    Row(L, LP.SYN_SENT, T.SYN_ACK_MSG, G.ANY, (A.PROBE, A.ARM_CPROBE), LP.COMMITTING, "both halves in"),
    Row(L, LP.SYN_SENT, T.TIMER_SYN, G.RETRY, (A.SEND_SYN, A.ARM_SYN), LP.SYN_SENT, "retransmit"),
    Row(L, LP.SYN_SENT, T.TIMER_SYN, G.GIVE_UP, _CANCEL, LP.CANCELLING, "new-path-timeout"),
    Row(L, LP.SYN_SENT, T.TIMER_SYN, G.HELD_TOO_LONG, _CANCEL, LP.CANCELLING, "new-path-timeout"),
    Row(L, LP.SYN_SENT, T.SESSION_REMOVED, G.ANY, (A.FINISH_CANCELLED,), LP.DONE, _REMOVED),
    Row(L, LP.COMMITTING, T.SNAP_COMMIT, G.NOT_YET, (A.ARM_CPROBE,), LP.COMMITTING, "peer's old bytes not acked yet"),
    Row(L, LP.COMMITTING, T.SNAP_COMMIT, G.ANY, (A.SEND_THIRD_ACK, A.SWITCH, A.SEND_ACK, A.ARM_ACK), LP.COMMITTED, "commit: never cancels after this"),
    Row(L, LP.COMMITTING, T.SNAP_COMMIT, G.HELD_TOO_LONG, _CANCEL, LP.CANCELLING, "new-path-timeout: never commit late (the right anchor gives up)"),
    Row(L, LP.COMMITTING, T.TIMER_CPROBE, G.ANY, (A.PROBE, A.ARM_CPROBE), LP.COMMITTING, "probe again"),
    Row(L, LP.COMMITTING, T.TIMER_CPROBE, G.HELD_TOO_LONG, _CANCEL, LP.CANCELLING, "new-path-timeout"),
    Row(L, LP.COMMITTING, T.SESSION_REMOVED, G.ANY, (A.FINISH_CANCELLED,), LP.DONE, _REMOVED),
    Row(L, LP.COMMITTED, T.TIMER_ACK, G.ANY, (A.SEND_ACK, A.ARM_ACK), LP.COMMITTED, "retransmit, never give up"),
    Row(L, LP.COMMITTED, T.ACK_ACK, G.ANY, (A.SWITCH, A.PROBE, A.ARM_PROBE), LP.SWITCHED, "stage the peer's cutoff"),
    Row(L, LP.COMMITTED, T.SESSION_REMOVED, G.ANY, (A.FINISH_CANCELLED,), LP.DONE, _REMOVED),
    Row(L, LP.SWITCHED, T.TIMER_PROBE, G.ANY, (A.PROBE, A.ARM_PROBE), LP.SWITCHED, "probe again"),
    Row(L, LP.SWITCHED, T.SNAP_CHECK, G.NOT_YET, (), LP.SWITCHED, "old path not drained"),
    Row(L, LP.SWITCHED, T.SNAP_CHECK, G.ANY, (A.FOLD, A.FINISH_COMPLETED), LP.DONE, "completed"),
    Row(L, LP.SWITCHED, T.SESSION_REMOVED, G.ANY, (A.FINISH_CANCELLED,), LP.DONE, _REMOVED),
    Row(L, LP.CANCELLING, T.ACK_CANCEL, G.ANY, (A.FINISH_CANCELLED,), LP.DONE, "cancelled"),
    Row(L, LP.CANCELLING, T.NACK_LOCK, G.ANY, (A.FINISH_REFUSED,), LP.DONE, "refused while cancelling"),
    Row(L, LP.CANCELLING, T.NACK_LOCK, G.ABANDONED, (), LP.DONE, "the requester reported already"),
    Row(L, LP.CANCELLING, T.TIMER_CANCEL, G.RETRY, (A.SEND_CANCEL_LOCK, A.ARM_CANCEL), LP.CANCELLING, "retransmit"),
    Row(L, LP.CANCELLING, T.TIMER_CANCEL, G.GIVE_UP, (A.FINISH_CANCELLED,), LP.DONE, "give up on ackCancel"),
    Row(L, LP.CANCELLING, T.SESSION_REMOVED, G.ANY, (A.FINISH_CANCELLED,), LP.DONE, _REMOVED),
)

_ACK_AGAIN = "a retransmitted requestLock: ack again"
_RSYNACK = (A.SEND_SYNACK,)

RIGHT_ROWS: tuple[Row, ...] = (
    Row(R, RP.IDLE, T.REQUEST_LOCK, G.ANY, (A.SEND_ACK_LOCK, A.ARM_RANCHOR), RP.LOCKED, "become the right anchor"),
    Row(R, RP.IDLE, T.REQUEST_LOCK, G.AFTER_HOLD, (A.PROBE, A.ARM_RANCHOR, A.ARM_RSPROBE), RP.LOCKED, "become the right anchor after a hold: the ackLock waits"),
    Row(R, RP.IDLE, T.REQUEST_LOCK, G.BUSY, (A.SEND_NACK_LOCK,), RP.IDLE, "busy or closing: refuse"),
    Row(R, RP.LOCKED, T.REQUEST_LOCK, G.ANY, (A.SEND_ACK_LOCK,), RP.LOCKED, _ACK_AGAIN),
    Row(R, RP.LOCKED, T.REQUEST_LOCK, G.AFTER_HOLD, (), RP.LOCKED, "a retransmission while the ackLock waits"),
    Row(R, RP.LOCKED, T.SNAP_CUT, G.AFTER_HOLD, (A.ARM_RSPROBE,), RP.LOCKED, "what the last hold dropped not yet acked"),
    Row(R, RP.LOCKED, T.SNAP_CUT, G.ANY, (A.SEND_ACK_LOCK, A.ARM_RANCHOR), RP.LOCKED, "drained: ackLock, the anchor timer from now"),
    Row(R, RP.LOCKED, T.TIMER_RSPROBE, G.AFTER_HOLD, (A.PROBE, A.ARM_RSPROBE), RP.LOCKED, "probe again"),
    Row(R, RP.LOCKED, T.NEW_PATH_SYN, G.ANY, (A.STAGE_HOLD, A.ARM_RANCHOR, A.PROBE_FREEZE, A.ARM_RSPROBE), RP.PREPARING, "stage the new path, freeze the cutoff"),
    Row(R, RP.LOCKED, T.CANCEL_LOCK, G.ANY, (A.REVERT, A.SEND_ACK_CANCEL), RP.DONE, "cancelled"),
    Row(R, RP.LOCKED, T.TIMER_RANCHOR, G.ANY, (A.REVERT,), RP.DONE, "anchor timeout"),
    Row(R, RP.LOCKED, T.SESSION_REMOVED, G.ANY, (), RP.DONE, _REMOVED),
    Row(R, RP.PREPARING, T.REQUEST_LOCK, G.ANY, (A.SEND_ACK_LOCK,), RP.PREPARING, _ACK_AGAIN),
    Row(R, RP.PREPARING, T.SNAP_CUT, G.NOT_YET, (A.ARM_RSPROBE,), RP.PREPARING, "no cut yet, or the left anchor's old bytes not acked"),
    Row(R, RP.PREPARING, T.SNAP_CUT, G.ANY, _RSYNACK, RP.SYN_RCVD, "SYN-ACK at cut - 1"),
    Row(R, RP.PREPARING, T.TIMER_RSPROBE, G.ANY, (A.PROBE_FREEZE, A.ARM_RSPROBE), RP.PREPARING, "probe again"),
    Row(R, RP.PREPARING, T.CANCEL_LOCK, G.ANY, (A.REVERT, A.SEND_ACK_CANCEL), RP.DONE, "cancelled"),
    Row(R, RP.PREPARING, T.TIMER_RANCHOR, G.ANY, (A.REVERT,), RP.DONE, "anchor timeout"),
    Row(R, RP.PREPARING, T.SESSION_REMOVED, G.ANY, (), RP.DONE, _REMOVED),
    Row(R, RP.SYN_RCVD, T.REQUEST_LOCK, G.ANY, (A.SEND_ACK_LOCK,), RP.SYN_RCVD, _ACK_AGAIN),
    Row(R, RP.SYN_RCVD, T.NEW_PATH_SYN, G.ANY, _RSYNACK, RP.SYN_RCVD, "a repeated SYN: answer again"),
    Row(R, RP.SYN_RCVD, T.ACK_MSG, G.ANY, (A.SWITCH, A.SEND_ACK_ACK, A.PROBE, A.ARM_RPROBE), RP.SWITCHED, "the left anchor committed"),
    Row(R, RP.SYN_RCVD, T.CANCEL_LOCK, G.ANY, (A.REVERT, A.SEND_ACK_CANCEL), RP.DONE, "cancelled"),
    Row(R, RP.SYN_RCVD, T.TIMER_RANCHOR, G.ANY, (A.REVERT,), RP.DONE, "anchor timeout"),
    Row(R, RP.SYN_RCVD, T.SESSION_REMOVED, G.ANY, (), RP.DONE, _REMOVED),
    Row(R, RP.SWITCHED, T.REQUEST_LOCK, G.ANY, (A.SEND_ACK_LOCK,), RP.SWITCHED, _ACK_AGAIN),
    Row(R, RP.SWITCHED, T.NEW_PATH_SYN, G.ANY, (), RP.SWITCHED, "a late copy: not answered (the left anchor has the SYN-ACK)"),
    Row(R, RP.SWITCHED, T.ACK_MSG, G.ANY, (A.SEND_ACK_ACK,), RP.SWITCHED, "a repeated ack"),
    Row(R, RP.SWITCHED, T.CANCEL_LOCK, G.ANY, (A.SEND_ACK_CANCEL,), RP.SWITCHED, "too late to cancel: ackCancel only"),
    Row(R, RP.SWITCHED, T.TIMER_RPROBE, G.ANY, (A.PROBE, A.ARM_RPROBE), RP.SWITCHED, "probe again"),
    Row(R, RP.SWITCHED, T.SNAP_CHECK, G.NOT_YET, (), RP.SWITCHED, "old path not drained"),
    Row(R, RP.SWITCHED, T.SNAP_CHECK, G.ANY, (A.FOLD,), RP.DONE, "completed (remembered for a repeated ack)"),
    Row(R, RP.SWITCHED, T.SESSION_REMOVED, G.ANY, (), RP.DONE, _REMOVED),
    Row(R, RP.DONE, T.ACK_MSG, G.ANY, (A.SEND_ACK_ACK,), RP.DONE, "a repeated ack after the fold"),
)

REQUESTER_ROWS: tuple[Row, ...] = (
    Row(Q, QP.IDLE, T.REMOVE_ME, G.ANY, (A.SEND_RIGHT_REQUEST, A.ARM_RR), QP.WAITING, "ask the left neighbour"),
    Row(Q, QP.WAITING, T.TIMER_RR, G.RETRY, (A.SEND_RIGHT_REQUEST, A.ARM_RR), QP.WAITING, "retransmit"),
    Row(Q, QP.WAITING, T.TIMER_RR, G.GIVE_UP, (A.FINISH_CANCELLED,), QP.DONE, "abandon (later requestLocks for it are nacked)"),
    Row(Q, QP.WAITING, T.REQUEST_LOCK, G.ANY, (), QP.DONE, "taken up: the left anchor reports"),
    Row(Q, QP.WAITING, T.NACK_LOCK, G.ANY, (A.FINISH_REFUSED,), QP.DONE, "the left neighbour refused"),
    Row(Q, QP.WAITING, T.SESSION_REMOVED, G.ANY, (A.FINISH_CANCELLED,), QP.DONE, _REMOVED),
)

# fmt: on

TABLE: tuple[Row, ...] = LEFT_ROWS + RIGHT_ROWS + REQUESTER_ROWS
"""Every (role, phase, trigger, guard) appears exactly once."""

PHASES: dict[Role, type[LeftPhase] | type[RightPhase] | type[RequesterPhase]] = {
    Role.LEFT: LeftPhase,
    Role.RIGHT: RightPhase,
    Role.REQUESTER: RequesterPhase,
}

_INDEX: dict[tuple[Role, str, Trigger, Guard], Row] = {row.key: row for row in TABLE}


def row_for(role: Role, phase: Phase, trigger: Trigger, guard: Guard = Guard.ANY) -> Row:
    """The unique row for ``(role, phase, trigger, guard)``; ``KeyError`` if there is none."""
    return _INDEX[(role, phase.value, trigger, guard)]


FINISH_OUTCOMES: dict[Act, str] = {
    Act.FINISH_COMPLETED: "completed",
    Act.FINISH_CANCELLED: "cancelled",
    Act.FINISH_REFUSED: "refused",
}
"""The outcome (:class:`dysco_proto.actions.Outcome` value) each finishing act reports."""


def finish_outcome(row: Row) -> str | None:
    """The outcome a row reports to whoever asked for the reconfiguration, if any."""
    for act in row.acts:
        if act in FINISH_OUTCOMES:
            return FINISH_OUTCOMES[act]
    return None


def check_table() -> None:
    """Structural sanity: unique keys, phases of the row's role, every phase reachable from
    IDLE, DONE reachable from every phase, no row out of DONE except answers (self-loops)."""
    seen: set[tuple[Role, str, Trigger, Guard]] = set()
    for row in TABLE:
        if row.key in seen:
            raise ValueError(f"duplicate row {row.key}")
        seen.add(row.key)
        kind = PHASES[row.role]
        if not isinstance(row.phase, kind) or not isinstance(row.next, kind):
            raise ValueError(f"phase of another role in {row}")
        if row.phase.value == "done" and row.next.value != "done":
            raise ValueError(f"a row leaves DONE: {row}")
        if row.phase.value == "idle" and not row.acts:
            raise ValueError(f"a start row without actions: {row}")
    for role, kind in PHASES.items():
        rows = [r for r in TABLE if r.role is role]
        reach = {kind("idle")}
        while True:
            more = {r.next for r in rows if r.phase in reach} - reach
            if not more:
                break
            reach |= more
        missing = set(kind) - reach
        if missing:
            raise ValueError(f"{role}: unreachable phases {sorted(missing)}")
        for phase in kind:
            if phase.value in ("idle", "done"):
                continue
            if not any(r.phase is phase and r.trigger is Trigger.SESSION_REMOVED for r in rows):
                raise ValueError(f"{role} {phase}: no row for a removed session")


check_table()
