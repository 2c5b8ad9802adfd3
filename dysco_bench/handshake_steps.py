"""Where a chained handshake's time goes, from the controllers' debug logs of a testbed run.

Run ``DYSCO_TESTBED_LOGS=DIR DYSCO_TESTBED_LOG_LEVEL=debug dysco bench e2e --rounds 1``, then
``python -m dysco_bench.handshake_steps DIR/<run> [--port 9100]``. Every controller logs each
event it handled (``controller.trace``, millisecond stamps); a chained connect's SYN keeps its
sequence number along the chain, so its punts at every device line up: client's device (OUT),
first box's device (IN from the network, then OUT when the box sent it on), ..., the server's
device (IN), then the server's SYN-ACK mirrored on its way back. Prints, per step between two
consecutive punts, the median and range over the connects found.
"""

from __future__ import annotations

import itertools
import re
import statistics
import sys
from collections import defaultdict
from pathlib import Path

import yaml

_TRACE = re.compile(
    r"^\S+ (\d+):(\d+):(\d+),(\d+) DEBUG controller\.trace: (?:\d+: )?"  # agent id
    r"PacketIn\(reason=<PuntReason\.(\w+):"
    r" '\w+'>, direction=<Direction\.(\w+):.*?src_port=(\d+), dst_ip='[\d.]+', dst_port=(\d+)"
    r".*?seq=(\d+), ack=(\d+)"
)


def _host_names(run: Path) -> dict[str, str]:
    """Device name -> the name of its (first) host, from the run's controller configurations."""
    out = {}
    for cfg in run.glob("*.yaml"):
        with open(cfg) as f:
            data = yaml.safe_load(f)
        if isinstance(data, dict) and "ports" in data:
            hosts = data["ports"].get("hosts") or []
            out[cfg.stem] = hosts[0]["name"] if hosts else cfg.stem
    return out


def events(run: Path, port: int) -> dict[int, list[tuple[float, str]]]:
    """Per connect (its SYN's sequence number): ``(seconds, step)`` of every SYN punt towards
    ``port`` and every SYN-ACK mirror from it, ``step`` = ``host.direction`` / ``host.synack``."""
    names = _host_names(run)
    out: dict[int, list[tuple[float, str]]] = defaultdict(list)
    for log in sorted(run.glob("*.controller.log")):
        dev = log.name.split(".")[0]
        host = names.get(dev, dev)
        for line in log.read_text(errors="replace").splitlines():
            m = _TRACE.match(line)
            if m is None:
                continue
            h, mi, s, ms, reason, direction, sport, dport, seq, ack = m.groups()
            t = int(h) * 3600 + int(mi) * 60 + int(s) + int(ms) / 1000
            if reason == "SYN" and int(dport) == port:
                out[int(seq)].append((t, f"{host}.{direction.lower()}"))
            elif reason == "SYNACK_MIRROR" and int(sport) == port:
                out[int(ack) - 1].append((t, f"{host}.synack.{direction.lower()}"))
    return out


def steps(evs: dict[int, list[tuple[float, str]]]) -> tuple[list[str], dict[str, list[float]]]:
    """The most common order of a connect's SYN punts, ended by the SYN-ACK mirrored at the
    first device (the answer is back at the client's device; the other mirrors are not on
    the path), and the milliseconds of each step over the connects that had them all."""
    firsts = []
    for e in evs.values():
        first: dict[str, float] = {}
        for t, name in sorted(e):
            first.setdefault(name, t)
        firsts.append(first)
    orders: dict[tuple[str, ...], int] = defaultdict(int)
    for first in firsts:
        syns = sorted((n for n in first if ".synack." not in n), key=first.__getitem__)
        if syns:
            orders[(*syns, syns[0].split(".")[0] + ".synack.in")] += 1
    if not orders:
        return [], {}

    def rank(o: tuple[str, ...]) -> tuple[int, int]:
        return len(o), orders[o]

    best: tuple[str, ...] = max(orders, key=rank)
    order = list(best)
    if not any(order[-1] in first for first in firsts):
        order.pop()  # no SYN-ACK mirror there (a session without a chain): the SYNs only
    out: dict[str, list[float]] = defaultdict(list)
    for first in firsts:
        if not all(o in first for o in order):
            continue
        for a, b in itertools.pairwise(order):
            out[f"{a} -> {b}"].append((first[b] - first[a]) * 1000)
        out["total"].append((first[order[-1]] - first[order[0]]) * 1000)
    return order, out


def main(argv: list[str]) -> int:
    if not argv or argv[0].startswith("-"):
        print(
            "usage: python -m dysco_bench.handshake_steps RUN_LOG_DIR [--port N]", file=sys.stderr
        )
        return 2
    port = int(argv[argv.index("--port") + 1]) if "--port" in argv else 9100
    _order, got = steps(events(Path(argv[0]), port))
    if not got.get("total"):
        print("no connect found (debug logs? --port?)", file=sys.stderr)
        return 1
    print(f"connects: {len(got['total'])}")
    for k, v in got.items():
        print(f"{k:34} p50 {statistics.median(v):7.1f} ms  min {min(v):7.1f}  max {max(v):7.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
