"""Deterministic discrete-event engine.

Events are kept in a binary heap of ``(time, seq, callback, argument)``; ``seq`` is a global
insertion counter, so events scheduled for the same instant run in the order they were
scheduled (FIFO) and a run is a pure function of the seed. The engine never reads the wall
clock and never touches the global :mod:`random` state: every component draws from a
:class:`random.Random` that the simulator seeds explicitly.

Cancelling is lazy: callers that need to cancel (timers) keep a generation number and ignore
stale firings, which keeps the heap operations O(log n) and the engine tiny.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable
from typing import Any

Callback = Callable[[Any], None]


class Engine:
    """A clock plus a time-ordered queue of callbacks."""

    __slots__ = ("_heap", "_seq", "_stopped", "events", "now")

    def __init__(self) -> None:
        self.now: float = 0.0
        self.events: int = 0
        self._heap: list[tuple[float, int, Callback, Any]] = []
        self._seq = 0
        self._stopped = False

    def at(self, time: float, callback: Callback, arg: Any = None) -> None:
        """Run ``callback(arg)`` at absolute time ``time`` (never earlier than now)."""
        if time < self.now:
            time = self.now
        self._seq += 1
        heapq.heappush(self._heap, (time, self._seq, callback, arg))

    def after(self, delay: float, callback: Callback, arg: Any = None) -> None:
        """Run ``callback(arg)`` ``delay`` seconds from now (``delay`` >= 0)."""
        self._seq += 1
        heapq.heappush(self._heap, (self.now + max(0.0, delay), self._seq, callback, arg))

    def stop(self) -> None:
        """Make the current :meth:`run` return after the running callback."""
        self._stopped = True

    @property
    def pending(self) -> int:
        """Number of queued events (including stale timer firings)."""
        return len(self._heap)

    def run(self, until: float) -> None:
        """Process events in order until the queue is empty, :meth:`stop` is called, or the
        next event is later than ``until`` (the clock then stays at the last processed event,
        or advances to ``until`` if the queue still holds later events)."""
        heap = self._heap
        pop = heapq.heappop
        self._stopped = False
        while heap and not self._stopped:
            time = heap[0][0]
            if time > until:
                self.now = until
                return
            _, _, callback, arg = pop(heap)
            self.now = time
            self.events += 1
            callback(arg)
