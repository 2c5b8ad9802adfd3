"""``dysco bench controller``: the controller's own rates against the project's P4Runtime server.

- ``entries_per_s``: session entries translated (``MappingEntry`` -> ``Update``, the fast path
  of :mod:`controller.translate`) and written through the daemon's write path
  (:class:`~controller.writer.OrderedWriter` over :class:`~controller.p4rt.client.P4RuntimeClient`:
  batches of ``--batch`` updates, one Write RPC in flight) to the P4Runtime server running in
  a separate process. The server's backend is the DPDK agent when it can run here (``target``
  ``"dpdk"``), else the reference model (``"refmodel"``). ``translate_entries_per_s`` is the
  translation alone.
- ``sessions_per_s``: new chained sessions (policy: two boxes) end to end through a daemon.
  Against the DPDK target (``sessions_target``): the agent and the P4Runtime server in their
  own processes, a third process injecting SYNs as bursts received on host port 1
  (``CTL_INJECT_BURST``) and tapping the network port (``CTL_TAP_SUB``) -> ``SYN`` packet-in
  -> agent -> OUT + IN entries written -> chain SYN packet-out -> out of the network port.
  Timed from the first SYN to the last chain SYN leaving; then sessions one at a time
  (``paced``); setup latency per hop and CPU per session by process. Without the agent the
  reference model stands in (own process, no latencies).
- Arms measured in the same run, interleaved (``rounds`` each, order alternating, medians,
  every round in the JSON): entries ``raw``/``proto``/``python`` (:data:`ENCODINGS`), sessions
  ``after``/``before`` (:data:`SESSION_ARMS`).

Everything runs on this machine; the numbers depend on its cores (``cpu_count`` is reported).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.config import Config, load_config
from controller.p4rt.p4info import load_p4info
from dysco_bench.session_profile import (
    CpuParts,
    HopClock,
    cpu_seconds,
    floor_bound,
    grpc_pair_floor,
    hops,
    sport,
    stats_us,
    wrap_daemon,
)
from dysco_targets.contract import CONTRACT_P4INFO

REPO = Path(__file__).resolve().parents[1]
HOST_MAC = "02:00:00:00:00:01"
DEVICE_MAC = "02:d5:c0:00:00:01"
BOX1, BOX2 = "198.18.1.1", "198.18.1.2"


class BenchError(RuntimeError):
    """The benchmark could not run (server or agent did not start, writes failed)."""


def _config(tmp: Path, address: str, *, policies: bool) -> Config:
    pol = (
        f"policies:\n  - {{name: web, match: {{dport: 80}}, chain: [{BOX1}, {BOX2}]}}\n"
        if policies
        else ""
    )
    text = f"""\
device:
  name: bench
  address: {address}
  p4info: {CONTRACT_P4INFO}
  mac: "{DEVICE_MAC}"
ports:
  hosts:
    - {{name: h1, port: 1, address: 10.0.0.1, mac: "{HOST_MAC}"}}
  network: {{port: 2, mac: "02:00:00:00:00:fe"}}
control:
  listen: 127.0.0.1:0
  key: "{secrets.token_hex(16)}"
agent:
  addresses: [10.0.0.1]
  port_range: 1024-65535
{pol}
writes: {{max_batch: 1000}}
management: {{socket: {tmp / "bench.sock"}}}
"""
    path = tmp / "bench.yaml"
    path.write_text(text)
    path.chmod(0o600)  # it holds the key inline
    return load_config(path)


def _wait_line(proc: subprocess.Popen[str], needle: str, timeout: float) -> str:
    end = time.monotonic() + timeout
    assert proc.stdout is not None
    while time.monotonic() < end:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                raise BenchError(f"process exited ({proc.returncode}) before {needle!r}")
            continue
        if needle in line:
            return line
    raise BenchError(f"no {needle!r} within {timeout:.0f}s")


def _stop(proc: subprocess.Popen[str] | None) -> None:
    if proc is None or proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _pick_target(target: str) -> str:
    if target not in ("auto", "dpdk"):
        return target
    from dysco_targets.dpdk_ctl import agent_available

    ok, why = agent_available()
    if target == "dpdk" and not ok:
        raise BenchError(f"target dpdk: the DPDK agent cannot run here ({why})")
    return "dpdk" if ok else "refmodel"


@contextlib.contextmanager
def _server(target: str, capacity: int) -> Any:
    """A P4Runtime server process with the ``target`` backend (for ``dpdk``: over an agent
    process of its own); yields its address, the agent's control socket (or ``None``) and
    the processes' ids by role."""
    agent = None
    proc: subprocess.Popen[str] | None = None
    args = [sys.executable, "-m", "dysco_targets.serve", "--backend", target]
    try:
        if target == "dpdk":
            from dysco_targets.dpdk_ctl import AgentProcess

            agent = AgentProcess(sessions=capacity, mem_mb=256 + capacity * 600 // (1 << 20))
            args += ["--agent-ctl", agent.ctl_path]
        port = 30000 + os.getpid() % 20000
        args += ["--address", f"127.0.0.1:{port}"]
        proc = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=str(REPO),
        )
        _wait_line(proc, "p4runtime server on", 60)
        pids = {"p4runtime_server": proc.pid}
        if agent is not None:
            pids["dpdk_agent"] = agent.proc.pid
        yield f"127.0.0.1:{port}", (agent.ctl_path if agent is not None else None), pids
    finally:
        _stop(proc)
        if agent is not None:
            agent.stop()


def _entries(n: int, base: int = 0) -> list[Any]:
    from dysco_proto.entries import Deltas, Direction, EntryKey, MappingEntry
    from dysco_proto.packet import FiveTuple

    out = []
    for j in range(n):
        i = base + j
        sub = FiveTuple(f"198.19.{(i >> 8) & 0xFF}.{i & 0xFF}", 1024 + (i >> 16), "10.0.0.1", 80)
        host = FiveTuple("198.18.0.10", 20000 + (i % 40000), "10.0.0.1", 80)
        out.append(
            MappingEntry(EntryKey(Direction.IN, sub), host, Deltas(i, -i, 7, -7, 0), 1 + i % 60000)
        )
    return out


ENCODINGS = ("proto", "raw", "python")
"""Arms of ``entries_per_s``: ``proto`` builds each ``Update`` message (parsed from the fast
encoder's bytes) and the client serializes the request; ``raw`` (the daemon's path) passes
the fast encoder's bytes through the writer and the client unparsed; ``python`` is ``raw``
with the Python encoder (``_FastEncoder``) where ``raw`` uses the daemon's (the C encoder,
``controller._fastenc``, when built: ``"encoder"`` in the JSON says which)."""


async def _write_round(
    tr: Any, writer: Any, entries: list[Any], batch: int, encoding: str
) -> float:
    from controller.p4rt.gen.p4.v1 import p4runtime_pb2 as p4r

    enc = tr.entry_update if encoding == "proto" else tr.entry_update_raw
    ins = p4r.Update.INSERT
    t0 = time.perf_counter()
    for i in range(0, len(entries), batch):
        writer.begin_scope()
        for e in entries[i : i + batch]:
            writer.write(enc(ins, e), e.key)
        await asyncio.sleep(0)  # let the writer send while we translate the next chunk
    await writer.drain(timeout=3600)
    return time.perf_counter() - t0


def _encode_rates(translators: dict[str, Any], n: int) -> dict[str, float]:
    """Entries per second of each translator's encoder alone (``n`` entries, three passes
    each, interleaved with the order alternating; medians)."""
    import statistics

    from controller.p4rt.gen.p4.v1 import p4runtime_pb2 as p4r

    sample = _entries(n, 1 << 22)
    rates: dict[str, list[float]] = {w: [] for w in translators}
    names = list(translators)
    for rep in range(3):
        for which in names if rep % 2 == 0 else names[::-1]:
            enc = translators[which].entry_update_raw
            t0 = time.perf_counter()
            for e in sample:
                enc(p4r.Update.INSERT, e)
            rates[which].append(len(sample) / (time.perf_counter() - t0))
    return {w: statistics.median(v) for w, v in rates.items()}


async def _bench_entries(
    address: str,
    n: int,
    batch: int,
    tmp: Path,
    rounds: int = 1,
    pids: dict[str, int] | None = None,
) -> dict[str, Any]:
    """``rounds`` rounds of ``n`` fresh entries per encoding, the arms interleaved (their
    order alternating); rates are the medians, every round is reported."""
    import statistics

    from controller.p4rt.client import P4RuntimeClient
    from controller.translate import Translator, new_encoder
    from controller.writer import OrderedWriter

    cfg = _config(tmp, address, policies=False)
    p4info = load_p4info(CONTRACT_P4INFO)
    tr = Translator(p4info, cfg)
    tr_py = Translator(p4info, cfg)  # the ``python`` arm: the reference encoder
    tr_py.fast, tr_py.encoder = new_encoder(tr.tables, tr.actions, tr.agent_id, "python")
    translators = {"proto": tr, "raw": tr, "python": tr_py}
    translate = _encode_rates({"daemon": tr, "python": tr_py}, min(n, 20_000))

    client = P4RuntimeClient(address, 1, 1, p4info, push_pipeline="auto")
    await client.start(timeout=30)
    writer = OrderedWriter(client, batch)
    writer.start()
    per: dict[str, list[float]] = {a: [] for a in ENCODINGS}
    procs: dict[str, int | None] = {"client": None, **(pids or {})}
    cpu: dict[str, dict[str, float]] = {a: dict.fromkeys(procs, 0.0) for a in ENCODINGS}
    log_rounds: list[dict[str, Any]] = []
    try:
        base = 0
        for r in range(rounds):
            for arm in ENCODINGS if r % 2 == 0 else ENCODINGS[::-1]:
                entries = _entries(n, base)
                base += n
                c0 = {k: cpu_seconds(v) for k, v in procs.items()}
                dt = await _write_round(translators[arm], writer, entries, batch, arm)
                for k, v in procs.items():
                    cpu[arm][k] += cpu_seconds(v) - c0[k]
                per[arm].append(n / dt)
                log_rounds.append({"round": r, "encoding": arm, "entries_per_s": round(n / dt)})
        if writer.stats.errors:
            raise BenchError(f"{writer.stats.errors} write errors: {writer.stats.error_codes}")
        # what a full-table read-back costs the daemon (idle scan, reconciliation)
        t0 = time.perf_counter()
        got = 0
        async for te in client.read_table_entries(0):
            tr.entry_from_p4(te)
            got += 1
        readback_rate = got / (time.perf_counter() - t0)
        med = {a: statistics.median(v) for a, v in per.items()}
        return {
            "entries": n,
            "batch": batch,
            "entries_per_s": round(med["raw"]),
            "entries_per_s_proto": round(med["proto"]),
            "entries_raw_vs_proto": round(med["raw"] / med["proto"], 2),
            # the daemon's encoder ("c" when controller._fastenc is built) against Python's
            "encoder": tr.encoder,
            "entries_per_s_python": round(med["python"]),
            "entries_raw_vs_python": round(med["raw"] / med["python"], 2),
            "entries_rounds": log_rounds,
            # CPU per entry written, every thread, by process (the client includes encoding)
            "cpu_us_per_entry": {
                a: {k: round(v * 1e6 / (n * rounds), 2) for k, v in c.items()}
                for a, c in cpu.items()
            },
            "translate_entries_per_s": round(translate["daemon"]),
            "translate_entries_per_s_python": round(translate["python"]),
            "readback_entries": got,
            "readback_entries_per_s": round(readback_rate),
            "write_batches": writer.stats.batches,
        }
    finally:
        await writer.close()
        await client.close()


def _syn_frames(n: int, base: int = 0) -> list[bytes]:
    from dysco_pipeline.frames import build_frame
    from dysco_proto.packet import FiveTuple, Segment, TcpFlags, TcpOptions

    return [
        build_frame(
            Segment(
                FiveTuple("10.0.0.1", 1024 + base + i, "198.18.9.9", 80),
                1000 + base + i,
                0,
                TcpFlags.SYN,
                options=TcpOptions(mss=1460, wscale=7, sack_permitted=True),
            ),
            HOST_MAC,
            DEVICE_MAC,
        )
        for i in range(n)
    ]


def _paced(n: int) -> int:
    """Sessions set up one at a time after the burst (latency without queueing)."""
    return min(n, 200)


def sessions_server(n: int) -> int:
    """The device side of ``sessions_per_s``, in its own process (so that the reference
    model's per-packet Python does not share the daemon's interpreter lock): a P4Runtime
    server over the reference model. On ``go`` (stdin) it injects ``n`` SYNs into host
    port 1 and prints the seconds from the first SYN to the ``n``-th chain SYN leaving the
    network port."""
    import threading

    from dysco_targets.backends import RefModelBackend
    from dysco_targets.server import P4RuntimeServer

    done = threading.Event()
    count = 0
    last = 0.0

    class Counting(RefModelBackend):
        def _run(self, frame: bytes, port: int) -> list[tuple[int, bytes]]:
            nonlocal count, last
            outs = super()._run(frame, port)
            self.outputs.clear()
            for p, _f in outs:
                if p == 2:
                    count += 1
                    last = time.perf_counter()
                    if count >= n:
                        done.set()
            return outs

    backend = Counting()
    srv = P4RuntimeServer(backend, "127.0.0.1:0").start()
    frames = _syn_frames(n)
    print(f"sessions server on {srv.address}", flush=True)
    try:
        if sys.stdin.readline().strip() != "go":
            return 1
        t0 = time.perf_counter()
        for f in frames:
            backend.inject(f, 1)
        ok = done.wait(120)
        print(f"sessions done {last - t0 if ok else -1.0}", flush=True)
        sys.stdin.readline()  # wait for the daemon to be stopped first
        return 0 if ok else 1
    finally:
        srv.stop()


async def _bench_sessions(n: int, tmp: Path) -> dict[str, Any]:
    from controller.daemon import Daemon

    proc = subprocess.Popen(
        [sys.executable, "-m", "dysco_bench.controller_bench", "--sessions-server", str(n)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=str(REPO),
    )
    daemon = None
    try:
        address = _wait_line(proc, "sessions server on", 60).split()[-1]
        daemon = Daemon(_config(tmp, address, policies=True), management=False)
        await daemon.start(connect_timeout=30)
        while daemon.writer.pending:
            await asyncio.sleep(0.01)
        assert proc.stdin is not None
        proc.stdin.write("go\n")
        proc.stdin.flush()
        line = await asyncio.to_thread(_wait_line, proc, "sessions done", 150)
        dt = float(line.split()[-1])
        if dt <= 0:
            raise BenchError("not every session's chain SYN left the device")
        return {
            "sessions": n,
            "sessions_per_s": round(n / dt),
            "sessions_target": "refmodel (own process)",
            "session_write_batches": daemon.writer.stats.batches,
            "session_max_batch": daemon.writer.stats.max_batch_seen,
        }
    finally:
        if daemon is not None:
            await daemon.stop()
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.write("\n")
                proc.stdin.flush()
        _stop(proc)


def sessions_tap(ctl_path: str) -> int:
    """The device side of ``sessions_per_s`` on the DPDK target, in its own process: a
    client of the agent's control socket that taps what the agent sends to ports it does
    not have (the network port, 2). For each line ``go BASE N PACED`` (stdin) it injects
    ``N`` SYNs (source ports from ``1024 + BASE``) as bursts received on host port 1
    (``INJECT_BURST``: the agent processes them like received frames, packet-ins to the
    P4Runtime server) and prints the seconds from the first SYN to the ``N``-th chain SYN
    leaving port 2; then it sets up ``PACED`` more sessions one at a time (each SYN injected
    once the previous chain SYN left) and prints one line ``tap <json>``: the
    ``perf_counter`` time each chain SYN left, by its source port."""
    import json
    import threading

    from dysco_targets.dpdk_ctl import AgentClient

    done = threading.Event()
    seen: dict[int, float] = {}
    want = [0]

    def on_tap(port: int, frame: bytes) -> None:
        if port != 2:
            return
        t = time.perf_counter()
        seen.setdefault(sport(frame), t)
        if len(seen) >= want[0]:
            done.set()

    client = AgentClient(ctl_path, on_tap=on_tap)
    try:
        client.tap(True)
        print("sessions tap ready", flush=True)
        while True:
            cmd = sys.stdin.readline().split()
            if len(cmd) != 4 or cmd[0] != "go":
                return 0
            base, n, n_paced = (int(x) for x in cmd[1:])
            frames = _syn_frames(n, base)
            seen.clear()
            want[0] = n
            done.clear()
            t0 = time.perf_counter()
            for i in range(0, n, 256):  # bursts as a port delivers them
                client.inject_burst(1, frames[i : i + 256])
            ok = done.wait(120)
            last = max(seen.values()) if seen else 0.0
            print(f"sessions done {last - t0 if ok else -1.0}", flush=True)
            burst = dict(seen)
            for f in _syn_frames(n_paced, base + n) if ok else []:
                want[0] += 1
                done.clear()
                client.inject_burst(1, [f])
                if not done.wait(10):
                    break
            paced = {k: v for k, v in seen.items() if k not in burst}
            print("tap " + json.dumps({"t0": t0, "left": burst, "paced": paced}), flush=True)
    finally:
        client.close()


SESSION_ARMS = ("before", "after")
"""Arms of ``sessions_per_s`` on the DPDK target (the same daemon, switched between rounds):
``after`` is the daemon as it is; ``before`` undoes the levers measured against it (a send
flushes the state store even when a Write's flush already committed its state; the idle
scan's read-back every ``timers.idle_scan`` whatever it costs; the state store's write-ahead
log checkpointed inside the commits, SQLite's default, instead of by its own thread)."""


def _set_arm(daemon: Any, arm: str) -> None:
    import controller.daemon as dmod
    from controller.store import COMMIT_CHECKPOINT_PAGES

    store = daemon.store
    wal = store._checkpointer
    if arm == "before":
        daemon._flush_for = lambda need: daemon.flush_store()
        dmod.IDLE_SCAN_COST_FACTOR = 0.0
        if wal is not None:
            wal.paused = True
            store.db.execute("PRAGMA wal_autocheckpoint=1000")
    else:
        daemon.__dict__.pop("_flush_for", None)
        dmod.IDLE_SCAN_COST_FACTOR = _IDLE_FACTOR
        if wal is not None:
            store.db.execute(f"PRAGMA wal_autocheckpoint={COMMIT_CHECKPOINT_PAGES}")
            wal.paused = False


_IDLE_FACTOR = 20.0


@dataclass
class _ArmRuns:
    """What the sessions benchmark measured, per arm (``SESSION_ARMS``)."""

    procs: dict[str, int | None]
    rates: dict[str, list[float]] = field(default_factory=lambda: _per_arm(list))
    lefts: dict[str, dict[int, float]] = field(default_factory=lambda: _per_arm(dict))
    paceds: dict[str, dict[int, float]] = field(default_factory=lambda: _per_arm(dict))
    commits: dict[str, list[float]] = field(default_factory=lambda: _per_arm(list))
    cpu: dict[str, dict[str, float]] = field(default_factory=dict)
    rounds: list[dict[str, Any]] = field(default_factory=list)
    parts: CpuParts = field(default_factory=CpuParts)  # the daemon's steps (session_profile)
    part_cpu: dict[str, dict[str, float]] = field(default_factory=lambda: _per_arm(dict))

    def __post_init__(self) -> None:
        self.cpu = {a: dict.fromkeys(self.procs, 0.0) for a in SESSION_ARMS}


def _per_arm(make: Any) -> dict[str, Any]:
    return {a: make() for a in SESSION_ARMS}


async def _sessions_round(
    proc: subprocess.Popen[str],
    daemon: Any,
    clock: HopClock,
    runs: _ArmRuns,
    arm: str,
    r: int,
    first: tuple[int, int, int],
) -> None:
    """One burst of ``n`` sessions (then ``n_paced`` paced ones) from the tap, in ``arm``;
    ``first``: (first session number, n, n_paced)."""
    import json

    base, n, n_paced = first
    assert proc.stdin is not None
    _set_arm(daemon, arm)
    clock.commit = runs.commits[arm]
    c0 = {k: cpu_seconds(v) for k, v in runs.procs.items()}
    p0 = runs.parts.snapshot()
    proc.stdin.write(f"go {base} {n} {n_paced}\n")
    proc.stdin.flush()
    line = await asyncio.to_thread(_wait_line, proc, "sessions done", 150)
    for k, v in runs.procs.items():
        runs.cpu[arm][k] += cpu_seconds(v) - c0[k]
    for part, secs in runs.parts.snapshot().items():
        runs.part_cpu[arm][part] = runs.part_cpu[arm].get(part, 0.0) + secs - p0.get(part, 0.0)
    dt = float(line.split()[-1])
    if dt <= 0:
        raise BenchError("not every session's chain SYN left the device")
    tap = json.loads((await asyncio.to_thread(_wait_line, proc, "tap ", 60))[4:])
    left = {int(k): v for k, v in tap["left"].items()}
    runs.lefts[arm].update(left)
    runs.paceds[arm].update({int(k): v for k, v in tap["paced"].items()})
    runs.rates[arm].append(n / dt)
    rl = hops(clock, left, daemon.shadow)["setup_latency_us"]
    runs.rounds.append({"round": r, "arm": arm, "sessions_per_s": round(n / dt), **rl})


def _daemon_parts(runs: _ArmRuns, sessions: int) -> dict[str, float]:
    """The daemon's CPU per session of the burst (arm ``after``) by step, exclusive, and the
    rest of its process (gRPC's threads and event loop work, background tasks) as ``other``."""
    parts = {k: round(v * 1e6 / sessions, 1) for k, v in runs.part_cpu["after"].items()}
    total = runs.cpu["after"]["daemon"] * 1e6 / sessions
    return {**parts, "other": round(total - sum(parts.values()), 1), "total": round(total, 1)}


def _sessions_result(
    runs: _ArmRuns, n: int, rounds: int, daemon: Any, clock: HopClock
) -> dict[str, Any]:
    """The JSON-able result of the sessions benchmark."""
    import statistics

    med = {a: statistics.median(v) for a, v in runs.rates.items()}
    return {
        "sessions": n,
        "sessions_per_s": round(med["after"]),
        "sessions_per_s_before": round(med["before"]),
        "sessions_after_vs_before": round(med["after"] / med["before"], 2),
        "sessions_rounds": runs.rounds,
        "sessions_target": "dpdk (agent + P4Runtime server, own processes)",
        "session_write_batches": daemon.writer.stats.batches,
        "session_max_batch": daemon.writer.stats.max_batch_seen,
        **hops(clock, runs.lefts["after"], daemon.shadow),
        "store_commit_us": stats_us(runs.commits["after"]),
        "store_commits": {a: len(v) for a, v in runs.commits.items()},
        # CPU per session of the burst (not the paced part), every thread, by process
        "cpu_us_per_session": {
            a: {k: round(v * 1e6 / (n * rounds)) for k, v in c.items()} for a, c in runs.cpu.items()
        },
        "daemon_cpu_us_per_session": _daemon_parts(runs, n * rounds),
        "paced": {
            "sessions": len(runs.paceds["after"]),
            **hops(clock, runs.paceds["after"], daemon.shadow),
        },
    }


async def _bench_sessions_dpdk(
    n: int, address: str, ctl: str, pids: dict[str, int], tmp: Path, rounds: int = 1
) -> dict[str, Any]:
    import controller.daemon as dmod
    from controller.daemon import Daemon

    global _IDLE_FACTOR
    _IDLE_FACTOR = dmod.IDLE_SCAN_COST_FACTOR
    proc = subprocess.Popen(
        [sys.executable, "-m", "dysco_bench.controller_bench", "--sessions-tap", ctl],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=str(REPO),
    )
    daemon = None
    try:
        _wait_line(proc, "sessions tap ready", 60)
        daemon = Daemon(_config(tmp, address, policies=True), management=False)
        await daemon.start(connect_timeout=30)
        while daemon.writer.pending:
            await asyncio.sleep(0.01)
        parts = wrap_daemon(daemon)  # before the clock, which keeps the flush it finds
        clock = HopClock(daemon)
        runs = _ArmRuns(procs={"daemon": None, **pids}, parts=parts)
        n_paced = _paced(n)
        base = 0
        for r in range(rounds):
            for arm in SESSION_ARMS if r % 2 == 0 else SESSION_ARMS[::-1]:
                await _sessions_round(proc, daemon, clock, runs, arm, r, (base, n, n_paced))
                base += n + n_paced
        _set_arm(daemon, "after")
        return _sessions_result(runs, n, rounds, daemon, clock)
    finally:
        if daemon is not None:
            _set_arm(daemon, "after")
            await daemon.stop()
        if proc.stdin is not None:
            with contextlib.suppress(OSError):
                proc.stdin.write("\n")
                proc.stdin.flush()
        _stop(proc)


def _floors(out: dict[str, Any]) -> dict[str, Any]:
    """The floors under ``sessions_per_s`` (``session_profile``) and the rate they bound."""
    grpc = grpc_pair_floor()
    core = out["daemon_cpu_us_per_session"]["protocol_core"]
    agent = out["cpu_us_per_session"]["after"]["dpdk_agent"]
    bound = floor_bound(core, grpc, agent, os.cpu_count() or 1)
    return {"grpc_pair_floor_us": grpc, "sessions_per_s_floor_bound": bound}


def run_bench(
    entries: int = 50_000,
    batch: int = 1000,
    sessions: int = 2000,
    target: str = "auto",
    server: str | None = None,
    rounds: int = 3,
) -> dict[str, Any]:
    """Run both measurements; returns the JSON-able result. ``rounds``: interleaved rounds
    per arm of the measurements that compare two arms."""
    tgt = "external" if server else _pick_target(target)
    out: dict[str, Any] = {"target": tgt, "cpu_count": os.cpu_count()}
    with contextlib.suppress(OSError):
        out["load_average"] = [round(x, 2) for x in os.getloadavg()]
    rounds = max(1, rounds)
    with tempfile.TemporaryDirectory(prefix="dysco-bench-") as d:
        tmp = Path(d)
        if server:
            out.update(asyncio.run(_bench_entries(server, entries, batch, tmp, rounds)))
        elif entries > 0:
            cap = max(entries * rounds * len(ENCODINGS), 1024)
            with _server(tgt, cap) as (address, _ctl, pids):
                out.update(asyncio.run(_bench_entries(address, entries, batch, tmp, rounds, pids)))
        if sessions > 0 and tgt == "dpdk":
            cap = max(2 * (sessions + _paced(sessions)) * rounds * len(SESSION_ARMS), 1024)
            with _server("dpdk", cap) as (address, ctl, pids):
                out.update(
                    asyncio.run(_bench_sessions_dpdk(sessions, address, ctl, pids, tmp, rounds))
                )
            out.update(_floors(out))
        elif sessions > 0:
            out.update(asyncio.run(_bench_sessions(sessions, tmp)))
    return out


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--sessions-server":
        sys.exit(sessions_server(int(sys.argv[2])))
    if len(sys.argv) == 3 and sys.argv[1] == "--sessions-tap":
        sys.exit(sessions_tap(sys.argv[2]))
    print(
        "usage: python -m dysco_bench.controller_bench --sessions-server N (dysco bench controller)"
    )
    sys.exit(2)
