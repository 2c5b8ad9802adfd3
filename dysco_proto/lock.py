"""The lock state of one subsession, held by its left end, and its transitions.

Pure functions over :class:`LockState`, shared by the agent and by the model link check
(``dysco_proto/model``): the Promela model's lock process implements the same table.

Transitions (r is the incoming request, r' another one):

- UNLOCKED: requestLock(r) -> PENDING(r), forward, unless r already ended at this lock (it
  released it, or this lock refused it): then it is a late copy (a retransmission that lost
  the race with its nack or cancel) and is nacked, never re-locked (finding orphan-lock,
  ``dysco_proto/model/MODEL.md``); ackLock/nackLock -> drop (stale).
- PENDING(r): requestLock(r) -> forward again (retransmission); ackLock(r) -> LOCKED(r) and
  every held request is nacked; nackLock(r) -> UNLOCKED and the first held request is released.
- PENDING(r'): requestLock(r) -> hold r.
- LOCKED(r): requestLock(r) -> forward again; ackLock(r) -> forward (duplicate);
  nackLock(r) -> drop (stale).
- LOCKED(r'): requestLock(r) -> nack r.
- cancelLock(r) in PENDING(r) or LOCKED(r) -> UNLOCKED (first held released); always forwarded.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from dysco_proto.wire import RequestId


class LockStatus(enum.StrEnum):
    UNLOCKED = "unlocked"
    PENDING = "pending"
    LOCKED = "locked"


class Verdict(enum.StrEnum):
    """What the holder of a subsession lock does with a lock message."""

    FORWARD = "forward"  # pass the message on (state updated)
    HOLD = "hold"  # keep the request until the pending one resolves
    NACK = "nack"  # refuse the request
    DROP = "drop"  # stale or non-matching: ignore


ENDED_MEMORY = 8
"""How many requests that ended at a lock (released or refused it) the lock remembers: their
late copies are refused."""


@dataclass(slots=True)
class LockState:
    """Lock flags of one subsession plus the FIFO of held requests (request, sender info),
    and the last requests that ended here (released or were refused by this lock)."""

    status: LockStatus = LockStatus.UNLOCKED
    request: RequestId | None = None
    held: list[RequestId] = field(default_factory=list)
    ended: list[RequestId] = field(default_factory=list)

    @property
    def free(self) -> bool:
        return self.status is LockStatus.UNLOCKED

    def end(self, r: RequestId) -> None:
        """Remember that ``r`` ended at this lock."""
        if r in self.ended:
            self.ended.remove(r)
        self.ended.append(r)
        del self.ended[:-ENDED_MEMORY]

    def release(self) -> None:
        """The owner lets go: unlocked, its request remembered as ended."""
        if self.request is not None:
            self.end(self.request)
        self.status, self.request = LockStatus.UNLOCKED, None


def on_request(lock: LockState, r: RequestId) -> Verdict:
    """An incoming (or own) requestLock for the subsession."""
    if lock.status is LockStatus.UNLOCKED:
        if r in lock.ended:
            return Verdict.NACK  # a late copy of a request that already ended here
        lock.status, lock.request = LockStatus.PENDING, r
        return Verdict.FORWARD
    if lock.request == r:
        return Verdict.FORWARD  # a retransmission: pass it on again
    if lock.status is LockStatus.PENDING:
        if r not in lock.held:
            lock.held.append(r)
        return Verdict.HOLD
    lock.end(r)  # refused: its late copies are refused too
    return Verdict.NACK


def on_ack(lock: LockState, r: RequestId) -> tuple[Verdict, list[RequestId]]:
    """ackLock(r) from the right. Returns the verdict and the held requests to nack."""
    if lock.request != r or lock.status is LockStatus.UNLOCKED:
        return Verdict.DROP, []
    lock.status = LockStatus.LOCKED
    refused, lock.held = lock.held, []
    for x in refused:
        lock.end(x)
    return Verdict.FORWARD, refused


def on_nack(lock: LockState, r: RequestId) -> tuple[Verdict, RequestId | None]:
    """nackLock(r) from the right. Returns the verdict and the held request to release."""
    if lock.request != r or lock.status is not LockStatus.PENDING:
        return Verdict.DROP, None
    lock.release()
    nxt = lock.held.pop(0) if lock.held else None
    return Verdict.FORWARD, nxt


def on_cancel(lock: LockState, r: RequestId) -> tuple[Verdict, RequestId | None]:
    """cancelLock(r): clear the lock if r holds it; always forwarded (for the ackCancel)."""
    if lock.request == r and lock.status is not LockStatus.UNLOCKED:
        lock.release()
        nxt = lock.held.pop(0) if lock.held else None
        return Verdict.FORWARD, nxt
    if r in lock.held:
        lock.held.remove(r)
    return Verdict.FORWARD, None


def drop_held(lock: LockState, r: RequestId) -> None:
    """Forget a held request (its requester gave up)."""
    if r in lock.held:
        lock.held.remove(r)
