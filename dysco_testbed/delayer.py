"""A middlebox that delays, reorders and drops: the testbed's stand-in for ``netem``.

These kernels have no ``netem`` qdisc, but ``nfnetlink_queue`` is there: an nftables rule in
the box's namespace (``meta l4proto tcp queue num N bypass`` on the forward hook) hands every
forwarded TCP packet to this process, which drops it with probability ``--loss`` and
otherwise gives the verdict ``accept`` after ``--delay`` +- ``--jitter`` seconds (uniform), so
packets overtake each other (reordering). With ``bypass`` the kernel forwards packets unqueued
while no process listens (start-up, exit). Uses PyPI's ``NetfilterQueue`` (Debian's
``libnetfilter-queue``).

    python -m dysco_testbed.delayer --queue 0 --delay 0.02 --jitter 0.005 --loss 0.01

Prints one line per second: packets queued, delayed, dropped.
"""

from __future__ import annotations

import argparse
import heapq
import itertools
import random
import select
import signal
import sys
import time
from typing import Any


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="delayer", description=__doc__.split("\n\n")[0])
    p.add_argument("--queue", type=int, default=0, help="nfqueue number")
    p.add_argument("--delay", type=float, default=0.02, help="mean delay (s)")
    p.add_argument("--jitter", type=float, default=0.005, help="uniform +- (s)")
    p.add_argument("--loss", type=float, default=0.01, help="drop probability")
    p.add_argument("--seed", type=int, default=None, help="random seed")
    p.add_argument("--run", default="", help="testbed run id (names the process for cleanup)")
    a = p.parse_args(argv)
    if not (0 <= a.loss < 1 and a.delay >= 0 and 0 <= a.jitter <= a.delay):
        print("delayer: need 0 <= loss < 1 and 0 <= jitter <= delay", file=sys.stderr)
        return 2
    try:
        from netfilterqueue import NetfilterQueue
    except ImportError:
        print("delayer: PyPI package NetfilterQueue is not installed", file=sys.stderr)
        return 2
    rng = random.Random(a.seed)
    due: list[tuple[float, int, Any]] = []
    order = itertools.count()
    stats = {"queued": 0, "delayed": 0, "dropped": 0}

    def on_packet(pkt: Any) -> None:
        stats["queued"] += 1
        if rng.random() < a.loss:
            stats["dropped"] += 1
            pkt.drop()
            return
        at = time.monotonic() + a.delay + rng.uniform(-a.jitter, a.jitter)
        heapq.heappush(due, (at, next(order), pkt))

    stop = False

    def on_signal(_s: int, _f: Any) -> None:
        nonlocal stop
        stop = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    nfq = NetfilterQueue()
    nfq.bind(a.queue, on_packet, max_len=4096)
    fd = nfq.get_fd()
    next_report = time.monotonic() + 1.0
    try:
        while not stop:
            now = time.monotonic()
            while due and due[0][0] <= now:
                _at, _n, pkt = heapq.heappop(due)
                pkt.accept()
                stats["delayed"] += 1
            wait = min(0.05, max(0.0, due[0][0] - now)) if due else 0.05
            ready, _, _ = select.select([fd], [], [], wait)
            if ready:
                nfq.run(block=False)
            if now >= next_report:
                print(" ".join(f"{k}={v}" for k, v in stats.items()), flush=True)
                next_report = now + 1.0
    finally:
        for _at, _n, pkt in due:
            pkt.accept()
        nfq.unbind()
    return 0


if __name__ == "__main__":
    sys.exit(main())
