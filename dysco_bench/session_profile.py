"""Where a new session's CPU goes in the controller, and the floors under it.

Two measurements for ``dysco bench controller`` (``sessions_per_s``):

- :class:`CpuParts`: exclusive thread CPU time of the daemon's named steps on the event loop
  thread (the protocol core, packet-in decoding, the state commit, ...), so that a run says
  how much of the daemon's CPU per session is the sans-IO core, which must stay the code the
  simulator and the model checker drive, and how much is everything around it.
- :func:`grpc_pair_floor`: the CPU that grpcio itself takes for the two stream messages every
  new session needs (the SYN's packet-in, the chain SYN's packet-out), with nothing else on
  either end: an echo server in its own process that answers each packet-out with one
  packet-in of the same size, and an asyncio client like the daemon's. This is the least a
  P4Runtime session can cost in Python on each side, whatever the controller does.

:func:`floor_bound` turns them into the rate at which the floors alone would keep every core
busy: no controller built from these parts can set up more sessions per second here.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent import futures
from typing import Any

# a chain SYN with options (74 bytes) as packet-out, a SYN punt as packet-in: their sizes
_PACKET_OUT = bytes(74)
_PACKET_IN = bytes(74)
_PACKET_IN_METADATA = 9  # the punt header's fields (docs/pipeline.md section 6)


class CpuParts:
    """Exclusive CPU time (``time.thread_time``) of wrapped callables, by part name.

    Wrapped callables must be synchronous and run on one thread: a part's time excludes the
    time of other wrapped parts it calls, so the parts add up to at most the thread's CPU."""

    def __init__(self) -> None:
        self.parts: dict[str, float] = {}
        self._stack: list[float] = []  # per open call: CPU time of the wrapped calls inside

    def wrap(self, obj: Any, attr: str, part: str) -> None:
        """Replace ``obj.attr`` (an instance attribute or bound method) by a timed wrapper."""
        inner: Callable[..., Any] = getattr(obj, attr)
        self.parts.setdefault(part, 0.0)
        stack = self._stack
        parts = self.parts

        def timed(*args: Any, **kw: Any) -> Any:
            t0 = time.thread_time()
            stack.append(0.0)
            try:
                return inner(*args, **kw)
            finally:
                dt = time.thread_time() - t0
                nested = stack.pop()
                parts[part] += dt - nested
                if stack:
                    stack[-1] += dt

        setattr(obj, attr, timed)

    def snapshot(self) -> dict[str, float]:
        """The seconds per part so far (a copy)."""
        return dict(self.parts)


def wrap_daemon(daemon: Any) -> CpuParts:
    """Time the daemon's steps of a new session: the packet-in's decoding and translation,
    the protocol core (every agent's ``handle``), tracking and persisting its state, turning
    its actions into updates and packet-outs, and the durable state commit."""
    cp = CpuParts()
    cp.wrap(daemon.client, "_on_stream_message", "packet_in_decode_and_dispatch")
    cp.wrap(daemon.translator, "packet_in", "packet_in_translate")
    for unit in daemon.units.values():
        cp.wrap(unit.agent, "handle", "protocol_core")
    cp.wrap(daemon, "persist", "state_tracking")
    cp.wrap(daemon, "execute", "actions_to_updates")
    cp.wrap(daemon, "flush_store", "state_commit")
    return cp


def sport(frame: bytes) -> int:
    """TCP source port of an Ethernet/IPv4 frame (no VLAN)."""
    ihl = (frame[14] & 0x0F) * 4
    return int.from_bytes(frame[14 + ihl : 16 + ihl], "big")


def _pct(v: list[float], q: float) -> float:
    s = sorted(v)
    return s[min(len(s) - 1, round(q * (len(s) - 1)))] if s else 0.0


def stats_us(v: list[float]) -> dict[str, float]:
    return {"p50": round(_pct(v, 0.5) * 1e6, 1), "p99": round(_pct(v, 0.99) * 1e6, 1)}


class HopClock:
    """Per-session timestamps inside the daemon (bench only): the SYN packet-in arriving,
    the Write RPC carrying its entries (start, end), its packet-out handed to the stream."""

    def __init__(self, daemon: Any) -> None:
        self.pktin: dict[int, float] = {}
        self.write: dict[int, tuple[float, float]] = {}
        self.commit: list[float] = []
        self.rtt: list[float] = []
        on_pi = daemon.client.on_packet_in

        def packet_in(msg: Any) -> None:
            self.pktin.setdefault(sport(msg.payload), time.perf_counter())
            on_pi(msg)

        daemon.client.on_packet_in = packet_in
        writer = daemon.writer
        execute = writer._execute
        flush = daemon.flush_store

        async def timed_execute(batch: Any) -> None:
            t0 = time.perf_counter()
            await execute(batch)
            t1 = time.perf_counter()
            self.rtt.append(t1 - t0)
            for wk in batch.keys:
                k = wk[1] if isinstance(wk, tuple) else wk  # (agent id, entry key)
                m = getattr(k, "match", None)
                if m is not None and getattr(k.direction, "name", "") == "OUT":
                    self.write.setdefault(m.src_port, (t0, t1))

        def timed_flush() -> None:
            t0 = time.perf_counter()
            flush()
            self.commit.append(time.perf_counter() - t0)

        writer._execute = timed_execute
        daemon.flush_store = timed_flush
        writer.client._flush = timed_flush


def hops(clock: HopClock, left: dict[int, float], shadow: dict[Any, Any]) -> dict[str, Any]:
    # the chain SYN leaves from the port the OUT entry rewrites the host's port to
    new_port = {
        k.match.src_port: e.rewrite.src_port
        for k, e in shadow.items()
        if k.direction.name == "OUT" and k.match.src_ip == "10.0.0.1"
    }
    total, before, rtt, after = [], [], [], []
    for sport, t_in in clock.pktin.items():
        t_out = left.get(new_port.get(sport, -1))
        if t_out is None:
            continue
        total.append(t_out - t_in)
        w = clock.write.get(sport)
        if w is not None:
            before.append(w[0] - t_in)
            rtt.append(w[1] - w[0])
            after.append(t_out - w[1])
    return {
        "setup_latency_us": stats_us(total),
        "setup_latency_hops_us": {
            "pktin_to_write_start": stats_us(before),
            "store_commit_and_write_rpc": stats_us(rtt),
            "write_done_to_chain_syn_left": stats_us(after),
        },
    }


def _servicer() -> Any:
    from controller.p4rt.gen.p4.v1 import p4runtime_pb2 as p4r
    from controller.p4rt.gen.p4.v1 import p4runtime_pb2_grpc as p4r_grpc

    class Echo(p4r_grpc.P4RuntimeServicer):  # type: ignore[misc]
        """Answers every packet-out with one packet-in, nothing else."""

        def StreamChannel(self, request_iterator: Any, context: Any) -> Any:
            for req in request_iterator:
                if req.HasField("packet"):
                    r = p4r.StreamMessageResponse()
                    r.packet.payload = _PACKET_IN
                    for i in range(_PACKET_IN_METADATA):
                        r.packet.metadata.add(metadata_id=i + 1, value=b"\x01\x02")
                    yield r

    return Echo()


def serve_echo() -> int:
    """The echo server's process: prints its port, serves until stdin closes."""
    import grpc

    from controller.p4rt.gen.p4.v1 import p4runtime_pb2_grpc as p4r_grpc

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    p4r_grpc.add_P4RuntimeServicer_to_server(_servicer(), server)  # type: ignore[no-untyped-call]
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print(f"echo on {port}", flush=True)
    sys.stdin.read()
    server.stop(0)
    return 0


def cpu_seconds(pid: int | None = None) -> float:
    """CPU seconds (user + system, every thread) of ``pid`` (default: this process, at
    ``process_time`` resolution; another process from ``/proc`` ticks, 0.0 once it is gone)."""
    if pid is None:
        return time.process_time()
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def _pairs(port: int, n: int, window: int) -> float:
    """Send ``n`` packet-outs (at most ``window`` unanswered) and read the ``n`` packet-ins;
    returns this process's CPU seconds."""
    from grpc import aio

    from controller.p4rt.client import GRPC_OPTIONS
    from controller.p4rt.gen.p4.v1 import p4runtime_pb2 as p4r
    from controller.p4rt.gen.p4.v1 import p4runtime_pb2_grpc as p4r_grpc

    async with aio.insecure_channel(f"127.0.0.1:{port}", options=GRPC_OPTIONS) as ch:
        call = p4r_grpc.P4RuntimeStub(ch).StreamChannel()  # type: ignore[no-untyped-call]
        room = asyncio.Semaphore(window)

        async def reader() -> None:
            for _ in range(n):
                await call.read()
                room.release()

        c0 = time.process_time()
        task = asyncio.create_task(reader())
        for _ in range(n):
            await room.acquire()
            m = p4r.StreamMessageRequest()
            m.packet.payload = _PACKET_OUT
            m.packet.metadata.add(metadata_id=1, value=b"\x00\x01")
            await call.write(m)
        await task
        cpu = time.process_time() - c0
        call.cancel()
        return cpu


def grpc_pair_floor(n: int = 5000, rounds: int = 3, window: int = 256) -> dict[str, Any]:
    """CPU microseconds per packet-out/packet-in pair on each end of a bare grpcio stream
    (medians over ``rounds`` of ``n`` pairs, every round listed). The client runs in a fresh
    process too, so that what the caller's process did before (a daemon's channels and
    threads) does not weigh on the figure."""
    import json

    out = subprocess.run(
        [sys.executable, "-m", "dysco_bench.session_profile", "--grpc-floor", str(n), str(rounds)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    lines = out.stdout.strip().splitlines()
    if out.returncode != 0 or not lines:
        raise RuntimeError(f"the gRPC floor measurement failed: {out.stderr.strip()[-300:]}")
    result: dict[str, Any] = json.loads(lines[-1])
    return result


def _grpc_pair_floor_here(n: int, rounds: int, window: int = 256) -> dict[str, Any]:
    import statistics

    proc = subprocess.Popen(
        [sys.executable, "-m", "dysco_bench.session_profile", "--serve-echo"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line.startswith("echo on "):
            raise RuntimeError(f"the gRPC echo server did not start ({line.strip()!r})")
        port = int(line.split()[-1])
        runs = []
        for _ in range(rounds):
            s0 = cpu_seconds(proc.pid)
            client = asyncio.run(_pairs(port, n, window))
            server = cpu_seconds(proc.pid) - s0
            runs.append({"client": client * 1e6 / n, "server": server * 1e6 / n})
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return {
        "pairs": n,
        "client_us": round(statistics.median(r["client"] for r in runs), 1),
        "server_us": round(statistics.median(r["server"] for r in runs), 1),
        "rounds": [{k: round(v, 1) for k, v in r.items()} for r in runs],
        # the server's figure comes from /proc ticks: 1 / (SC_CLK_TCK * n) s per pair
        "server_resolution_us": round(1e6 / (os.sysconf("SC_CLK_TCK") * n), 2),
    }


def floor_bound(core_us: float, grpc: dict[str, Any], agent_us: float, cores: int) -> int:
    """Sessions per second at which the floors alone (the protocol core, grpcio's two
    messages on each end, the device agent's own work) keep ``cores`` busy."""
    per_session = core_us + grpc["client_us"] + grpc["server_us"] + agent_us
    return round(cores * 1e6 / per_session) if per_session > 0 else 0


if __name__ == "__main__":
    if sys.argv[1:] == ["--serve-echo"]:
        sys.exit(serve_echo())
    if len(sys.argv) == 4 and sys.argv[1] == "--grpc-floor":
        import json

        print(json.dumps(_grpc_pair_floor_here(int(sys.argv[2]), int(sys.argv[3]))))
        sys.exit(0)
    print(
        "usage: python -m dysco_bench.session_profile --serve-echo | --grpc-floor N ROUNDS"
        " (dysco bench controller)"
    )
    sys.exit(2)
