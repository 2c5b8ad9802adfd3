"""``dysco bench dataplane``: the DPDK agent's forwarding rate with Dysco rewriting, against
``dpdk-testpmd --forward-mode=io`` on the same ports and traffic (the physical limit of the
set-up), plus the P4Runtime install rate and the agent's memory per session.

Set-up (root): two network namespaces, each with a veth whose root-side end is a DPDK
``net_af_packet`` port: ``gen`` (port 0, a host port) and ``sink`` (port 1, the network).
``dysco-dpdk-gen`` in ``gen`` sends TCP segments (NOP NOP TS option) cycling over the N
installed sessions; the agent rewrites each (five-tuple, seq/ack/TSval deltas, checksums,
slot registers) and routes it to port 1; the rate is what arrives on the sink veth. Then
testpmd forwards the very same traffic between the same two ports unchanged.

The N sessions (2N entries: OUT and IN) are installed through the P4Runtime server (a
separate process, DPDK backend) with a plain gRPC client, in batches of 1,000 updates.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dysco_testbed.net import offloads_off, sh

REPO = Path(__file__).resolve().parents[1]
BUILD = REPO / "dpdk_agent" / "build"
AGENT = BUILD / "dysco-dpdk-agent"
GEN = BUILD / "dysco-dpdk-gen"
SPORTS = 64000
BATCH = 1000

SRC, SRC_RW = "198.18.0.10", "198.18.128.10"
DST_BASE, DST_RW_BASE = 0xC6130000, 0xC6138000  # 198.19.0.0, 198.19.128.0
SINK_MAC = 0x020000009999  # not the sink's own MAC: the sink kernel drops frames early


class BenchError(RuntimeError):
    pass


@dataclass
class Topo:
    ns_gen: str
    ns_sink: str
    if_gen: str
    if_sink: str


@contextlib.contextmanager
def topology() -> Iterator[Topo]:
    tag = f"{os.getpid() % 100000}"
    t = Topo(f"dysco-bg{tag}", f"dysco-bs{tag}", f"dbg{tag}r", f"dbs{tag}r")
    try:
        for ns, root, mac in (
            (t.ns_gen, t.if_gen, "02:00:00:00:bb:01"),
            (t.ns_sink, t.if_sink, "02:00:00:00:cc:01"),
        ):
            sh("ip", "netns", "add", ns)
            sh("ip", "link", "add", root, "type", "veth", "peer", "name", f"{root}x")
            sh("ip", "link", "set", f"{root}x", "netns", ns)
            sh("ip", "-n", ns, "link", "set", f"{root}x", "name", "eth0")
            sh("ip", "-n", ns, "link", "set", "eth0", "address", mac)
            sh("ip", "-n", ns, "link", "set", "eth0", "up")
            sh("ip", "link", "set", root, "up")
            offloads_off(root)
            offloads_off("eth0", ns)
        yield t
    finally:
        for ns in (t.ns_gen, t.ns_sink):
            sh("ip", "netns", "del", ns, check=False)
        for root in (t.if_gen, t.if_sink):
            sh("ip", "link", "del", root, check=False)


def _rx_packets(ns: str) -> int:
    r = sh("ip", "netns", "exec", ns, "cat", "/sys/class/net/eth0/statistics/rx_packets")
    return int(r.stdout.strip())


def _vdevs(t: Topo) -> list[str]:
    return [
        "--vdev",
        f"net_af_packet0,iface={t.if_gen},framecnt=4096,blocksz=4096,framesz=2048",
        "--vdev",
        f"net_af_packet1,iface={t.if_sink},framecnt=4096,blocksz=4096,framesz=2048",
    ]


def _eal(prefix: str, lcores: str, mem: int) -> list[str]:
    return [
        "-l",
        lcores,
        "--no-huge",
        "-m",
        str(mem),
        "--no-pci",
        f"--file-prefix={prefix}",
        "--no-shconf",
        "--no-telemetry",
        "--log-level=lib.eal:error",
    ]


# --- P4Runtime install -------------------------------------------------------------------------


def _ubytes(v: int) -> bytes:
    """A P4Runtime bytestring: ``v`` big-endian in the fewest bytes (at least one)."""
    return v.to_bytes(max(1, (v.bit_length() + 7) // 8), "big")


def _exact_entry(
    p4r: Any,
    table_id: int,
    match_ids: dict[str, int],
    match: list[tuple[str, int]],
    action_id: int,
    param_ids: dict[str, int],
    params: list[tuple[str, int]],
) -> Any:
    """A ``p4.v1.TableEntry`` with exact matches and one action, fields in the order given."""
    ex = p4r.FieldMatch.Exact
    te = p4r.TableEntry(
        table_id=table_id,
        match=[
            p4r.FieldMatch(field_id=match_ids[name], exact=ex(value=_ubytes(v)))
            for name, v in match
        ],
    )
    a = te.action.action
    a.action_id = action_id
    for name, v in params:
        a.params.add(param_id=param_ids[name], value=_ubytes(v))
    return te


def _session_updates(n: int) -> Iterator[list[Any]]:
    """Batches of P4Runtime updates installing n sessions (OUT + IN entries)."""
    from controller.p4rt.gen.p4.v1 import p4runtime_pb2 as p4r
    from controller.p4rt.p4info import P4InfoIndex
    from dysco_pipeline import pipeline as pl
    from dysco_targets.contract import load_contract_p4info
    from dysco_targets.entities import P4RuntimeCodec

    codec = P4RuntimeCodec(P4InfoIndex(load_contract_p4info()))
    t_out, t_in = codec.table_ids[pl.Tbl.OUT_SESSION], codec.table_ids[pl.Tbl.IN_SESSION]
    mo, mi = codec.match_by_name[pl.Tbl.OUT_SESSION], codec.match_by_name[pl.Tbl.IN_SESSION]
    a_out, a_in = codec.action_ids[pl.Act.OUT_REWRITE], codec.action_ids[pl.Act.IN_REWRITE]
    po, pi = codec.param_by_name[pl.Act.OUT_REWRITE], codec.param_by_name[pl.Act.IN_REWRITE]
    ip = lambda s: int.from_bytes(bytes(int(x) for x in s.split(".")), "big")  # noqa: E731
    src, src_rw = ip(SRC), ip(SRC_RW)
    m32 = 0xFFFFFFFF
    batch: list[Any] = []
    for i in range(n):
        sp, dst, dst_rw = 1024 + i % SPORTS, DST_BASE + i // SPORTS, DST_RW_BASE + i // SPORTS
        slot = i % 65536
        out_match = [("agent_id", 1), ("src_addr", src), ("dst_addr", dst), ("proto", 6),
                     ("src_port", sp), ("dst_port", 80)]  # fmt: skip
        out_params = [
            ("src_addr", src_rw), ("dst_addr", dst_rw), ("src_port", sp), ("dst_port", 8080),
            ("seq_delta", 1000), ("ack_delta", -7777 & m32), ("tsval_delta", 12345),
            ("tsecr_delta", 0), ("win_shift", 0), ("slot", slot), ("role", 0), ("epoch", 0),
            ("peer_cut", 0), ("peer_cut_valid", 0),
        ]  # fmt: skip
        in_match = [("src_addr", dst_rw), ("dst_addr", src_rw), ("proto", 6),
                    ("src_port", 8080), ("dst_port", sp)]  # fmt: skip
        in_params = [
            ("src_addr", dst), ("dst_addr", src), ("src_port", 80), ("dst_port", sp),
            ("seq_delta", 7777), ("ack_delta", -1000 & m32), ("tsval_delta", 0),
            ("tsecr_delta", -12345 & m32), ("win_shift", 0), ("slot", slot), ("role", 0),
            ("epoch", 0),
        ]  # fmt: skip
        for te in (
            _exact_entry(p4r, t_out, mo, out_match, a_out, po, out_params),
            _exact_entry(p4r, t_in, mi, in_match, a_in, pi, in_params),
        ):
            batch.append(p4r.Update(type=p4r.Update.INSERT, entity=p4r.Entity(table_entry=te)))
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _base_updates() -> list[Any]:
    from controller.p4rt.gen.p4.v1 import p4runtime_pb2 as p4r
    from controller.p4rt.p4info import P4InfoIndex
    from dysco_pipeline import pipeline as pl
    from dysco_targets.contract import load_contract_p4info
    from dysco_targets.entities import P4RuntimeCodec

    codec = P4RuntimeCodec(P4InfoIndex(load_contract_p4info()))
    es = [
        pl.TableEntry.build(
            pl.Tbl.PORT_ROLE, {"ingress_port": 0}, pl.Act.HOST_PORT, {"agent_id": 1}
        ),
        pl.TableEntry.build(pl.Tbl.PORT_ROLE, {"ingress_port": 1}, pl.Act.NETWORK_PORT, {}),
        pl.TableEntry.build(
            pl.Tbl.IPV4_FWD,
            {"dst_addr": "198.19.128.0/17"},
            pl.Act.ROUTE,
            {"port": 1, "src_mac": 0x0200000000AA, "dst_mac": SINK_MAC},
        ),
        pl.TableEntry.build(
            pl.Tbl.IPV4_FWD,
            {"dst_addr": "198.18.0.0/24"},
            pl.Act.ROUTE,
            {"port": 0, "src_mac": 0x0200000000AB, "dst_mac": 0x02000000BB01},
        ),
    ]
    return [
        p4r.Update(type=p4r.Update.INSERT, entity=p4r.Entity(table_entry=codec.to_p4r(e)))
        for e in es
    ]


class P4RTSession:
    """A primary-controller session with plain gRPC stubs (arbitration + pipeline push)."""

    def __init__(self, address: str) -> None:
        import grpc

        from controller.p4rt.gen.p4.v1 import p4runtime_pb2 as p4r
        from controller.p4rt.gen.p4.v1 import p4runtime_pb2_grpc as p4r_grpc
        from dysco_targets.contract import load_contract_p4info

        self.p4r = p4r
        self.channel = grpc.insecure_channel(
            address,
            options=[
                ("grpc.max_send_message_length", 64 << 20),
                ("grpc.max_receive_message_length", 64 << 20),
            ],
        )
        grpc.channel_ready_future(self.channel).result(timeout=30)
        self.stub = p4r_grpc.P4RuntimeStub(self.channel)
        self.eid = p4r.Uint128(high=0, low=1)
        self._stop = threading.Event()
        arb = p4r.StreamMessageRequest(
            arbitration=p4r.MasterArbitrationUpdate(device_id=1, election_id=self.eid)
        )

        def reqs() -> Iterator[Any]:
            yield arb
            self._stop.wait()

        self.stream = self.stub.StreamChannel(reqs())
        first = next(self.stream)
        if first.arbitration.status.code != 0:
            raise BenchError(f"not primary: {first}")
        self.stub.SetForwardingPipelineConfig(
            p4r.SetForwardingPipelineConfigRequest(
                device_id=1,
                election_id=self.eid,
                action=p4r.SetForwardingPipelineConfigRequest.VERIFY_AND_COMMIT,
                config=p4r.ForwardingPipelineConfig(p4info=load_contract_p4info()),
            )
        )

    def write(self, updates: list[Any]) -> None:
        self.stub.Write(
            self.p4r.WriteRequest(device_id=1, election_id=self.eid, updates=updates), timeout=120
        )

    def close(self) -> None:
        self._stop.set()
        self.stream.cancel()
        self.channel.close()


def serialize_batches(n: int) -> list[tuple[int, bytes]]:
    """The session updates as serialized WriteRequests of BATCH updates: (count, bytes).
    Built once, before any timing (and compact: 2M update objects would not fit in RAM)."""
    from controller.p4rt.gen.p4.v1 import p4runtime_pb2 as p4r

    eid = p4r.Uint128(high=0, low=1)
    return [
        (len(b), p4r.WriteRequest(device_id=1, election_id=eid, updates=b).SerializeToString())
        for b in _session_updates(n)
    ]


def install_sessions(address: str, batches: list[tuple[int, bytes]]) -> dict[str, float]:
    """Install the base entries, then the prebuilt session batches: the rate measured is the
    P4Runtime server's and the agent's, not the benchmark's protobuf construction."""
    from controller.p4rt.gen.p4.v1 import p4runtime_pb2 as p4r

    s = P4RTSession(address)
    try:
        s.write(_base_updates())
        write = s.channel.unary_unary(
            "/p4.v1.P4Runtime/Write",
            request_serializer=None,
            response_deserializer=p4r.WriteResponse.FromString,
        )
        n_entries = sum(n for n, _ in batches)
        # two writers in flight: the server decodes one batch while the agent applies another
        t0 = time.perf_counter()
        errs: list[BaseException] = []
        lock = threading.Lock()
        it = iter(batches)

        def worker() -> None:
            while True:
                with lock:
                    b = next(it, None)
                if b is None:
                    return
                try:
                    write(b[1], timeout=120)
                except BaseException as e:
                    errs.append(e)
                    return

        ths = [threading.Thread(target=worker) for _ in range(2)]
        for th in ths:
            th.start()
        for th in ths:
            th.join()
        dt = time.perf_counter() - t0
        if errs:
            raise BenchError(f"P4Runtime write failed: {errs[0]}")
        return {"entries": n_entries, "seconds": dt, "entries_per_s": n_entries / dt}
    finally:
        s.close()


# --- runs ----------------------------------------------------------------------------------


def _wait_line(proc: subprocess.Popen[str], needle: str, timeout: float) -> str:
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    buf = ""
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            if proc.poll() is not None:
                raise BenchError(f"process exited: {buf[-2000:]}")
            continue
        buf += line
        if needle in line:
            return line
    raise BenchError(f"timeout waiting for {needle!r}: {buf[-2000:]}")


def _measure(
    t: Topo, sessions: int, seconds: float, payload: int, gen_core: int
) -> dict[str, float]:
    """Run the generator and measure the sink's receive rate over the middle of the run."""
    gen = subprocess.Popen(
        [
            "ip",
            "netns",
            "exec",
            t.ns_gen,
            str(GEN),
            *_eal(f"dgen{os.getpid()}", str(gen_core), 256),
            "--vdev",
            "net_af_packet0,iface=eth0,framecnt=4096,blocksz=4096,framesz=2048",
            "--",
            "--sessions",
            str(sessions),
            "--seconds",
            str(int(seconds) + 2),
            "--payload",
            str(payload),
            "--src",
            SRC,
            "--dst-base",
            "198.19.0.0",
            "--sport-base",
            "1024",
            "--dport",
            "80",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    time.sleep(1.0)
    r0, t0 = _rx_packets(t.ns_sink), time.perf_counter()
    time.sleep(seconds)
    r1, t1 = _rx_packets(t.ns_sink), time.perf_counter()
    out, _ = gen.communicate(timeout=60)
    line = next((x for x in out.splitlines() if x.startswith("{")), "{}")
    g = json.loads(line)
    return {"pps": (r1 - r0) / (t1 - t0), "generator_pps": float(g.get("pps", 0.0))}


def _start_agent(t: Topo, capacity: int, fwd_core: int, ctl: str) -> subprocess.Popen[str]:
    """The DPDK agent on the forwarding core, with room for ``capacity`` sessions."""
    mem = 512 + capacity * 260 // (1 << 20) + 128
    return subprocess.Popen(
        [
            str(AGENT),
            *_eal(f"dag{os.getpid()}", str(fwd_core), mem),
            *_vdevs(t),
            "--",
            "--ctl",
            ctl,
            "--sessions",
            str(capacity),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def _start_server(ctl: str, port: int) -> subprocess.Popen[str]:
    """The project's P4Runtime server in front of the agent's control socket ``ctl``."""
    server = subprocess.Popen(
        [sys.executable, "-m", "dysco_targets.serve", "--backend", "dpdk",
         "--agent-ctl", ctl, "--address", f"127.0.0.1:{port}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=str(REPO),
    )  # fmt: skip
    _wait_line(server, "p4runtime server on", 60)
    return server


def _measure_agent(
    ctl: str, t: Topo, sessions: int, seconds: float, payload: int, gen_core: int
) -> dict[str, Any]:
    """Packets/s through the agent, its hit ratio and its cycles per packet (rx, pipe, tx)."""
    from dysco_targets.dpdk_ctl import AgentClient

    c = AgentClient(ctl)
    st0 = c.stats()
    m = _measure(t, sessions, seconds, payload, gen_core)
    st = c.stats()
    c.close()
    rx = max(1, st["rx"] - st0["rx"])
    return {
        "pps": m["pps"],
        "generator_pps": m["generator_pps"],
        "hit_ratio": (st["hit"] - st0["hit"]) / rx,
        "ns_per_packet": {
            k: round((st["cyc_" + k] - st0["cyc_" + k]) / st["hz"] * 1e9 / rx, 1)
            for k in ("rx", "pipe", "tx")
        },
    }


def _terminate(procs: list[subprocess.Popen[str] | None]) -> None:
    """SIGTERM each process still running; SIGKILL after 15 s."""
    for p in procs:
        if p is not None and p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=15)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def _agent_run(
    t: Topo,
    batches: list[tuple[int, bytes]],
    sessions: int,
    capacity: int,
    seconds: float,
    payload: int,
    fwd_core: int,
    gen_core: int,
    say: Any,
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    ctl = f"/tmp/dysco-bench-{os.getpid()}.sock"
    agent = _start_agent(t, capacity, fwd_core, ctl)
    server = None
    try:
        line = _wait_line(agent, "dysco-agent: ready", 120)
        out["table_bytes"] = int(line.split("table_bytes=")[1].split()[0])
        port = 20000 + os.getpid() % 20000
        server = _start_server(ctl, port)
        w = install_sessions(f"127.0.0.1:{port}", batches)
        out["write"] = w
        say(f"  installed {w['entries']} entries in {w['seconds']:.2f}s over P4Runtime")
        out.update(_measure_agent(ctl, t, sessions, seconds, payload, gen_core))
        say(f"  agent: {out['pps']:.0f} pps (generator {out['generator_pps']:.0f} pps)")
    finally:
        _terminate([server, agent])
        with contextlib.suppress(OSError):
            os.unlink(ctl)
    return out


def _baseline_run(
    t: Topo, sessions: int, seconds: float, payload: int, fwd_core: int, gen_core: int, say: Any
) -> dict[str, float]:
    tp = subprocess.Popen(
        [
            # main and forwarding lcores both on the forwarding CPU (the main lcore sleeps):
            # the generator's CPU stays the generator's, exactly as in the agent run
            "dpdk-testpmd",
            *_eal(f"dtp{os.getpid()}", "0,1", 512)[2:],
            f"--lcores=0@{fwd_core},1@{fwd_core}",
            *_vdevs(t),
            "--",
            "--forward-mode=io",
            "--auto-start",
            "--stats-period",
            "1",
            "--nb-cores=1",
            "--rxq=1",
            "--txq=1",
            "--burst=32",
            "--total-num-mbufs=16384",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        time.sleep(3)
        if tp.poll() is not None:
            raise BenchError("dpdk-testpmd exited")
        b = _measure(t, sessions, seconds, payload, gen_core)
    finally:
        if tp.poll() is None:
            tp.send_signal(signal.SIGINT)
            try:
                tp.wait(timeout=15)
            except subprocess.TimeoutExpired:
                tp.kill()
                tp.wait()
    say(f"  testpmd io: {b['pps']:.0f} pps (generator {b['generator_pps']:.0f} pps)")
    return b


def _median(xs: list[float]) -> float:
    ys = sorted(xs)
    n = len(ys)
    return ys[n // 2] if n % 2 else (ys[n // 2 - 1] + ys[n // 2]) / 2


def run(
    sessions: int,
    *,
    seconds: float = 5.0,
    payload: int = 0,
    capacity: int = 1_000_000,
    repeat: int = 3,
    log: Any = None,
) -> dict[str, Any]:
    """The whole benchmark; returns the JSON-able result.

    ``repeat`` rounds, each: start the agent, install the sessions over P4Runtime, measure;
    stop it; measure testpmd on the same ports with the same traffic. The machine is shared,
    so the rounds alternate and the medians are reported (every round is in ``rounds``).
    """
    if os.geteuid() != 0:
        raise BenchError("dysco bench dataplane needs root (network namespaces)")
    for tool in ("ip", "dpdk-testpmd"):
        if shutil.which(tool) is None:
            raise BenchError(f"{tool} not found (apt-get install iproute2 dpdk dpdk-dev)")
    subprocess.run(["make", "-s", "-C", str(REPO / "dpdk_agent")], check=True, stdout=sys.stderr)
    cores = sorted(os.sched_getaffinity(0))
    fwd_core, gen_core = cores[-1], cores[0]
    capacity = max(capacity, sessions)
    say = log or (lambda *_a: None)
    say(f"building {2 * sessions} P4Runtime updates ...")
    batches = serialize_batches(sessions)
    rounds: list[dict[str, Any]] = []
    with topology() as t:
        for r in range(repeat):
            say(f"round {r + 1}/{repeat}")
            a = _agent_run(
                t, batches, sessions, capacity, seconds, payload, fwd_core, gen_core, say
            )
            b = _baseline_run(t, sessions, seconds, payload, fwd_core, gen_core, say)
            rounds.append(
                {
                    "agent_pps": round(a["pps"]),
                    "baseline_pps": round(b["pps"]),
                    "ratio": round(a["pps"] / max(1.0, b["pps"]), 3),
                    "agent_generator_pps": round(a["generator_pps"]),
                    "baseline_generator_pps": round(b["generator_pps"]),
                    "p4rt_write_entries_per_s": round(a["write"]["entries_per_s"]),
                    "agent_hit_ratio": round(a["hit_ratio"], 4),
                    "agent_ns_per_packet": a["ns_per_packet"],
                    "table_bytes": a["table_bytes"],
                }
            )
    return {
        "sessions": sessions,
        "capacity_sessions": capacity,
        "agent_pps": round(_median([x["agent_pps"] for x in rounds])),
        "baseline_pps": round(_median([x["baseline_pps"] for x in rounds])),
        "ratio": round(_median([x["ratio"] for x in rounds]), 3),
        "bytes_per_session": round(rounds[0]["table_bytes"] / capacity, 1),
        "p4rt_write_entries_per_s": round(_median([x["p4rt_write_entries_per_s"] for x in rounds])),
        "p4rt_entries": 2 * sessions,
        "seconds": seconds,
        "payload": payload,
        "repeat": repeat,
        "rounds": rounds,
    }


# --- CLI ------------------------------------------------------------------------------------


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("target", choices=["dataplane"], help="what to benchmark")
    p.add_argument(
        "--sessions", type=int, default=100_000, help="sessions to install (default 100000)"
    )
    p.add_argument("--seconds", type=float, default=5.0, help="measurement window per run")
    p.add_argument("--payload", type=int, default=0, help="TCP payload bytes per packet")
    p.add_argument(
        "--capacity",
        type=int,
        default=1_000_000,
        help="agent table capacity in sessions (default 1000000)",
    )
    p.add_argument("--repeat", type=int, default=3, help="alternating agent/testpmd rounds")
    p.add_argument("--json", action="store_true", help="print the result as JSON")


def main_args(args: argparse.Namespace) -> int:
    log = None if args.json else (lambda m: print(m, file=sys.stderr, flush=True))
    try:
        res = run(
            args.sessions,
            seconds=args.seconds,
            payload=args.payload,
            capacity=args.capacity,
            repeat=getattr(args, "repeat", 3),
            log=log,
        )
    except BenchError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(res, sort_keys=True))
    else:
        for k in (
            "sessions",
            "agent_pps",
            "baseline_pps",
            "ratio",
            "bytes_per_session",
            "p4rt_write_entries_per_s",
        ):
            print(f"{k:26} {res[k]}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="dysco bench", description=(__doc__ or "").splitlines()[0])
    add_arguments(p)
    return main_args(p.parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())
