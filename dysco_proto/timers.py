"""Typed timer keys: what an agent's one-shot timers are for.

An agent arms a timer with :class:`~dysco_proto.actions.StartTimer` and gets it back as
:class:`~dysco_proto.events.TimerFired`; the key says which timer it is. A key is either about
a session record (``record``, its id: its close check or its pending chain set-up) or about a
reconfiguration request (``request``). ``str(key)`` is the stable text form
(``"cprobe:10.0.0.1/42"``, ``"close:7"``) used in logs and traces; :meth:`TimerKey.parse` reads
it back.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from dysco_proto.wire import RequestId


class TimerKind(enum.StrEnum):
    """The job of a timer (the text before the colon of the key's text form)."""

    CLOSE = "close"  # record: both FINs seen, check the last bytes are acknowledged (one
    # FIN seen: the half-closed session's watch)
    PENDING = "pending"  # record: the box never emitted the continuation SYN
    LOCK = "lock"  # left anchor: retransmit requestLock
    LPROBE = "lprobe"  # left anchor: probe+freeze again for the cutoff
    SYN = "syn"  # left anchor: retransmit the new-path SYN
    CPROBE = "cprobe"  # left anchor: probe again before the commit
    ACK = "ack"  # left anchor: retransmit ack
    PROBE = "probe"  # left anchor: completion probe
    CANCEL = "cancel"  # left anchor: retransmit cancelLock
    RSPROBE = "rsprobe"  # right anchor: probe+freeze again for the cutoff
    RPROBE = "rprobe"  # right anchor: completion probe
    RANCHOR = "ranchor"  # right anchor: staged but never committed, revert
    RR = "rr"  # requester: retransmit rightRequest
    DONE = "done"  # forget a finished request (duplicates no longer answered)


RECORD_KINDS = frozenset({TimerKind.CLOSE, TimerKind.PENDING})


@dataclass(frozen=True, slots=True)
class TimerKey:
    """One timer of an agent: its kind and the request (or session id) it belongs to."""

    kind: TimerKind
    request: RequestId | None = None
    record: int | None = None

    @classmethod
    def for_record(cls, kind: TimerKind, record: int) -> TimerKey:
        """A session's timer (``CLOSE`` or ``PENDING``)."""
        return cls(kind, record=record)

    @classmethod
    def for_request(cls, kind: TimerKind, request: RequestId) -> TimerKey:
        """A reconfiguration request's timer."""
        return cls(kind, request=request)

    def __str__(self) -> str:
        if self.request is not None:
            return f"{self.kind}:{self.request.anchor}/{self.request.number}"
        return f"{self.kind}:{self.record}"

    @classmethod
    def parse(cls, text: str) -> TimerKey | None:
        """The key of a text form (as :meth:`__str__` writes it); ``None`` if it is not one."""
        kind_s, _, arg = text.partition(":")
        try:
            kind = TimerKind(kind_s)
        except ValueError:
            return None
        if kind in RECORD_KINDS:
            return cls(kind, record=int(arg)) if arg.isdigit() else None
        anchor, _, num = arg.rpartition("/")
        if not anchor or not num.isdigit():
            return None
        return cls(kind, request=RequestId(anchor, int(num)))
