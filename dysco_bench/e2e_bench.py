"""``dysco bench e2e``: four figures on the default testbed (speed figures, never timed tests).

Every figure that is a ratio compares two arms measured in the same run, interleaved (the
arms alternate, and which arm goes first alternates from round to round), from the medians
of ``--rounds`` rounds; every round is in the JSON.

- ``handshake_ratio``: TCP connect() time through the two-box chain [fw, mon] (port 9100)
  over the time between the same namespaces without a policy (port 9003). One process in the
  client namespace alternates the two connects; each round gives a median per arm.
- ``reconfig_p50_ms`` / ``reconfig_p99_ms``: time from request to one path again (the
  agent's measure) for ``--reconfigs`` inserts/removes of the monitor in an iperf3 session
  under load. The load is paced (``--load-mbps``, default 200; 0: as fast as it goes) and
  lasts until the last reconfiguration has ended (each one records whether the load was
  still running). Unpaced, iperf3 saturates both cores the testbed shares among 8 DPDK
  agents and 8 controllers, and the figure measures CPU starvation rather than the protocol.
- ``longest_stall_ms``: the longest time between two received-byte increases around three
  reconfigurations, both directions. The receivers sample their byte count on a timer every
  :data:`STALL_SAMPLE_MS`; ``stall_resolution_ms`` is the interval the timers actually
  achieved (median), and the longest stall comes with its bounds (the sample before the
  stall's first and after its last unchanged sample). ``stall.tcp`` gives what the two hosts'
  stacks counted meanwhile (:data:`TCP_COUNTERS`: RTOs, window and PAWS drops, recoveries).
- ``goodput_ratio``: iperf3 in a Dysco session (a policy with an empty chain: every packet
  rewritten by the pipeline, port 9002) over iperf3 with no policy (plain forwarding, port
  5202) between the same two hosts through the same DPDK agents. iperf3 through the chain
  [fw, nat] (port 5201) is reported once too: its packets also cross two box hosts and four
  more agent passes, so it has no plain baseline on this testbed.
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
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from dysco_testbed.bed import Testbed, load_topology
from dysco_testbed.scenarios import Spec, Step, run

PLAIN_POLICY_PORT = 9002  # the default testbed's policy with an empty chain
CHAIN_PORT, DIRECT_PORT = 9100, 9003  # [fw, mon]; no policy (traffic echo servers)
IPERF_CHAIN, IPERF_PLAIN = 5201, 5202  # [fw, nat]; no policy (iperf3 servers)
DEFAULT_ROUNDS = 5
CONNECTS_PER_ROUND = 10  # per arm
GOODPUT_SECONDS = 3
STALL_SAMPLE_MS = 10.0
TARGETS = {
    "handshake_ratio": "<= 2.5",
    "reconfig_p50_ms": "<= 20",
    "reconfig_p99_ms": "<= 50",
    "longest_stall_ms": "<= 100",
    "goodput_ratio": ">= 0.9",
}

CONNECT = r"""
import json, socket, sys, time
dst, a, b, n, first = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
ts = {a: [], b: []}
order = (a, b) if first == "a" else (b, a)
for i in range(n):
    for port in order:
        s = socket.socket(); t = time.perf_counter(); s.connect((dst, port))
        ts[port].append((time.perf_counter() - t) * 1000); s.close(); time.sleep(0.02)
print(json.dumps([ts[a], ts[b]]))
"""


def pct(v: Sequence[float], q: float) -> float:
    """The ``q`` quantile of ``v`` (nearest rank), ``nan`` if empty."""
    s = sorted(v)
    return s[min(len(s) - 1, int(q * (len(s) - 1) + 0.5))] if s else float("nan")


def arm_order(r: int, arms: tuple[str, str]) -> tuple[str, str]:
    """The arms of round ``r`` in the order they run (the first arm alternates by round)."""
    return arms if r % 2 == 0 else (arms[1], arms[0])


def ratio_of_rounds(
    rounds: list[dict[str, Any]], num: str, den: str, digits: int = 3
) -> dict[str, Any]:
    """Median of ``num`` over median of ``den`` across ``rounds`` (each a dict with both
    keys), and the median of the per-round ratios (same rounds, paired)."""
    a = [float(r[num]) for r in rounds]
    b = [float(r[den]) for r in rounds]
    per = [x / y for x, y in zip(a, b, strict=True) if y > 0]
    ma, mb = statistics.median(a), statistics.median(b)
    return {
        f"{num}_median": round(ma, 3),
        f"{den}_median": round(mb, 3),
        "ratio": round(ma / mb, digits) if mb > 0 else None,
        "ratio_of_round_ratios_median": round(statistics.median(per), digits) if per else None,
        "ratio_min_max": [round(min(per), digits), round(max(per), digits)] if per else None,
    }


def stall_from_samples(samples: list[list[float]]) -> dict[str, Any]:
    """The longest time between two increases of the received byte count in timer samples
    ``[t, cumulative bytes]`` (seconds), and the sampling interval achieved.

    The stall runs from the sample ``i`` that saw bytes to the next sample ``j`` that saw
    more; the bytes ending it arrived in ``(t[j-1], t[j]]`` and those before it in
    ``(t[i-1], t[i]]``, so the true gap lies in ``[t[j-1] - t[i], t[j] - t[i-1]]``."""
    ts = [float(s[0]) for s in samples]
    intervals = [b - a for a, b in itertools.pairwise(ts)]
    best: tuple[float, float, float, float] | None = None
    last_change: int | None = None
    for j in range(1, len(samples)):
        if samples[j][1] <= samples[j - 1][1]:
            continue
        if last_change is not None:
            i = last_change
            gap = ts[j] - ts[i]
            if best is None or gap > best[0]:
                best = (gap, ts[j - 1] - ts[i], ts[j] - ts[i - 1], ts[i])
        last_change = j
    ms = [x * 1000 for x in intervals]
    return {
        "longest_ms": round(best[0] * 1000, 1) if best else None,
        "bounds_ms": [round(best[1] * 1000, 1), round(best[2] * 1000, 1)] if best else None,
        "at_s": round(best[3], 3) if best else None,
        "samples": len(samples),
        "interval_ms": {
            "p50": round(pct(ms, 0.5), 2) if ms else None,
            "p99": round(pct(ms, 0.99), 2) if ms else None,
            "max": round(max(ms), 2) if ms else None,
        },
    }


_SEQ = re.compile(r"^(\d+\.\d+) IP .* seq (\d+):(\d+),")


def wire_gaps(lines: list[str]) -> tuple[list[tuple[float, float, int]], int, int]:
    """Every gap between two packets that carried new bytes (sequence numbers beyond every one
    seen before, modulo 2**32), from ``tcpdump -tt -S`` lines of one flow: ``(start, length,
    retransmissions inside it)`` in kernel receive time (seconds), then the packets and the
    packets with new bytes."""
    gaps: list[tuple[float, float, int]] = []
    top: int | None = None
    last_t: float | None = None
    packets = new = in_gap = 0
    for line in lines:
        m = _SEQ.match(line)
        if m is None:
            continue
        packets += 1
        t, end = float(m.group(1)), int(m.group(3))
        if top is not None and not 0 < (end - top) % (1 << 32) < 1 << 31:
            in_gap += 1  # a retransmission of bytes already seen (or filling a hole)
            continue
        new += 1
        top = end
        if last_t is not None:
            gaps.append((last_t, t - last_t, in_gap))
        in_gap = 0
        last_t = t
    return gaps, packets, new


def wire_stall(lines: list[str]) -> dict[str, Any]:
    """The longest of :func:`wire_gaps`: the kernel's receive timestamps, so neither the
    receiver's scheduling nor a timer limits it."""
    gaps, packets, new = wire_gaps(lines)
    first_t = next((float(m.group(1)) for m in map(_SEQ.match, lines) if m), 0.0)
    best = max(gaps, key=lambda g: g[1], default=(first_t, 0.0, 0))
    return {"longest_ms": round(best[1] * 1000, 2) if new > 1 else None, "packets": packets,
            "packets_new_bytes": new, "at_s": round(best[0] - first_t, 3),
            "retransmitted_in_it": best[2], "start_epoch": round(best[0], 3),
            "gaps": gaps}  # fmt: skip


def stall_per_step(
    gaps: dict[str, list[tuple[float, float, int]]],
    steps: list[list[Any]],
    t_wall: float,
    after_s: float = 0.5,
) -> list[dict[str, Any]]:
    """Per reconfiguration step ``[name, issued, ended]`` (seconds after ``t_wall``): the
    longest wire gap of each direction that began between the step's issue and ``after_s``
    after its end, with the retransmissions inside it."""
    out = []
    for name, issued, ended in steps:
        lo, hi = t_wall + issued, t_wall + (ended if ended is not None else issued) + after_s
        row: dict[str, Any] = {"step": name}
        for d, gs in gaps.items():
            inside = [g for g in gs if lo <= g[0] <= hi]
            best = max(inside, key=lambda g: g[1], default=None)
            row[f"{d}_ms"] = round(best[1] * 1000, 2) if best else None
            row[f"{d}_retransmitted"] = best[2] if best else None
        out.append(row)
    return out


TCP_COUNTERS = (
    "TCPTimeouts",  # RTOs: the stall's usual end
    "TCPLossProbes",
    "TCPSackRecovery",
    "TCPFastRetrans",
    "TCPSACKReorder",  # the sender took a loss for reordering (and undid its recovery)
    "TCPSackFailures",
    "BeyondWindow",  # the receiver dropped data beyond its window
    "PAWSEstab",  # the receiver dropped a segment as older than its timestamps
    "TCPOFOQueue",
    "RetransSegs",
)
"""The host TCP counters the stall figure reports (``stall.tcp``): what the hosts' own stacks
did about a stall (kernel names, ``/proc/net/netstat`` ``TcpExt`` and ``/proc/net/snmp``
``Tcp``)."""


def parse_tcp_counters(text: str) -> dict[str, int]:
    """The ``TcpExt`` and ``Tcp`` counters in ``text`` (``/proc/net/netstat`` and
    ``/proc/net/snmp``: a header line of names, then a line of values, per group), by name."""
    out: dict[str, int] = {}
    for prefix in ("TcpExt:", "Tcp:"):
        rows = [line.split()[1:] for line in text.splitlines() if line.startswith(prefix)]
        for names, values in zip(rows[0::2], rows[1::2], strict=False):
            out.update({n: int(v) for n, v in zip(names, values, strict=False)
                        if v.lstrip("-").isdigit()})  # fmt: skip
    return out


def tcp_counter_delta(before: dict[str, int], after: dict[str, int]) -> dict[str, int]:
    """:data:`TCP_COUNTERS` increments from ``before`` to ``after`` (0 where absent)."""
    return {k: after.get(k, 0) - before.get(k, 0) for k in TCP_COUNTERS}


def _tcp_counters(tb: Testbed, host: str) -> dict[str, int]:
    """The TCP counters of ``host``'s network namespace (its stack alone)."""
    p = subprocess.run(["ip", "netns", "exec", tb.hosts[host].ns, "cat", "/proc/net/netstat",
                        "/proc/net/snmp"], capture_output=True, text=True, timeout=10)  # fmt: skip
    return parse_tcp_counters(p.stdout)


class _Wire:
    """``tcpdump`` of the data packets one host receives from ``src port`` (or sends to
    ``dst port``), kernel timestamps; its drop count comes from its exit summary."""

    def __init__(self, tb: Testbed, host: str, direction: str, port: int) -> None:
        filt = (f"tcp and {direction} port {port} and "
                "(ip[2:2] - ((ip[0]&0xf)<<2) - ((tcp[12]&0xf0)>>2)) > 0")  # fmt: skip
        self.p = tb.spawn(host, ["tcpdump", "-i", "eth0", "-n", "-tt", "-S", "-l", "-B", "16384",
                                 "-s", "96", filt], name="tcpdump")  # fmt: skip
        self.lines: list[str] = []
        self.t = threading.Thread(target=self._read, daemon=True)
        self.t.start()

    def _read(self) -> None:
        assert self.p.stdout is not None
        for line in self.p.stdout:
            self.lines.append(line)

    def stop(self) -> dict[str, Any]:
        self.p.terminate()
        try:
            _out, err = self.p.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.p.kill()
            err = ""
        self.t.join(timeout=5)
        m = re.search(r"(\d+) packets dropped by kernel", err or "")
        return {**wire_stall(self.lines), "dropped": int(m.group(1)) if m else None}


def _spawn_out(tb: Testbed, args: list[str], timeout: float, name: str = "") -> str:
    p = tb.spawn("client", args, name=name)
    try:
        out, err = p.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        p.kill()
        raise RuntimeError(f"{name or args[0]}: no result within {timeout:.0f} s") from None
    if p.returncode != 0:
        raise RuntimeError(f"{name or args[0]} failed: {err.strip()[-300:]}")
    return str(out)


def _handshake(tb: Testbed, rounds: int, log: Callable[[str], None]) -> dict[str, Any]:
    """Connect times through [fw, mon] and direct, interleaved, ``rounds`` rounds."""
    per: list[dict[str, Any]] = []
    for r in range(rounds):
        first = "a" if arm_order(r, ("chain", "direct"))[0] == "chain" else "b"
        argv = [sys.executable, "-c", CONNECT, tb.addr("server"), str(CHAIN_PORT),
                str(DIRECT_PORT), str(CONNECTS_PER_ROUND), first]  # fmt: skip
        out = _spawn_out(tb, argv, 120, "connect")
        chain, direct = json.loads(out)
        per.append({"round": r, "first": "chain" if first == "a" else "direct",
                    "chain_ms": round(statistics.median(chain), 3),
                    "direct_ms": round(statistics.median(direct), 3),
                    "chain_all_ms": [round(x, 2) for x in chain],
                    "direct_all_ms": [round(x, 2) for x in direct]})  # fmt: skip
        log(f"handshake round {r}: chain {per[-1]['chain_ms']} ms, direct {per[-1]['direct_ms']}")
    return {"connects_per_round": CONNECTS_PER_ROUND, **ratio_of_rounds(per, "chain_ms",
            "direct_ms", 2), "rounds": per}  # fmt: skip


def _packet_ins(tb: Testbed) -> dict[str, int]:
    """Packet-ins each controller received so far, by the hosts behind its device."""
    return {"+".join(h.name for h in d.hosts): int(tb.mgmt(d, "counters")["p4rt"]["packet_ins"])
            for d in tb.devices}  # fmt: skip


def _packet_ins_per_connect(tb: Testbed, n: int = 3) -> dict[str, Any]:
    """Packet-ins per connect (SYN punts, SYN-ACK and FIN mirrors), by device, for ``2 n``
    connects through the chain and then ``2 n`` direct ones: how many controller visits a
    handshake crosses on each path."""
    out: dict[str, Any] = {}
    for arm, port in (("chain", CHAIN_PORT), ("direct", DIRECT_PORT)):
        before = _packet_ins(tb)
        _spawn_out(tb, [sys.executable, "-c", CONNECT, tb.addr("server"), str(port), str(port),
                        str(n), "a"], 120, "connect")  # fmt: skip
        time.sleep(1.0)  # the FIN mirrors of the last connection
        after = _packet_ins(tb)
        per = {k: round((after[k] - before[k]) / (2 * n), 2) for k in after}
        out[arm] = {k: v for k, v in per.items() if v}
        out[f"{arm}_total"] = round(sum(per.values()), 2)
    return out


def _iperf(tb: Testbed, port: int, seconds: int) -> float:
    """Mbit/s of one ``iperf3`` run; one retry when iperf3 reports an error (its server still
    finishing the previous test says "busy"), then a one-line error naming it."""
    err: object = None
    for attempt in (1, 2):
        if attempt == 2:
            time.sleep(1.0)
        out = _spawn_out(tb, ["iperf3", "-c", tb.addr("server"), "-p", str(port), "-t",
                              str(seconds), "-J"], seconds + 60, "iperf3")  # fmt: skip
        try:
            res = json.loads(out)
        except ValueError:
            err = out[-200:]
            continue
        try:
            return round(res["end"]["sum_received"]["bits_per_second"] / 1e6, 2)
        except (KeyError, TypeError):
            err = res.get("error") if isinstance(res, dict) else res
    raise RuntimeError(f"iperf3 to port {port} failed twice: {err}")


def _goodput(tb: Testbed, rounds: int, log: Callable[[str], None]) -> dict[str, Any]:
    """iperf3 in a Dysco session vs plain forwarding, interleaved, ``rounds`` rounds each."""
    ports = {"dysco_mbps": PLAIN_POLICY_PORT, "plain_mbps": IPERF_PLAIN}
    per: list[dict[str, Any]] = []
    for r in range(rounds):
        order = arm_order(r, ("plain_mbps", "dysco_mbps"))
        row: dict[str, Any] = {"round": r, "first": order[0][:-5]}
        for arm in order:
            row[arm] = _iperf(tb, ports[arm], GOODPUT_SECONDS)
        per.append(row)
        log(f"goodput round {r}: dysco {row['dysco_mbps']} plain {row['plain_mbps']} Mbit/s")
    return {"seconds_per_run": GOODPUT_SECONDS, **ratio_of_rounds(per, "dysco_mbps",
            "plain_mbps"), "rounds": per,
            "chain_fw_nat_mbps": _iperf(tb, IPERF_CHAIN, GOODPUT_SECONDS)}  # fmt: skip


def _load_mbps(out: str) -> float | None:
    """Mbit/s an interrupted ``iperf3 -J`` client sent (its receive sum is 0 then)."""
    try:
        return round(json.loads(out)["end"]["sum_sent"]["bits_per_second"] / 1e6, 1)
    except (ValueError, KeyError, TypeError):
        return None


def _reconfig_times(tb: Testbed, reconfigs: int, load_mbps_arg: int) -> dict[str, Any]:
    """Insert/remove the monitor ``reconfigs`` times in an iperf3 session under load (the
    load runs until the last one has ended, then is interrupted)."""
    n = max(2, reconfigs)
    load_args = ["-b", f"{load_mbps_arg}M"] if load_mbps_arg > 0 else []
    load = tb.spawn("client", ["iperf3", "-c", tb.addr("server"), "-p", str(IPERF_CHAIN), "-t",
                               "3600", "-J", *load_args], name="iperf3")  # fmt: skip
    time.sleep(1.5)
    times: list[float] = []
    outcomes: dict[str, int] = {}
    under_load = 0
    for i in range(n):
        kind = "insert" if i % 2 == 0 else "remove"
        params = {"kind": kind, "dst": tb.addr("server"), "dport": IPERF_CHAIN,
                  "right_anchor": tb.addr("fw"),
                  "boxes": [tb.addr("mon")] if kind == "insert" else [],
                  "timeout": 10}  # fmt: skip
        r = tb.mgmt("client", "reconfig", params, timeout=20)
        under_load += load.poll() is None
        for k, v in r["summary"].items():
            outcomes[k] = outcomes.get(k, 0) + v
        for x in r["results"]:
            if x.get("outcome") == "completed" and x.get("elapsed") is not None:
                times.append(float(x["elapsed"]) * 1000)
        time.sleep(2.2 if kind == "remove" else 0.3)  # old-path state of the box idles out
    load.send_signal(signal.SIGINT)
    try:
        load_out, _ = load.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        load.kill()
        load_out = ""
    return {"p50_ms": round(pct(times, 0.5), 2), "p99_ms": round(pct(times, 0.99), 2),
            "n": len(times), "all_ms": [round(t, 2) for t in times], "outcomes": outcomes,
            "under_load": under_load, "load_mbps": _load_mbps(load_out),
            "load_paced_mbps": load_mbps_arg or None}  # fmt: skip


def _longest_stall(tb: Testbed, log: Callable[[str], None]) -> dict[str, Any]:
    """The longest stall around three reconfigurations, receivers sampled every
    :data:`STALL_SAMPLE_MS`."""
    spec = Spec("stall", port=CHAIN_PORT, seconds=8.0, rate=4e6, sample_ms=STALL_SAMPLE_MS,
                steps=[
        Step(2.0, "replace-fw", "client", "replace", "mon", ["fw2"]),
        Step(4.0, "remove-mon", "fw2", "remove", "server"),
        Step(6.0, "insert-mon", "fw2", "insert", "server", ["mon"]),
    ])  # fmt: skip
    wires = {"c2s": _Wire(tb, "server", "dst", CHAIN_PORT),
             "s2c": _Wire(tb, "client", "src", CHAIN_PORT)}  # fmt: skip
    time.sleep(0.5)
    tcp0 = {h: _tcp_counters(tb, h) for h in ("client", "server")}
    t_wall = time.time()
    steps: list[list[Any]] = []  # [name, issued, ended] (seconds after t_wall)

    def step_log(m: str) -> None:  # the scenario logs each step when issued and when done
        log(m)
        name = m.split(":")[0].split("s ", 1)[-1].strip() if m.startswith("  t=") else ""
        if name and (not steps or steps[-1][0] != name):
            steps.append([name, round(time.time() - t_wall, 2), None])
        elif name:
            steps[-1][2] = round(time.time() - t_wall, 2)

    try:
        r = run(tb, spec, log=step_log)
    finally:
        wire = {k: w.stop() for k, w in wires.items()}
    tcp = {h: tcp_counter_delta(c, _tcp_counters(tb, h)) for h, c in tcp0.items()}
    dirs = {"c2s": stall_from_samples(r.samples_c2s), "s2c": stall_from_samples(r.samples_s2c)}
    worst = max(dirs.values(), key=lambda d: d["longest_ms"] or -1.0)
    p50s = [d["interval_ms"]["p50"] for d in dirs.values() if d["interval_ms"]["p50"]]
    wire_ms = [w["longest_ms"] for w in wire.values() if w["longest_ms"] is not None]
    per_step = stall_per_step({k: w.pop("gaps") for k, w in wire.items()}, steps, t_wall)
    for w in wire.values():  # when the stall began (seconds after t_wall, like steps_run_s)
        w["at_run_s"] = round(w.pop("start_epoch") - t_wall, 2) if w["longest_ms"] else None
    return {"longest_ms": worst["longest_ms"], "bounds_ms": worst["bounds_ms"],
            "resolution_ms": max(p50s) if p50s else None, "sample_ms_asked": STALL_SAMPLE_MS,
            "by_direction": dirs, "wire_longest_ms": max(wire_ms) if wire_ms else None,
            "wire": wire, "passed": r.passed,
            "outcomes": [x.outcomes for x in r.reconfigs],
            "steps_run_s": steps, "wire_per_step": per_step, "tcp": tcp}  # fmt: skip


def _figures(tb: Testbed, args: argparse.Namespace, log: Callable[[str], None]) -> dict[str, Any]:
    rounds = int(getattr(args, "rounds", None) or DEFAULT_ROUNDS)
    srvs = [tb.spawn("server", ["iperf3", "-s", "-p", str(p)], name="iperf3")
            for p in (IPERF_CHAIN, IPERF_PLAIN, PLAIN_POLICY_PORT)]  # fmt: skip
    echo = [tb.spawn("server", [sys.executable, "-m", "dysco_testbed.traffic", "server",
                                "--port", str(p)], name="traffic")
            for p in (CHAIN_PORT, DIRECT_PORT)]  # fmt: skip
    time.sleep(0.5)
    res: dict[str, Any] = {"rounds": rounds}
    try:
        res["handshake"] = _handshake(tb, rounds, log)
        res["handshake"]["packet_ins_per_connect"] = _packet_ins_per_connect(tb)
        log(f"packet-ins per connect {res['handshake']['packet_ins_per_connect']}")
        res["goodput"] = _goodput(tb, rounds, log)
        log(f"goodput ratio {res['goodput']['ratio']}")
        res["reconfig"] = _reconfig_times(tb, args.reconfigs, args.load_mbps)
        log(f"reconfig p50 {res['reconfig']['p50_ms']} p99 {res['reconfig']['p99_ms']} ms")
    finally:
        for p in srvs + echo:
            p.terminate()
    res["stall"] = _longest_stall(tb, log)
    return res


def summary(res: dict[str, Any]) -> dict[str, Any]:
    """The headline keys of a result of :func:`_figures` (top level of the JSON)."""
    return {
        "handshake_ratio": res["handshake"]["ratio"],
        "reconfig_p50_ms": res["reconfig"]["p50_ms"],
        "reconfig_p99_ms": res["reconfig"]["p99_ms"],
        "longest_stall_ms": res["stall"]["longest_ms"],
        "stall_resolution_ms": res["stall"]["resolution_ms"],
        "longest_stall_wire_ms": res["stall"].get("wire_longest_ms"),
        "goodput_ratio": res["goodput"]["ratio"],
        "targets": TARGETS,
    }


def run_bench(args: argparse.Namespace) -> int:
    """``dysco bench e2e``: the four figures on the default testbed (needs root)."""
    if os.geteuid() != 0:
        print("dysco bench e2e: needs root", file=sys.stderr)
        return 2
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731 (progress; JSON on stdout)
    t0 = time.monotonic()
    load0 = os.getloadavg()
    servers = str(getattr(args, "p4rt_servers", "thread"))
    sleep_us = int(getattr(args, "agent_max_sleep_us", 500))
    with Testbed(load_topology(None), log=log, server_procs=servers == "process",
                 agent_max_sleep_us=sleep_us) as tb:  # fmt: skip
        res = _figures(tb, args, log)
    res["p4rt_servers"] = servers
    res["agent_max_sleep_us"] = sleep_us
    res.update(summary(res))
    res["cpu_count"] = os.cpu_count()
    res["load_average"] = {"start": [round(x, 2) for x in load0],
                           "end": [round(x, 2) for x in os.getloadavg()]}  # fmt: skip
    res["seconds"] = round(time.monotonic() - t0, 1)
    if args.json:
        print(json.dumps(res, sort_keys=True))
    else:
        for k in (*summary(res), "load_average", "seconds"):
            print(f"{k:20} {res[k]}")
    return 0
