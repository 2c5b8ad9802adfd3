"""``dysco demo``: bring up the testbed, move a live session through reconfigurations, report.

The live session runs through [firewall, NAT, proxy] by policy; the monitor is inserted, the
proxy removed (splice of haproxy's two TCP connections), the firewall replaced by a second
one. The report (terminal, ``report.json``) lists the scenarios with bytes verified, RSTs
and reconfiguration times; ``timeline.png`` plots throughput over time with each
reconfiguration marked.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from dysco_testbed.bed import Testbed, load_topology
from dysco_testbed.scenarios import Result, Spec, Step, run

DEMO_RATE = {"dpdk": 3e6, "bmv2": 2.5e5}
"""Bytes/s each way: bmv2's simple_switch forwards a few thousand packets per second, and
every packet crosses up to six of them on this testbed."""


def demo_spec(seconds: float = 14.0, rate: float = DEMO_RATE["dpdk"]) -> Spec:
    k = seconds / 14.0
    return Spec(
        "demo",
        port=9000,
        seconds=seconds,
        rate=rate,
        steps=[
            Step(round(3.0 * k, 2), "insert-monitor", "client", "insert", "fw", ["mon"]),
            Step(round(6.5 * k, 2), "remove-proxy", "nat", "remove", "server", []),
            Step(round(10.0 * k, 2), "replace-firewall", "mon", "replace", "nat", ["fw2"]),
        ],
    )


def split_demo(r: Result) -> list[dict[str, Any]]:
    """The demo run as the report's ``scenarios`` list (setup, then each reconfiguration)."""
    base = {
        "bytes_sent": r.bytes_sent,
        "bytes_verified": r.bytes_verified,
        "rst_seen": r.rst_seen,
    }
    data_ok = (
        r.sessions_ok == r.sessions
        and r.rst_seen == 0
        and not [p for p in r.problems if not p.startswith("reconfig")]
    )
    out = [{"name": "1-setup-fw-nat-proxy", "passed": data_ok, **base, "reconfig_ms": []}]
    for i, s in enumerate(r.reconfigs, start=2):
        out.append(
            {
                "name": f"{i}-{s.name}",
                "passed": data_ok and s.ok,
                **base,
                "reconfig_ms": [s.elapsed_ms],
                "outcome": s.outcomes,
                "at_s": s.at,
            }
        )
    return out


def throughput(samples: list[list[float]], bin_s: float = 0.25) -> list[tuple[float, float]]:
    """Cumulative byte samples -> (time, Mbit/s) per bin."""
    out: list[tuple[float, float]] = []
    if not samples:
        return out
    prev_t, prev_b = 0.0, 0.0
    t_next = bin_s
    for t, b in samples:
        if t >= t_next:
            dt = t - prev_t
            if dt > 0:
                out.append((round(t, 3), round((b - prev_b) * 8 / dt / 1e6, 3)))
            prev_t, prev_b = t, b
            t_next = t + bin_s
    return out


def phases(tp: list[tuple[float, float]], steps: list[Any]) -> dict[str, float]:
    if not tp or not steps:
        return {}
    first, last = steps[0].at, steps[-1].at

    def avg(lo: float, hi: float) -> float:
        v = [x for t, x in tp if lo <= t < hi]
        return round(sum(v) / len(v), 2) if v else 0.0

    return {
        "before_mbps": avg(0.5, first),
        "during_mbps": avg(first, last + 1.0),
        "after_mbps": avg(last + 1.0, tp[-1][0] - 0.3),
    }


def plot(path: Path, r: Result, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c2s = throughput(r.samples_c2s)
    s2c = throughput(r.samples_s2c)
    fig, ax = plt.subplots(figsize=(10, 4.5))
    if c2s:
        ax.plot([t for t, _ in c2s], [v for _, v in c2s], label="client -> server")
    if s2c:
        ax.plot([t for t, _ in s2c], [v for _, v in s2c], label="server -> client")
    for s in r.reconfigs:
        col = "green" if s.ok else "red"
        ax.axvline(s.at, color=col, linestyle="--", alpha=0.8)
        top = ax.get_ylim()[1] * 0.95 if ax.get_ylim()[1] else 1
        ax.text(s.at, top, f" {s.name}\n {s.elapsed_ms:.0f} ms",
                color=col, fontsize=8, va="top")  # fmt: skip
    ax.set_xlabel("time (s)")
    ax.set_ylabel("goodput (Mbit/s)")
    ax.set_title(title)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def run_demo(target: str | None = None, scenario: Path | None = None,
             out: Path = Path("demo-out"), log: Any = None) -> int:  # fmt: skip
    """The demo on ``scenario`` (a YAML file or a built-in name such as ``rack``) on ``target``
    (default: the scenario's ``target``, else dpdk); 0 if it passed."""
    if os.geteuid() != 0:
        print("dysco demo: needs root (network namespaces, DPDK agent)", file=sys.stderr)
        return 2
    log = log or (lambda m: print(m, flush=True))
    out.mkdir(parents=True, exist_ok=True)
    topo = load_topology(scenario)
    target = target or str(topo.get("target") or "dpdk")
    started = time.time()
    log(f"dysco demo: target {target}, testbed {scenario or 'default'}")
    with Testbed(topo, target=target, log=lambda m: log(f"  testbed: {m}")) as tb:
        log(f"  run id {tb.rid}: {len(tb.hosts)} hosts, {len(tb.devices)} devices/controllers")
        spec = demo_spec(rate=DEMO_RATE[target])
        log(f"live transfer through [fw, nat, proxy] for {spec.seconds:.0f}s (2 directions)")
        r = run(tb, spec, log=log)
        relations = list(tb.relations)
    tp = throughput(r.samples_c2s)
    ph = phases(tp, r.reconfigs)
    scen = split_demo(r)
    report = {
        "target": target,
        "run_seconds": round(time.time() - started, 1),
        "scenarios": scen,
        "passed": all(s["passed"] for s in scen),
        "sessions": r.sessions,
        "sessions_ok": r.sessions_ok,
        "bytes_sent": r.bytes_sent,
        "bytes_verified": r.bytes_verified,
        "throughput": ph,
        "timeline_c2s_mbps": tp,
        "reconfigurations": [s.__dict__ | {"detail": None} for s in r.reconfigs],
        "proxy_relations": relations,
        "problems": r.problems,
    }
    (out / "report.json").write_text(json.dumps(report, indent=2, default=str))
    plot(out / "timeline.png", r, f"dysco demo ({target}): one live session, 3 reconfigurations")
    _print_report(report)
    log(f"wrote {out / 'report.json'} and {out / 'timeline.png'}")
    return 0 if report["passed"] else 1


def _print_report(rep: dict[str, Any]) -> None:
    from rich.console import Console
    from rich.table import Table

    con = Console(highlight=False)
    t = Table(title=f"dysco demo - target {rep['target']}")
    for c in ("scenario", "result", "reconfig", "bytes verified / sent", "RST"):
        t.add_column(c)
    for s in rep["scenarios"]:
        t.add_row(
            s["name"],
            "[green]PASS[/green]" if s["passed"] else "[red]FAIL[/red]",
            ", ".join(f"{x:.1f} ms" for x in s["reconfig_ms"])
            + (f" {s.get('outcome')}" if s.get("outcome") else ""),
            f"{s['bytes_verified']} / {s['bytes_sent']}",
            str(s["rst_seen"]),
        )  # fmt: skip
    con.print(t)
    ph = rep["throughput"]
    if ph:
        con.print(
            f"throughput client->server: before {ph['before_mbps']} Mbit/s, during "
            f"{ph['during_mbps']} Mbit/s, after {ph['after_mbps']} Mbit/s"
        )
    for p in rep["problems"]:
        con.print(f"[red]problem:[/red] {p}")
    con.print("[green]ALL PASSED[/green]" if rep["passed"] else "[red]FAILED[/red]")
