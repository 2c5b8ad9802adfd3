"""Helpers for tests that tamper with the answers to an anchor's slot probes on the model
driver (``dysco_proto.model.driver``)."""

from __future__ import annotations

from collections.abc import Callable

from dysco_proto.actions import Action, StartTimer
from dysco_proto.events import Event, SlotSnapshot
from dysco_proto.model.driver import Driver, Host
from dysco_proto.timers import TimerKind


class TimerArms:
    """Driver observer: the delays of the timers of ``kind`` that ``host`` arms (any host if
    None), in order; ``answers`` True keeps only those armed in answer to a probe's answer
    (the re-polls), False only the others (the watch a probe arms when it is sent)."""

    def __init__(self, kind: TimerKind, host: Host | None = None, answers: bool = True) -> None:
        self.kind, self.host, self.answers = kind, host, answers
        self.delays: list[float] = []

    def before(self, host: Host, event: Event) -> None:
        pass

    def after(self, host: Host, event: Event, actions: list[Action]) -> None:
        if isinstance(event, SlotSnapshot) != self.answers:
            return
        if self.host is not None and host is not self.host:
            return
        for a in actions:
            if isinstance(a, StartTimer) and a.timer_id.kind is self.kind:
                self.delays.append(a.delay)


def tamper_answers(
    drv: Driver,
    host: Host,
    purpose: str,
    count: int,
    change: Callable[[SlotSnapshot], SlotSnapshot | None],
) -> Callable[[], int]:
    """Pass the first ``count`` answers to ``host``'s probes of ``purpose`` through ``change``
    (None: the answer is lost); returns how many were changed so far."""
    done = 0
    handle = drv.handle

    def tampered(h: Host, event: Event) -> None:
        nonlocal done
        if (
            isinstance(event, SlotSnapshot)
            and h is host
            and done < count
            and h.agent.tokens.get(event.token, ("",))[0] == purpose
        ):
            done += 1
            changed = change(event)
            if changed is None:
                return
            event = changed
        handle(h, event)

    drv.handle = tampered  # type: ignore[method-assign,assignment]
    return lambda: done
