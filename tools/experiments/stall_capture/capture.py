"""Capture the `replace-fw` step of the stall scenario, run by run (issue 15; root).

``python tools/experiments/stall_capture/capture.py OUTDIR RUNS`` (from the repository root,
PATH and LD_LIBRARY_PATH as for the benches) starts the default testbed once, then RUNS
times: ``tcpdump -S`` (absolute sequence numbers) on every device port (``-Q in``) and on the
client's and server's ``eth0``, each host's TCP counters before and after (``nstat -az``), and
the stall scenario's first step alone (`replace-fw` at 2 s of 4 s of traffic). Per run it
writes ``r{k}_{point}.txt``, ``r{k}_{host}_nstat{0,1}.txt`` and ``r{k}.json`` (the
receivers' longest stall per direction) and prints one line. ``summary.py`` reads them.
Which tree it runs is PYTHONPATH's (to compare two trees, alternate runs between them).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from dysco_bench import e2e_bench as eb
from dysco_testbed.bed import Testbed, load_topology
from dysco_testbed.scenarios import Spec, Step, run

DATA_OR_FLAGS = (
    "tcp and (ip[2:2] - ((ip[0]&0xf)<<2) - ((tcp[12]&0xf0)>>2)) > 0"
    " or tcp[tcpflags] & (tcp-syn|tcp-fin|tcp-rst) != 0"
)


def _dump(ns: str, ifc: str, path: str, filt: str, inbound: bool) -> subprocess.Popen[str]:
    args = ["ip", "netns", "exec", ns, "tcpdump", "-l", "-n", "-tt", "-S", "-i", ifc, "-B",
            "16384", "-s", "128", "--time-stamp-precision=micro"]  # fmt: skip
    args += ["-Q", "in"] if inbound else []
    with open(path, "w") as f:
        return subprocess.Popen([*args, filt], stdout=f, stderr=subprocess.DEVNULL, text=True)


def _nstat(ns: str) -> str:
    p = subprocess.run(["ip", "netns", "exec", ns, "nstat", "-az"], capture_output=True, text=True)
    return p.stdout


def one_run(tb: Testbed, out: str, k: int) -> dict[str, object]:
    dumps = []
    for d in tb.devices:
        name = d.hosts[0].name if d.hosts else d.name
        points = [(f"h{j}", f"{h.name}_host") for j, h in enumerate(d.hosts)]
        for ifc, point in [*points, ("net", f"{name}_net")]:
            dumps.append(_dump(d.ns, ifc, f"{out}/r{k}_{point}.txt", DATA_OR_FLAGS, True))
    hosts = ("client", "server")
    for h in hosts:
        dumps.append(_dump(tb.hosts[h].ns, "eth0", f"{out}/r{k}_{h}_eth0.txt", "tcp port 9100",
                           False))  # fmt: skip
    before = {h: _nstat(tb.hosts[h].ns) for h in hosts}
    time.sleep(1.0)
    spec = Spec("stall", port=eb.CHAIN_PORT, seconds=4.0, rate=4e6, sample_ms=10.0,
                steps=[Step(2.0, "replace-fw", "client", "replace", "mon", ["fw2"])])  # fmt: skip
    t_wall = time.time()
    r = run(tb, spec, log=lambda m: print(m, file=sys.stderr, flush=True))
    time.sleep(0.5)
    for p in dumps:
        p.send_signal(signal.SIGINT)
    for p in dumps:
        p.wait(timeout=10)
    for h in hosts:
        with open(f"{out}/r{k}_{h}_nstat0.txt", "w") as f:
            f.write(before[h])
        with open(f"{out}/r{k}_{h}_nstat1.txt", "w") as f:
            f.write(_nstat(tb.hosts[h].ns))
    res = {"t_wall": t_wall, "c2s": eb.stall_from_samples(r.samples_c2s),
           "s2c": eb.stall_from_samples(r.samples_s2c),
           "outcomes": [x.outcomes for x in r.reconfigs]}  # fmt: skip
    with open(f"{out}/r{k}.json", "w") as f:
        json.dump(res, f)
    return res


def main() -> int:
    out, runs = sys.argv[1], int(sys.argv[2])
    os.makedirs(out, exist_ok=True)
    with Testbed(load_topology(None), log=lambda m: print(m, file=sys.stderr)) as tb:
        for k in range(runs):
            res = one_run(tb, out, k)
            c2s, s2c = res["c2s"], res["s2c"]
            print(f"run {k}: c2s {c2s['longest_ms']} ms, s2c {s2c['longest_ms']} ms", flush=True)  # type: ignore[index]
    return 0


if __name__ == "__main__":
    sys.exit(main())
