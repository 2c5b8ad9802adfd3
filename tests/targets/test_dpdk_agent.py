"""The DPDK agent's C pipeline against the reference model and the shared vector corpus.

The agent runs with no ports (``--no-huge``, no vdev); frames go through the real C pipeline
over its control socket (INJECT / PKT_OUT_SYNC with capture), which is the same code the
port loop calls. A pcap test drives real net_pcap ports too.
"""

from __future__ import annotations

import os
import random
import struct
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from dysco_pipeline import pipeline as pl
from dysco_pipeline.checksum import internet_checksum
from dysco_pipeline.refmodel import PipelineState, TableState
from dysco_proto.datapath import SlotRegisters
from dysco_targets.dpdk_ctl import AgentProcess, Op
from dysco_targets.entities import entry_from_ctl, entry_to_ctl
from tests.dpdk_support import (
    agent_load,
    agent_run,
    compare,
    ip_int,
    model_run,
    opt_sack,
    opt_ts,
    random_options,
    regs_from_ctl,
    start_agent,
    tcp_frame,
    udp_frame,
)

REPO = Path(__file__).resolve().parents[2]

HOST, NET = 1, 2
AGENT = 1
H = ip_int("198.18.1.1")


@pytest.fixture(scope="module")
def agent() -> Iterator[AgentProcess]:
    # register cells for every vector (the corpus has a slot above 65,535)
    slots = max([65536] + [getattr(c, "min_slots", 0) for c in CASES])
    a = start_agent(sessions=4096, extra=["--slots", str(slots)])
    a.client.capture(True)
    yield a
    a.stop()


def _rw(
    prefix: str, src: int, sport: int, dst: int, dport: int, d: tuple[int, ...]
) -> dict[str, int]:
    return {
        prefix + "src_addr": src,
        prefix + "dst_addr": dst,
        prefix + "src_port": sport,
        prefix + "dst_port": dport,
        prefix + "seq_delta": d[0],
        prefix + "ack_delta": d[1],
        prefix + "tsval_delta": d[2],
        prefix + "tsecr_delta": d[3],
        prefix + "win_shift": d[4] & 0xFF,
    }


def _deltas(rng: random.Random) -> tuple[int, ...]:
    if rng.random() < 0.3:
        return (0, 0, 0, 0, 0)
    pick = lambda: rng.choice([0, rng.getrandbits(32), rng.randrange(1, 5000)])  # noqa: E731
    return (pick(), pick(), pick(), pick(), rng.randrange(-3, 4))


def _scenario(rng: random.Random) -> tuple[list[pl.TableEntry], list[tuple[str, tuple]]]:
    """Tables for a few sessions (single and two-path), and the tuples packets may use."""
    es = [
        pl.TableEntry.build(
            pl.Tbl.PORT_ROLE, {"ingress_port": HOST}, pl.Act.HOST_PORT, {"agent_id": AGENT}
        ),
        pl.TableEntry.build(pl.Tbl.PORT_ROLE, {"ingress_port": NET}, pl.Act.NETWORK_PORT, {}),
        pl.TableEntry.build(pl.Tbl.LOCAL_ADDR, {"dst_addr": H}, pl.Act.SET_LOCAL, {}),
        pl.TableEntry.build(
            pl.Tbl.IPV4_FWD,
            {"dst_addr": "198.18.1.0/24"},
            pl.Act.ROUTE,
            {"port": HOST, "src_mac": 0x02AA00000001, "dst_mac": 0x02BB00000001},
        ),
        pl.TableEntry.build(
            pl.Tbl.IPV4_FWD,
            {"dst_addr": "198.18.0.0/15"},
            pl.Act.ROUTE,
            {"port": NET, "src_mac": 0x02AA00000002, "dst_mac": 0x02BB00000002},
        ),
        pl.TableEntry.build(pl.Tbl.IPV4_FWD, {"dst_addr": "198.19.255.0/24"}, pl.Act.DROP, {}),
    ]
    tuples: list[tuple[str, tuple]] = []
    for i in range(rng.randrange(1, 4)):
        peer = ip_int(f"198.18.2.{10 + i}")
        old = ip_int(f"198.18.3.{10 + i}")
        new = ip_int(f"198.18.4.{10 + i}")
        sp, op_, np_ = 40000 + i, 50000 + i, 51000 + i
        slot = rng.randrange(3)
        epoch = rng.randrange(3)
        d_out, d_in, d_new, d_new_in = (_deltas(rng) for _ in range(4))
        two = rng.random() < 0.6
        pc_valid = rng.random() < 0.4
        params = {
            **_rw("", H, op_, old, 80, d_out),
            "slot": slot,
            "role": 0,
            "epoch": epoch,
            "peer_cut": rng.getrandbits(32) if rng.random() < 0.5 else 10_000 + rng.randrange(3000),
            "peer_cut_valid": int(pc_valid),
        }
        match_out = {
            "agent_id": AGENT,
            "src_addr": H,
            "dst_addr": peer,
            "proto": 6,
            "src_port": sp,
            "dst_port": 80,
        }
        if two:
            # a held new path (rewrite destination 0.0.0.0, no route): the held prefix is
            # punted as HOLD, the rest dropped (docs/pipeline.md 5.2)
            held = rng.random() < 0.3
            params |= _rw("new_", H, np_, 0 if held else new, 80, d_new)
            es.append(
                pl.TableEntry.build(pl.Tbl.OUT_SESSION, match_out, pl.Act.OUT_TWO_PATH, params)
            )
        else:
            es.append(
                pl.TableEntry.build(pl.Tbl.OUT_SESSION, match_out, pl.Act.OUT_REWRITE, params)
            )
        es.append(
            pl.TableEntry.build(
                pl.Tbl.IN_SESSION,
                {"src_addr": old, "dst_addr": H, "proto": 6, "src_port": 80, "dst_port": op_},
                pl.Act.IN_REWRITE,
                {
                    **_rw("", peer, 80, H, sp, d_in),
                    "slot": slot,
                    "role": rng.choice([0, 1]),
                    "epoch": epoch,
                },
            )
        )
        if two:
            es.append(
                pl.TableEntry.build(
                    pl.Tbl.IN_SESSION,
                    {"src_addr": new, "dst_addr": H, "proto": 6, "src_port": 80, "dst_port": np_},
                    pl.Act.IN_REWRITE,
                    {
                        **_rw("", peer, 80, H, sp, d_new_in),
                        "slot": slot,
                        "role": 2,
                        "epoch": epoch + rng.randrange(2),
                    },
                )
            )
        tuples.append(("out", (HOST, H, sp, peer, 80)))
        tuples.append(("in", (NET, old, 80, H, op_)))
        tuples.append(("in", (NET, new, 80, H, np_)))
    return es, tuples


def _step(rng: random.Random, tuples: list[tuple[str, tuple]], base: int) -> tuple[bytes, int]:
    r = rng.random()
    if r < 0.08:  # probe (freeze) / forward / route packet-outs
        op = rng.choice(
            [
                pl.PacketOutOp.PROBE,
                pl.PacketOutOp.PROBE,
                pl.PacketOutOp.FORWARD,
                pl.PacketOutOp.ROUTE,
                pl.PacketOutOp.INVALID,
            ]
        )
        hdr = pl.encode_packet_out(
            {
                "op": int(op),
                "flags": rng.choice([0, 1]),
                "egress_port": rng.choice([1, 2, 255, 511]),
                "slot": rng.randrange(3),
                "token": rng.getrandbits(32),
                "epoch": rng.randrange(4),
            }
        )
        inner = tcp_frame(H, ip_int("198.18.2.10"), 1, 2, 3, 4, 0x10, ttl=rng.choice([1, 2, 64]))
        if rng.random() < 0.3:
            inner = bytearray(inner)
            inner[24] ^= 0xFF  # wrong IPv4 checksum: ROUTE recomputes it
            inner = bytes(inner)
        return hdr + (
            inner if op != pl.PacketOutOp.PROBE or rng.random() < 0.5 else b""
        ), pl.CPU_PORT
    if r < 0.11:
        port = rng.choice([HOST, NET])
        dst = rng.choice([H, ip_int("198.18.2.10")])
        return udp_frame(ip_int("198.18.9.9"), dst, 1234, rng.choice([35000, 53])), port
    kind, (port, src, sport, dst, dport) = rng.choice(tuples)
    if rng.random() < 0.05:
        dst = ip_int("198.19.255.7")  # drop route / miss
    flags = rng.choice([0x10, 0x10, 0x10, 0x18, 0x11, 0x14, 0x12, 0x02, 0x19, 0x00, 0x04])
    seq = (base + rng.randrange(-2000, 4000)) & 0xFFFFFFFF
    ack = (base + rng.randrange(-2000, 4000)) & 0xFFFFFFFF
    pay = bytes(rng.randrange(256) for _ in range(rng.choice([0, 0, 1, 7, 100, 600])))
    opts = random_options(rng, base)
    if rng.random() < 0.5 and port == NET and kind == "in":
        # acks and SACK blocks near the registers' range after the IN delta
        opts = opt_ts(5, 6) + opt_sack([(base + 100, base + 200)]) if rng.random() < 0.5 else opts
    f = tcp_frame(
        src,
        dst,
        sport,
        dport,
        seq,
        ack,
        flags,
        window=rng.choice([0, 1000, 65535]),
        options=opts,
        payload=pay,
        ttl=rng.choice([64, 64, 64, 1, 2]),
        bad_tcp_csum=rng.random() < 0.03,
        bad_ip_csum=rng.random() < 0.03,
        ip_flags=rng.choice([0, 0, 0, 0x4000, 0x2000, 0x0001]),
        trailer=rng.choice([b"", b"", b"\x00" * 6, b"\xab\xcd"]),
    )
    if rng.random() < 0.03:
        f = f[: rng.randrange(len(f))]  # truncated
    elif rng.random() < 0.04:
        b = bytearray(f)
        m = rng.randrange(5)
        if m == 0:
            b[12:14] = b"\x86\xdd"  # not IPv4
        elif m == 1:
            b[14] = 0x46  # IPv4 options
        elif m == 2:
            b[14 + 20 + 12] = rng.randrange(5) << 4  # data offset < 5
        elif m == 3:
            b[16:18] = (len(b) - 14 + 4).to_bytes(2, "big")  # total length past the frame
        else:
            b[14] = 0x35  # version 3
        f = bytes(b)
    return f, port


def _check_registers(agent: AgentProcess, state: PipelineState, what: str) -> None:
    for slot in range(3):
        got = regs_from_ctl(agent.client.reg_read(slot))
        want = state.registers.get(slot, SlotRegisters())
        assert got == want, f"{what}: slot {slot} registers\n agent: {got}\n model: {want}"


@pytest.mark.parametrize("seed", range(int(os.environ.get("DYSCO_DIFF_SEEDS", "60"))))
def test_agent_matches_reference_model(agent: AgentProcess, seed: int) -> None:
    """Random tables, registers and frames: the C pipeline and the model agree byte for byte
    on every output frame, every packet-in (header and payload) and every register."""
    rng = random.Random(seed)
    entries, tuples = _scenario(rng)
    state = PipelineState(TableState(entries))
    agent_load(agent.client, entries)
    base = rng.getrandbits(32)
    for i in range(60):
        frame, port = _step(rng, tuples, base)
        what = f"seed {seed} step {i} port {port}"
        compare(agent_run(agent.client, frame, port), model_run(state, frame, port), what)
    _check_registers(agent, state, f"seed {seed}")


def _held_session(rng: random.Random) -> list[pl.TableEntry]:
    """The base tables plus one two-path session (slot 0, epoch 1) whose new path is held:
    new rewrite destination 0.0.0.0 (docs/pipeline.md 5.2, "The held prefix")."""
    es, _ = _scenario(random.Random(0))
    es = [e for e in es if e.table not in (pl.Tbl.OUT_SESSION, pl.Tbl.IN_SESSION)]
    peer, old = ip_int("198.18.2.10"), ip_int("198.18.3.10")
    params = {
        **_rw("", H, 50000, old, 80, _deltas(rng)),
        **_rw("new_", rng.choice([H, 0]), rng.choice([51000, 0]), 0, 80, _deltas(rng)),
        "slot": 0,
        "role": 0,
        "epoch": 1,
        "peer_cut": 0,
        "peer_cut_valid": 0,
    }
    match = {"agent_id": AGENT, "src_addr": H, "dst_addr": peer, "proto": 6}
    es.append(
        pl.TableEntry.build(
            pl.Tbl.OUT_SESSION,
            match | {"src_port": 40000, "dst_port": 80},
            pl.Act.OUT_TWO_PATH,
            params,
        )
    )
    return es


def _held_step(rng: random.Random, cut: int, ack: int) -> bytes:
    """An OUT frame near the held prefix's edges (HOLD_PUNT_BYTES above the cutoff)."""
    hold = pl.HOLD_PUNT_BYTES
    off = rng.choice([-300, -1, 0, 1, 1448, hold - 100, hold - 1, hold, hold + 1, 40000])
    if rng.random() < 0.1:
        off = rng.getrandbits(32)
    pay = bytes(rng.randrange(256) for _ in range(rng.choice([0, 1, 100, 100])))
    flags = rng.choice([0x10, 0x10, 0x18, 0x00, 0x11, 0x19, 0x14, 0x04, 0x12, 0x01])
    return tcp_frame(
        H,
        ip_int("198.18.2.10"),
        40000,
        80,
        (cut + off) & 0xFFFFFFFF,
        (ack - rng.randrange(0, 40) + (rng.random() < 0.15) * 500) & 0xFFFFFFFF,
        flags,
        options=random_options(rng, cut) if rng.random() < 0.3 else b"",
        payload=pay,
        ttl=rng.choice([64, 64, 1]),
    )


@pytest.mark.parametrize("seed", range(int(os.environ.get("DYSCO_HOLD_SEEDS", "30"))))
def test_agent_matches_model_on_a_held_path(agent: AgentProcess, seed: int) -> None:
    """A held new path after a freeze: data of the held prefix is punted HOLD (SPLIT and
    UNSUPPORTED_OPTIONS first; FIN, RST, SYN and pure acks not), the rest rewritten to the hold
    tuple and dropped by routing; same frames, packet-ins and registers as the model."""
    rng = random.Random(seed)
    entries = _held_session(rng)
    state = PipelineState(TableState(entries))
    agent_load(agent.client, entries)
    base = rng.choice([rng.getrandbits(32), (1 << 32) - 150])  # a cutoff near 2^32 wraps
    ack = rng.getrandbits(32)
    first = tcp_frame(H, ip_int("198.18.2.10"), 40000, 80, base, ack, 0x18, payload=b"x" * 100)
    freeze = pl.encode_packet_out(
        {"op": int(pl.PacketOutOp.PROBE), "flags": 1, "slot": 0, "token": 1, "epoch": 1}
    )
    cut = (base + 100) & 0xFFFFFFFF
    at_cut = tcp_frame(H, ip_int("198.18.2.10"), 40000, 80, cut, ack, 0x18, payload=b"y" * 100)
    steps = [(first, HOST), (freeze, pl.CPU_PORT), (at_cut, HOST)]  # at_cut: a HOLD punt
    steps += [(_held_step(rng, cut, ack), HOST) for _ in range(40)]
    holds = 0
    for i, (frame, port) in enumerate(steps):
        want = model_run(state, frame, port)
        holds += sum(pi[2] == pl.Reason.HOLD for pi in want.packet_ins)
        compare(agent_run(agent.client, frame, port), want, f"seed {seed} step {i}")
    _check_registers(agent, state, f"seed {seed}")
    assert holds, "no HOLD punt: the test no longer reaches the held prefix"


def test_table_read_back_and_errors(agent: AgentProcess) -> None:
    rng = random.Random(7)
    entries, _ = _scenario(rng)
    agent_load(agent.client, entries)
    got = sorted((entry_from_ctl(r) for r in agent.client.read()), key=repr)
    assert got == sorted(entries, key=repr)
    c = agent.client
    e = next(x for x in entries if x.table is pl.Tbl.OUT_SESSION)
    assert c.write_packed([entry_to_ctl(e, Op.INSERT)]) == [6]  # ALREADY_EXISTS
    assert c.write_packed([entry_to_ctl(e, Op.DELETE)]) == [0]
    assert c.write_packed([entry_to_ctl(e, Op.DELETE)]) == [5]  # NOT_FOUND
    assert c.write_packed([entry_to_ctl(e, Op.MODIFY)]) == [5]
    bad = pl.TableEntry(
        pl.Tbl.IN_SESSION, {k: v for k, v in e.match.items() if k != "agent_id"}, e.action, e.params
    )  # an OUT action in the IN table
    assert c.write_packed([entry_to_ctl(bad, Op.INSERT)]) == [3]  # INVALID_ARGUMENT


def test_incremental_checksums_equal_full_recompute(agent: AgentProcess) -> None:
    """Every rewritten frame's IPv4 and TCP checksums equal a full recompute."""
    rng = random.Random(11)
    for _ in range(10):
        entries, tuples = _scenario(rng)
        agent_load(agent.client, entries)
        base = rng.getrandbits(32)
        n = 0
        for _ in range(200):
            _kind, (port, src, sport, dst, dport) = rng.choice(tuples)
            f = tcp_frame(
                src,
                dst,
                sport,
                dport,
                (base + rng.randrange(10**6)) & 0xFFFFFFFF,
                rng.getrandbits(32),
                0x10,
                window=rng.randrange(65536),
                options=opt_ts(rng.getrandbits(32), rng.getrandbits(32)),
                payload=bytes(rng.randrange(256) for _ in range(rng.randrange(50))),
            )
            for o in agent.client.inject(port, f):
                if o.pktin is not None:
                    continue
                b = o.data
                ip = bytearray(b[14:34])
                stored_ip = struct.unpack("!H", ip[10:12])[0]
                ip[10:12] = b"\0\0"
                assert internet_checksum(bytes(ip)) == stored_ip
                tcp = bytearray(b[34:])
                stored = struct.unpack("!H", tcp[16:18])[0]
                tcp[16:18] = b"\0\0"
                pseudo = b[26:34] + struct.pack("!BBH", 0, 6, len(tcp))
                assert internet_checksum(pseudo + bytes(tcp)) == stored
                n += 1
        assert n > 0


# --- the shared vector corpus (tests/vectors/, written with the P4 program) ------------------


def _cases() -> list[object]:
    try:
        from tests.vectors import corpus
    except ImportError:
        return []
    return list(corpus.load()) if corpus.VECTORS.exists() else []


CASES = _cases()


def test_vector_corpus_present() -> None:
    assert CASES, "tests/vectors/pipeline_vectors.json is missing"


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])  # type: ignore[attr-defined]
def test_shared_vector(agent: AgentProcess, case: object) -> None:
    """Every vector of the shared corpus through the C pipeline: same output frames (any order,
    like the model test), same packet-ins (header fields and payload, in order)."""
    from tests.vectors import corpus

    assert isinstance(case, corpus.Case)
    agent_load(agent.client, corpus.table_entries(case))
    for i, step in enumerate(case.steps):
        got = agent_run(agent.client, step.packet, step.ingress_port)
        where = f"{case.name} step {i} ({step.note})"
        assert sorted(got.outputs) == sorted(step.outputs), (
            f"{where}: outputs {[(p, f.hex()) for p, f in got.outputs]}"
        )
        want_pi = [pl.encode_packet_in(m) + payload for m, payload in step.packet_ins]
        assert got.packet_ins == want_pi, f"{where}: packet-ins {got.packet_ins}"


# --- net_pcap: the real port path ---------------------------------------------------------


def test_pcap_ports(tmp_path: Path) -> None:
    """Frames read from a pcap by net_pcap go through the port loop and out to tx pcaps."""
    scapy = pytest.importorskip("scapy.all")
    rng = random.Random(3)
    entries, tuples = _scenario(rng)
    frames = []
    base = 1_000_000
    for i in range(50):
        _kind, (_port, src, sport, dst, dport) = tuples[0]
        frames.append(
            tcp_frame(
                src,
                dst,
                sport,
                dport,
                base + 10 * i,
                base,
                0x10,
                options=opt_ts(i, i),
                payload=b"x" * 10,
            )
        )
    rx = tmp_path / "rx1.pcap"
    scapy.wrpcap(str(rx), [scapy.Ether(f) for f in frames])
    empty = tmp_path / "rx2.pcap"
    scapy.wrpcap(str(empty), [])
    tx = {p: tmp_path / f"tx{p}.pcap" for p in (0, 1, 2)}
    vdevs = [
        f"net_pcap0,rx_pcap={empty},tx_pcap={tx[0]}",
        f"net_pcap1,rx_pcap={rx},tx_pcap={tx[1]}",
        f"net_pcap2,rx_pcap={empty},tx_pcap={tx[2]}",
    ]
    a = start_agent(sessions=1024, vdevs=vdevs, extra=["--wait-start"])
    try:
        agent_load(a.client, entries)
        a.client.start()
        import time

        deadline = time.monotonic() + 20
        while a.client.stats()["rx"] < len(frames) and time.monotonic() < deadline:
            time.sleep(0.05)
        st = a.client.stats()
    finally:
        a.stop()
    assert st["rx"] == len(frames), st
    out = [bytes(p) for p in scapy.rdpcap(str(tx[NET]))]
    state = PipelineState(TableState(entries))
    want = []
    for f in frames:
        o = model_run(state, f, HOST)
        want += [fr for p, fr in o.outputs if p == NET]
    assert out == want


def test_control_answered_while_a_port_is_saturated(tmp_path: Path) -> None:
    """A port that always has frames (net_pcap replaying its file forever) never leaves the
    loop idle; control requests must still be served between bursts, not only in pauses."""
    scapy = pytest.importorskip("scapy.all")
    _kind, (_port, src, sport, dst, dport) = _scenario(random.Random(3))[1][0]
    frame = tcp_frame(src, dst, sport, dport, 1_000_000, 1, 0x10, payload=b"x" * 10)
    rx = tmp_path / "flood.pcap"
    scapy.wrpcap(str(rx), [scapy.Ether(frame)] * 64)
    vdevs = [f"net_pcap0,rx_pcap={rx},tx_pcap=/dev/null,infinite_rx=1"]
    a = start_agent(sessions=1024, vdevs=vdevs, extra=["--wait-start"])
    try:
        a.client.start()
        # Each request must be answered (the client gives up after 60 s): before the fix,
        # none was once the port delivered a burst on every loop.
        rx = [a.client.stats()["rx"] for _ in range(5)]
        while rx[-1] < 20_000 and len(rx) < 1_000:
            rx.append(a.client.stats()["rx"])
        # One control poll answers up to 64 queued requests with no burst in between, so a
        # quick client can see the same count several times: ask until it moves.
        more = [a.client.stats()["rx"]]
        while more[-1] == rx[-1] and len(more) < 1_000:
            more.append(a.client.stats()["rx"])
    finally:
        a.stop()
    assert rx[-1] >= 20_000, rx  # the port really was flooding while we asked
    assert more[-1] > rx[-1], (rx[-1], more[-5:], len(more))  # and still was


def test_agent_builds_with_meson() -> None:
    """`make -C dpdk_agent` builds (idempotent)."""
    from tests.dpdk_support import require_agent

    require_agent()
    r = subprocess.run(
        ["make", "-s", "-C", str(REPO / "dpdk_agent")], capture_output=True, text=True
    )
    assert r.returncode == 0, r.stderr
    assert (REPO / "dpdk_agent" / "build" / "dysco-dpdk-agent").exists()
