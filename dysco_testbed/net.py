"""Network namespaces, veths and the core bridge of a testbed; cleanup by name prefix.

Every object a run creates carries the run's prefix ``dyt<rid>`` (namespaces ``dy<rid>-*``,
root-namespace interfaces ``dyt<rid>*``); the pids of its processes are recorded in
``/run/dysco-testbed/<rid>/pids``. :func:`cleanup` removes everything of one run or, with no
run id, of every run (leftovers of a killed run).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

STATE = Path("/run/dysco-testbed")
PREFIX = "dyt"


def sh(*args: str, check: bool = True, ns: str | None = None) -> subprocess.CompletedProcess[str]:
    cmd = list(args)
    if ns is not None:
        cmd = ["ip", "netns", "exec", ns, *cmd]
    r = subprocess.run(cmd, check=False, capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {r.stderr.strip() or r.stdout.strip()}")
    return r


def offloads_off(dev: str, ns: str | None = None) -> None:
    """No checksum offload or segmentation on a veth end: a software data plane (DPDK on
    af_packet, bmv2) sees and forwards finished frames."""
    sh("ethtool", "-K", dev, "tx", "off", "rx", "off", "tso", "off", "gso", "off", "gro", "off",
       ns=ns, check=False)  # fmt: skip


def record_pid(rid: str, pid: int, what: str) -> None:
    d = STATE / rid
    d.mkdir(parents=True, exist_ok=True)
    with open(d / "pids", "a") as f:
        f.write(f"{pid} {what}\n")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except OSError:
        return False
    return True


def kill_recorded(rid: str) -> int:
    """Terminate the processes recorded for run ``rid`` (by pid, only if still ours)."""
    f = STATE / rid / "pids"
    if not f.exists():
        return 0
    pids: list[int] = []
    for line in f.read_text().splitlines():
        with contextlib.suppress(ValueError, IndexError):
            pids.append(int(line.split()[0]))
    n = 0
    for sig in (signal.SIGTERM, signal.SIGKILL):
        live = []
        for pid in pids:
            try:
                cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if rid.encode() not in cmd and b"dysco" not in cmd and b"haproxy" not in cmd:
                continue  # pid reused by something else: not ours
            with contextlib.suppress(OSError):
                os.kill(pid, sig)
                n += 1
            live.append(pid)
        deadline = time.monotonic() + 3
        while live and time.monotonic() < deadline:
            live = [p for p in live if _pid_alive(p)]
            time.sleep(0.05)
        if not live:
            break
    return n


def namespaces() -> list[str]:
    r = sh("ip", "-o", "netns", "list", check=False)
    return [line.split()[0] for line in r.stdout.splitlines() if line.strip()]


def links() -> list[str]:
    r = sh("ip", "-o", "link", "show", check=False)
    out = []
    for line in r.stdout.splitlines():
        parts = line.split(":", 2)
        if len(parts) > 1:
            out.append(parts[1].strip().split("@")[0])
    return out


def cleanup(rid: str | None = None) -> dict[str, int]:
    """Remove the namespaces, interfaces, processes and files of run ``rid`` (or of all runs)."""
    rids = [rid] if rid else ([p.name for p in STATE.iterdir()] if STATE.exists() else [])
    killed = sum(kill_recorded(r) for r in rids)
    # processes still running inside our namespaces (e.g. recorded file lost)
    for ns in namespaces():
        if ns.startswith(PREFIX) and (rid is None or ns.startswith(f"{PREFIX}{rid}-")):
            r = sh("ip", "netns", "pids", ns, check=False)
            for p in r.stdout.split():
                with contextlib.suppress(OSError, ValueError):
                    os.kill(int(p), signal.SIGKILL)
                    killed += 1
    n_ns = 0
    for ns in namespaces():
        if ns.startswith(PREFIX) and (rid is None or ns.startswith(f"{PREFIX}{rid}-")):
            sh("ip", "netns", "del", ns, check=False)
            n_ns += 1
    n_if = 0
    for ifname in links():
        if _ours(ifname, rid):
            sh("ip", "link", "del", ifname, check=False)
            n_if += 1
    for run_id in rids:
        shutil.rmtree(STATE / run_id, ignore_errors=True)
        for d in (
            Path("/var/run/dpdk").glob(f"{PREFIX}{run_id}*")
            if Path("/var/run/dpdk").exists()
            else []
        ):
            shutil.rmtree(d, ignore_errors=True)
    return {"processes": killed, "namespaces": n_ns, "interfaces": n_if}


def _ours(ifname: str, rid: str | None) -> bool:
    if rid is not None:
        return ifname.startswith(f"{PREFIX}{rid}")
    # dyt + 4 hex run id + device/port suffix
    return (
        len(ifname) > 7
        and ifname.startswith(PREFIX)
        and all(c in "0123456789abcdef" for c in ifname[3:7])
    )


def leftovers(rid: str | None = None) -> dict[str, list[str]]:
    """What of run ``rid`` (or of any run) still exists."""
    ns = [
        n
        for n in namespaces()
        if n.startswith(PREFIX) and (rid is None or n.startswith(f"{PREFIX}{rid}-"))
    ]
    ifs = [i for i in links() if _ours(i, rid)]
    return {"namespaces": ns, "interfaces": ifs}
