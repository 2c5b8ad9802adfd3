"""One line per run of ``capture.py``'s output directories (issue 15).

``python tools/experiments/stall_capture/summary.py DIR [DIR ...]``: per run, the longest
receiver stall each way, the hold of the client's data (bytes it sent at or above the cutoff
before the anchors' window update reached it, ``held``) against the server's window then
(``window``), the update's window field, and the hosts' counters that tell a stall's cause:
the sender's RTOs and reordering undos, the receiver's drops beyond its window, by PAWS and
by challenge ACK (RFC 5961).
"""

from __future__ import annotations

import glob
import json
import os
import re
import sys

LINE = re.compile(
    r"IP (\S+) > (\S+): Flags \[([^\]]+)\], (?:seq (\d+):(\d+), )?ack (\d+), win (\d+)(.*)"
)
COUNTERS = ("TcpExtTCPTimeouts", "TcpExtTCPSACKReorder", "TcpExtBeyondWindow",
            "TcpExtPAWSEstab", "TcpExtTCPChallengeACK")  # fmt: skip


def hold(path: str, t0: float) -> tuple[int | None, int | None, int | None]:
    """(held bytes, the server's window before the update, the update's window field) from
    the client's ``eth0`` capture: the update is the first pure ack from the server side
    without a timestamp option after 1.8 s."""
    sent_hi = wnd = None
    with open(path) as f:
        lines = f.readlines()
    for line in lines:
        stamp, _, rest = line.partition(" ")
        try:
            if float(stamp) - t0 < 1.8:
                continue
        except ValueError:
            continue
        m = LINE.match(rest)
        if m is None:
            continue
        src, _dst, _fl, _s1, s2, ack, win, opts = m.groups()
        if src.endswith(".9100"):
            if s2 is None and "TS val" not in opts:
                held = (sent_hi - int(ack)) % (1 << 32) if sent_hi is not None else None
                return held, wnd, int(win)
            wnd = int(win) * 1024  # this testbed's server scales by 10
        elif s2 is not None:
            sent_hi = int(s2)
    return None, wnd, None


def counters(d: str, k: int, host: str) -> dict[str, int]:
    def read(n: int) -> dict[str, int]:
        out = {}
        with open(f"{d}/r{k}_{host}_nstat{n}.txt") as f:
            lines = f.readlines()
        for line in lines:
            p = line.split()
            if len(p) >= 2 and p[1].isdigit():
                out[p[0]] = int(p[1])
        return out

    a, b = read(0), read(1)
    return {c.removeprefix("TcpExt"): b.get(c, 0) - a.get(c, 0) for c in COUNTERS
            if b.get(c, 0) - a.get(c, 0)}  # fmt: skip


def main() -> int:
    for d in sys.argv[1:]:
        for f in sorted(glob.glob(f"{d}/r*.json"), key=lambda p: int(p.rsplit("r", 1)[1][:-5])):
            k = int(os.path.basename(f)[1:-5])
            with open(f) as fh:
                r = json.load(fh)
            held, wnd, upd = hold(f"{d}/r{k}_client_eth0.txt", r["t_wall"])
            c, s = counters(d, k, "client"), counters(d, k, "server")
            print(f"{d} run {k}: c2s {r['c2s']['longest_ms']} ms s2c {r['s2c']['longest_ms']} ms"
                  f" held {held} window {wnd} update {upd} client {c} server {s}")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
