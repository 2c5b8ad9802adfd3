"""``dysco bench controller``: the controller's own rates against the project's P4Runtime server.

- ``entries_per_s``: session entries translated (``MappingEntry`` -> ``Update``, the fast path
  of :mod:`controller.translate`) and written through the daemon's write path
  (:class:`~controller.writer.OrderedWriter` over :class:`~controller.p4rt.client.P4RuntimeClient`:
  batches of ``--batch`` updates, one Write RPC in flight) to the P4Runtime server running in
  a separate process. The server's backend is the DPDK agent when it can run here (``target``
  ``"dpdk"``), else the reference model (``"refmodel"``). ``translate_entries_per_s`` is the
  translation alone.
- ``sessions_per_s``: new chained sessions (policy: two boxes) end to end through a daemon:
  a SYN enters the pipeline (the reference model behind a P4Runtime server in its own process,
  ``sessions_target``)
  -> ``SYN`` packet-in -> agent -> OUT + IN entries written -> chain SYN packet-out -> routed
  out of the network port. Timed from the first SYN to the last chain SYN leaving.

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
from pathlib import Path
from typing import Any

from controller.config import Config, load_config
from controller.p4rt.p4info import load_p4info
from controller.p4rt.server import CONTRACT_P4INFO

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
    if target != "auto":
        return target
    from controller.p4rt.dpdk_ctl import agent_available

    ok, _why = agent_available()
    return "dpdk" if ok else "refmodel"


@contextlib.contextmanager
def _server(target: str, capacity: int) -> Any:
    """A P4Runtime server process with the ``target`` backend; yields its address."""
    agent = None
    proc: subprocess.Popen[str] | None = None
    args = [sys.executable, "-m", "controller.p4rt.server", "--backend", target]
    try:
        if target == "dpdk":
            from controller.p4rt.dpdk_ctl import AgentProcess

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
        yield f"127.0.0.1:{port}"
    finally:
        _stop(proc)
        if agent is not None:
            agent.stop()


def _entries(n: int) -> list[Any]:
    from dysco_proto.entries import Deltas, Direction, EntryKey, MappingEntry
    from dysco_proto.packet import FiveTuple

    out = []
    for i in range(n):
        sub = FiveTuple(f"198.19.{(i >> 8) & 0xFF}.{i & 0xFF}", 1024 + (i >> 16), "10.0.0.1", 80)
        host = FiveTuple("198.18.0.10", 20000 + (i % 40000), "10.0.0.1", 80)
        out.append(
            MappingEntry(EntryKey(Direction.IN, sub), host, Deltas(i, -i, 7, -7, 0), 1 + i % 60000)
        )
    return out


async def _bench_entries(address: str, n: int, batch: int, tmp: Path) -> dict[str, Any]:
    from controller.p4rt.client import P4RuntimeClient
    from controller.p4rt.gen.p4.v1 import p4runtime_pb2 as p4r
    from controller.translate import Translator
    from controller.writer import OrderedWriter

    cfg = _config(tmp, address, policies=False)
    p4info = load_p4info(CONTRACT_P4INFO)
    tr = Translator(p4info, cfg)
    entries = _entries(n)
    t0 = time.perf_counter()
    for e in entries[: min(n, 20_000)]:
        tr.entry_update(p4r.Update.INSERT, e)
    translate_rate = min(n, 20_000) / (time.perf_counter() - t0)

    client = P4RuntimeClient(address, 1, 1, p4info, push_pipeline="auto")
    await client.start(timeout=30)
    writer = OrderedWriter(client, batch)
    writer.start()
    try:
        t0 = time.perf_counter()
        chunk = batch
        for i in range(0, n, chunk):
            writer.begin_scope()
            for e in entries[i : i + chunk]:
                writer.write(tr.entry_update(p4r.Update.INSERT, e), e.key)
            await asyncio.sleep(0)  # let the writer send while we translate the next chunk
        await writer.drain(timeout=3600)
        dt = time.perf_counter() - t0
        if writer.stats.errors:
            raise BenchError(f"{writer.stats.errors} write errors: {writer.stats.error_codes}")
        return {
            "entries": n,
            "batch": batch,
            "entries_per_s": round(n / dt),
            "translate_entries_per_s": round(translate_rate),
            "write_batches": writer.stats.batches,
        }
    finally:
        await writer.close()
        await client.close()


def _syn_frames(n: int) -> list[bytes]:
    from dysco_proto.frames import build_frame
    from dysco_proto.packet import FiveTuple, Segment, TcpFlags, TcpOptions

    return [
        build_frame(
            Segment(
                FiveTuple("10.0.0.1", 1024 + i, "198.18.9.9", 80),
                1000 + i,
                0,
                TcpFlags.SYN,
                options=TcpOptions(mss=1460, wscale=7, sack_permitted=True),
            ),
            HOST_MAC,
            DEVICE_MAC,
        )
        for i in range(n)
    ]


def sessions_server(n: int) -> int:
    """The device side of ``sessions_per_s``, in its own process (so that the reference
    model's per-packet Python does not share the daemon's interpreter lock): a P4Runtime
    server over the reference model. On ``go`` (stdin) it injects ``n`` SYNs into host
    port 1 and prints the seconds from the first SYN to the ``n``-th chain SYN leaving the
    network port."""
    import threading

    from controller.p4rt.backends import RefModelBackend
    from controller.p4rt.server import P4RuntimeServer

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
        [sys.executable, "-m", "controller.bench", "--sessions-server", str(n)],
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


def run_bench(
    entries: int = 50_000,
    batch: int = 1000,
    sessions: int = 2000,
    target: str = "auto",
    server: str | None = None,
) -> dict[str, Any]:
    """Run both measurements; returns the JSON-able result."""
    tgt = "external" if server else _pick_target(target)
    out: dict[str, Any] = {"target": tgt, "cpu_count": os.cpu_count()}
    with tempfile.TemporaryDirectory(prefix="dysco-bench-") as d:
        tmp = Path(d)
        if server:
            out.update(asyncio.run(_bench_entries(server, entries, batch, tmp)))
        else:
            with _server(tgt, max(entries, 1024)) as address:
                out.update(asyncio.run(_bench_entries(address, entries, batch, tmp)))
        if sessions > 0:
            out.update(asyncio.run(_bench_sessions(sessions, tmp)))
    return out


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--sessions-server":
        sys.exit(sessions_server(int(sys.argv[2])))
    print("usage: python -m controller.bench --sessions-server N (dysco bench controller)")
    sys.exit(2)
