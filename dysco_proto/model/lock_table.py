"""The lock transition relation of one subsession, as one machine-readable table.

This table is the single source of the lock protocol (``docs/protocol-design.md`` section 4.1)
for two consumers:

- the Promela model: :mod:`dysco_proto.model.gen` turns it into ``lock_gen.pml`` (inline
  macros ``LOCK_REQUEST``, ``LOCK_ACK``, ...), which ``dysco.pml`` includes;
- the Python side: :mod:`dysco_proto.model.link` drives :mod:`dysco_proto.lock` and the real
  :class:`~dysco_proto.agent.Agent` through every row and replays multi-agent traces against
  :func:`step`.

A lock is held by the left end of a subsession: a status (UNLOCKED, PENDING, LOCKED), the
request that owns it, and a FIFO of *held* requests. A row is selected by the message, the
status and the relation of the message's request ``r`` to the owner (SAME or OTHER; for an
unlocked lock: whether ``r`` has already ended here, i.e. released it or was refused by it).
It gives the next status and owner, what happens to the held FIFO, the
verdict (what the agent does with the message) and whether the message "matches" the lock
state (the model asserts that a non-matching ackLock/nackLock only ever reaches a port when
its request is already stale at its left anchor).

FINISH is not a wire message: it is the left anchor ending its own request (completed,
refused or cancelled), which releases its own lock (``Agent._left_finish``).
"""

from __future__ import annotations

import enum
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar


class LockMsg(enum.StrEnum):
    """What arrives at a lock."""

    REQUEST = "request"  # requestLock(r) from the left (or the left anchor's own start)
    ACK = "ack"  # ackLock(r) from the right
    NACK = "nack"  # nackLock(r) from the right
    CANCEL = "cancel"  # cancelLock(r) from the left
    FINISH = "finish"  # the left anchor ends its own request r


class Status(enum.StrEnum):
    """Lock status (same values as :class:`dysco_proto.lock.LockStatus`)."""

    UNLOCKED = "unlocked"
    PENDING = "pending"
    LOCKED = "locked"


class Owner(enum.StrEnum):
    """Relation of the message's request to the lock owner, before and after a step."""

    NONE = "none"  # (after a step only) no owner: unlocked
    SAME = "same"  # the owner is the message's request r
    OTHER = "other"  # some other request owns the lock
    KEEP = "keep"  # (after a step only) unchanged


class HeldOp(enum.StrEnum):
    """What a step does to the FIFO of held requests."""

    KEEP = "keep"
    APPEND = "append"  # append r unless already held
    REFUSE_ALL = "refuse_all"  # every held request is refused (nacked); the FIFO empties
    RELEASE_FIRST = "release_first"  # the first held request (if any) is released: re-processed
    REMOVE = "remove"  # r is dropped from the FIFO if present


class Verdict(enum.StrEnum):
    """What the agent does with the message (same values as :class:`dysco_proto.lock.Verdict`).

    FORWARD means "pass on": to the next hop, or to the local anchor of ``r``.
    """

    FORWARD = "forward"
    HOLD = "hold"
    NACK = "nack"
    DROP = "drop"


@dataclass(frozen=True, slots=True)
class Row:
    """One transition of the lock relation."""

    msg: LockMsg
    status: Status
    owner: Owner
    next_status: Status
    next_owner: Owner
    held: HeldOp
    verdict: Verdict
    matching: bool
    note: str = ""


U, P, L = Status.UNLOCKED, Status.PENDING, Status.LOCKED
NONE, SAME, OTHER, KEEP = Owner.NONE, Owner.SAME, Owner.OTHER, Owner.KEEP
F, H, N, D = Verdict.FORWARD, Verdict.HOLD, Verdict.NACK, Verdict.DROP

TABLE: tuple[Row, ...] = (
    # requestLock(r) from the left
    Row(LockMsg.REQUEST, U, OTHER, P, SAME, HeldOp.KEEP, F, True, "take the lock, forward"),
    Row(LockMsg.REQUEST, U, SAME, U, KEEP, HeldOp.KEEP, N, True, "late copy of an ended r: nack"),
    Row(LockMsg.REQUEST, P, SAME, P, KEEP, HeldOp.KEEP, F, True, "retransmission: forward"),
    Row(LockMsg.REQUEST, P, OTHER, P, KEEP, HeldOp.APPEND, H, True, "contention: hold r"),
    Row(LockMsg.REQUEST, L, SAME, L, KEEP, HeldOp.KEEP, F, True, "retransmission: forward"),
    Row(LockMsg.REQUEST, L, OTHER, L, KEEP, HeldOp.KEEP, N, True, "locked by another: nack"),
    # ackLock(r) from the right
    Row(LockMsg.ACK, U, OTHER, U, KEEP, HeldOp.KEEP, D, False, "stale"),
    Row(LockMsg.ACK, U, SAME, U, KEEP, HeldOp.KEEP, D, False, "stale (r ended here)"),
    Row(LockMsg.ACK, P, SAME, L, KEEP, HeldOp.REFUSE_ALL, F, True, "granted: nack the held"),
    Row(LockMsg.ACK, P, OTHER, P, KEEP, HeldOp.KEEP, D, False, "stale"),
    Row(LockMsg.ACK, L, SAME, L, KEEP, HeldOp.REFUSE_ALL, F, True, "duplicate: forward"),
    Row(LockMsg.ACK, L, OTHER, L, KEEP, HeldOp.KEEP, D, False, "stale"),
    # nackLock(r) from the right
    Row(LockMsg.NACK, U, OTHER, U, KEEP, HeldOp.KEEP, D, False, "stale"),
    Row(LockMsg.NACK, U, SAME, U, KEEP, HeldOp.KEEP, D, False, "stale (r ended here)"),
    Row(LockMsg.NACK, P, SAME, U, NONE, HeldOp.RELEASE_FIRST, F, True, "refused: release"),
    Row(LockMsg.NACK, P, OTHER, P, KEEP, HeldOp.KEEP, D, False, "stale"),
    Row(LockMsg.NACK, L, SAME, L, KEEP, HeldOp.KEEP, D, False, "stale (already granted)"),
    Row(LockMsg.NACK, L, OTHER, L, KEEP, HeldOp.KEEP, D, False, "stale"),
    # cancelLock(r) from the left: always forwarded (the right anchor answers ackCancel)
    Row(LockMsg.CANCEL, U, OTHER, U, KEEP, HeldOp.REMOVE, F, False, "nothing to clear"),
    Row(LockMsg.CANCEL, U, SAME, U, KEEP, HeldOp.REMOVE, F, False, "already cleared"),
    Row(LockMsg.CANCEL, P, SAME, U, NONE, HeldOp.RELEASE_FIRST, F, True, "clear, release"),
    Row(LockMsg.CANCEL, P, OTHER, P, KEEP, HeldOp.REMOVE, F, False, "forget r if held"),
    Row(LockMsg.CANCEL, L, SAME, U, NONE, HeldOp.RELEASE_FIRST, F, True, "clear, release"),
    Row(LockMsg.CANCEL, L, OTHER, L, KEEP, HeldOp.REMOVE, F, False, "forget r if held"),
    # the left anchor ends its own request r
    Row(LockMsg.FINISH, U, OTHER, U, KEEP, HeldOp.KEEP, D, True, "already free"),
    Row(LockMsg.FINISH, U, SAME, U, KEEP, HeldOp.KEEP, D, True, "already ended"),
    Row(LockMsg.FINISH, P, SAME, U, NONE, HeldOp.RELEASE_FIRST, F, True, "release"),
    Row(LockMsg.FINISH, P, OTHER, P, KEEP, HeldOp.KEEP, D, True, "not ours"),
    Row(LockMsg.FINISH, L, SAME, U, NONE, HeldOp.RELEASE_FIRST, F, True, "release"),
    Row(LockMsg.FINISH, L, OTHER, L, KEEP, HeldOp.KEEP, D, True, "not ours"),
)
"""Every (message, status, owner relation) appears exactly once."""

STATES: tuple[tuple[Status, Owner], ...] = (
    (U, SAME),
    (U, OTHER),
    (P, SAME),
    (P, OTHER),
    (L, SAME),
    (L, OTHER),
)
"""The reachable (status, owner relation) pairs. An UNLOCKED lock has no owner; its relation
to ``r`` says whether ``r`` already ended here, releasing it or refused by it (SAME: a late
copy of ``r``'s requestLock must not take it again, finding orphan-lock in ``MODEL.md``), or
not (OTHER)."""


def row_for(msg: LockMsg, status: Status, owner: Owner) -> Row:
    """The unique row for ``(msg, status, owner)``; ``KeyError`` if the table has none."""
    for row in TABLE:
        if row.msg is msg and row.status is status and row.owner is owner:
            return row
    raise KeyError((msg, status, owner))


R = TypeVar("R", bound=Hashable)


@dataclass(frozen=True, slots=True)
class Lock(Generic[R]):
    """An abstract lock value: status, owner (``None`` iff unlocked) and held FIFO."""

    status: Status = Status.UNLOCKED
    owner: R | None = None
    held: tuple[R, ...] = ()
    ended: frozenset[R] = frozenset()  # requests that released this lock or were refused by it


@dataclass(frozen=True, slots=True)
class Step(Generic[R]):
    """The outcome of one table step on a concrete lock."""

    row: Row
    lock: Lock[R]
    verdict: Verdict
    refused: tuple[R, ...] = ()  # held requests to nack (REFUSE_ALL)
    released: R | None = None  # held request to re-process as a requestLock (RELEASE_FIRST)


def relation(lock: Lock[R], r: R) -> Owner:
    """The owner relation of ``r`` to ``lock`` (unlocked: whether ``r`` ended here)."""
    if lock.status is Status.UNLOCKED:
        return Owner.SAME if r in lock.ended else Owner.OTHER
    return Owner.SAME if lock.owner == r else Owner.OTHER


def step(lock: Lock[R], msg: LockMsg, r: R) -> Step[R]:
    """Apply the table to a concrete lock: the predicted next lock, verdict and side effects."""
    row = row_for(msg, lock.status, relation(lock, r))
    held: Sequence[R] = lock.held
    refused: tuple[R, ...] = ()
    released: R | None = None
    if row.held is HeldOp.APPEND:
        held = (*held, r) if r not in held else held
    elif row.held is HeldOp.REFUSE_ALL:
        refused, held = tuple(held), ()
    elif row.held is HeldOp.RELEASE_FIRST:
        if held:
            released, held = held[0], held[1:]
    elif row.held is HeldOp.REMOVE:
        held = tuple(h for h in held if h != r)
    owner: R | None
    if row.next_owner is Owner.KEEP:
        owner = lock.owner
    elif row.next_owner is Owner.SAME:
        owner = r
    else:
        owner = None
    ended = lock.ended | set(refused)  # held requests refused by the grant
    if row.status is not Status.UNLOCKED and row.next_status is Status.UNLOCKED:
        ended = ended | {r}  # r released the lock
    if row.verdict is Verdict.NACK:
        ended = ended | {r}  # r refused here
    new = Lock(row.next_status, owner, tuple(held), frozenset(ended))
    return Step(row, new, row.verdict, refused, released)


def check_table() -> None:
    """Structural sanity: total over the reachable states, owners consistent with status."""
    seen = set()
    for row in TABLE:
        key = (row.msg, row.status, row.owner)
        if key in seen:
            raise ValueError(f"duplicate row {key}")
        seen.add(key)
        if (row.status, row.owner) not in STATES:
            raise ValueError(f"unreachable state in row {row}")
        unlocked_after = row.next_status is Status.UNLOCKED
        if row.next_owner is Owner.NONE and not unlocked_after:
            raise ValueError(f"owner cleared but still locked: {row}")
        if row.next_owner is Owner.KEEP and unlocked_after != (row.status is Status.UNLOCKED):
            raise ValueError(f"owner kept across an unlock: {row}")
    for msg in LockMsg:
        for status, owner in STATES:
            if (msg, status, owner) not in seen:
                raise ValueError(f"missing row {(msg, status, owner)}")
