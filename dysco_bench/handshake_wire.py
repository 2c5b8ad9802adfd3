"""Where a chained handshake's time goes, on the wire (microseconds, no debug logging).

``python -m dysco_bench.handshake_wire [--connects N] [--port 9100] [--json]`` (root) starts the
default testbed (``dysco bench e2e``'s), runs ``tcpdump -Q in`` on every device's ports (the
host ports and ``net``), makes N connects to the server's ``--port`` (9100: through [fw, mon];
9003: no policy) and prints, per step between two consecutive arrivals of the connect's SYN or
SYN-ACK at a device, the median and range over the connects. A chained SYN keeps its sequence
number along the chain (and the SYN-ACK acknowledges it), so one connect's frames line up
across the devices. ``<host>:net`` is a frame arriving at the device of ``<host>`` from the
network, ``<host>:host`` one from the host itself (a box's SYN sent on, the server's SYN-ACK):
the step into a ``:net`` arrival is the previous device's punt (packet-in, controller, Write,
packet-out) plus the bridge; the step from ``<box>:net`` to ``<box>:host`` is the device's
punt plus the box's kernel. Stamps are the kernel's (``tcpdump -tt``, one clock): the figure's
resolution is a microsecond, what it measures the path between two frames.
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

_LINE = re.compile(
    r"^(\d+\.\d+) IP \S+ > [\d.]+\.(\d+): Flags \[([\w.]+)\], seq (\d+)(?::\d+)?"
    r"(?:, ack (\d+))?"
)


def arrivals(
    lines_by_point: dict[str, Iterable[str]], port: int
) -> dict[int, list[tuple[float, str]]]:
    """Per connect to ``port`` (its SYN's sequence number): ``(seconds, point.syn|
    point.synack)`` of each SYN and SYN-ACK that arrived at a capture point, in time order.
    A connect is to ``port`` if its first SYN (the client's, before any rewrite) is."""
    out: dict[int, list[tuple[float, str, int]]] = defaultdict(list)
    for point, lines in lines_by_point.items():
        for line in lines:
            m = _LINE.match(line)
            if m is None:
                continue
            t, dport, flags, seq, ack = m.groups()
            if flags == "S":
                out[int(seq)].append((float(t), f"{point}.syn", int(dport)))
            elif flags == "S." and ack is not None:
                out[(int(ack) - 1) & 0xFFFFFFFF].append((float(t), f"{point}.synack", 0))
    res = {}
    for seq, v in out.items():
        v.sort()
        if v[0][1].endswith(".syn") and v[0][2] == port:
            res[seq] = [(t, p) for t, p, _d in v]
    return res


def steps(conns: dict[int, list[tuple[float, str]]]) -> tuple[list[str], dict[str, list[float]]]:
    """The step names of the most common path and, per step and ``total``, the milliseconds
    of every connect that took that path."""
    paths: dict[tuple[str, ...], list[list[tuple[float, str]]]] = defaultdict(list)
    for v in conns.values():
        if len(v) >= 2:
            paths[tuple(p for _t, p in v)].append(v)
    if not paths:
        return [], {}
    path, runs = max(paths.items(), key=lambda kv: len(kv[1]))
    got: dict[str, list[float]] = defaultdict(list)
    for v in runs:
        for (ta, a), (tb, b) in itertools.pairwise(v):
            got[f"{a} -> {b}"].append((tb - ta) * 1000)
        got["total"].append((v[-1][0] - v[0][0]) * 1000)
    return list(path), dict(got)


def summary(got: dict[str, list[float]]) -> dict[str, dict[str, float]]:
    return {
        k: {"p50_ms": round(statistics.median(v), 3), "min_ms": round(min(v), 3),
            "max_ms": round(max(v), 3), "n": len(v)}
        for k, v in got.items()
    }  # fmt: skip


def capture(connects: int, port: int) -> dict[str, list[str]]:
    """Run the connects on the default testbed with tcpdump on every device port."""
    from dysco_bench.e2e_bench import CHAIN_PORT, CONNECT, DIRECT_PORT
    from dysco_testbed.bed import Testbed, load_topology

    other = DIRECT_PORT if port != DIRECT_PORT else CHAIN_PORT
    lines: dict[str, list[str]] = {}
    with Testbed(load_topology(None), log=lambda m: print(m, file=sys.stderr)) as tb:
        echo = [tb.spawn("server", [sys.executable, "-m", "dysco_testbed.traffic", "server",
                                    "--port", str(p)], name="traffic")
                for p in (CHAIN_PORT, DIRECT_PORT)]  # fmt: skip
        dumps: list[tuple[str, subprocess.Popen[str]]] = []
        try:
            for d in tb.devices:
                name = d.hosts[0].name if d.hosts else d.name
                for ifc, point in [(f"h{j}", f"{h.name}:host") for j, h in enumerate(d.hosts)] + [
                    ("net", f"{name}:net")
                ]:
                    p = subprocess.Popen(
                        ["ip", "netns", "exec", d.ns, "tcpdump", "-l", "-n", "-tt", "-i", ifc,
                         "--time-stamp-precision=micro", "-Q", "in",
                         "tcp[tcpflags] & tcp-syn != 0"],
                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
                    )  # fmt: skip
                    dumps.append((point, p))
            time.sleep(1.5)  # tcpdump attached, echo servers listening
            # the bench's connect loop, all connects on the arm asked for ("a" = first port)
            p = tb.spawn("client", [sys.executable, "-c", CONNECT, tb.addr("server"), str(port),
                                    str(other), str(connects), "a"], name="connect")  # fmt: skip
            _out, err = p.communicate(timeout=60 + 5 * connects)
            if p.returncode != 0:
                raise RuntimeError(f"connects failed: {err.strip()[-300:]}")
            time.sleep(0.5)
        finally:
            for _point, d_ in dumps:
                d_.send_signal(signal.SIGINT)
            for point, d_ in dumps:
                out, _ = d_.communicate(timeout=10)
                lines[point] = out.splitlines()
            for e in echo:
                e.terminate()
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m dysco_bench.handshake_wire", description=__doc__)
    ap.add_argument("--connects", type=int, default=20)
    ap.add_argument("--port", type=int, default=9100, help="9100: [fw, mon]; 9003: no policy")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--from-dir", type=Path, help="parse saved captures (<point>.txt) instead")
    a = ap.parse_args(argv)
    if a.from_dir is not None:
        lines = {f.stem: f.read_text().splitlines() for f in sorted(a.from_dir.glob("*.txt"))}
    elif os.geteuid() != 0:
        print("handshake_wire: needs root (namespaces, tcpdump)", file=sys.stderr)
        return 2
    else:
        lines = capture(a.connects, a.port)
    conns = arrivals(lines, a.port)
    order, got = steps(conns)
    if not got:
        print("no connect found", file=sys.stderr)
        return 1
    res: dict[str, Any] = {"connects": len(got["total"]), "steps": summary(got), "path": order}
    if a.json:
        print(json.dumps(res, sort_keys=True))
        return 0
    print(f"connects: {res['connects']}")
    for k, v in res["steps"].items():
        print(f"{k:34} p50 {v['p50_ms']:8.3f} ms  min {v['min_ms']:8.3f}  max {v['max_ms']:8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
