"""INJECT_BURST and the output tap of the real DPDK agent: frames injected as a burst
received on a host port produce exactly what the reference model produces for them, with
port outputs delivered to the tap client and packet-ins to the packet-in subscriber."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest

from dysco_pipeline import pipeline as pl
from dysco_pipeline.refmodel import PipelineState, TableState, process
from dysco_targets.dpdk_ctl import AgentClient, AgentProcess
from tests.dpdk_support import agent_load, ip_int, start_agent, tcp_frame

HOST, NET = 1, 2
H = ip_int("198.18.1.1")
PEER = ip_int("198.18.2.10")
OLD = ip_int("198.18.3.10")


def _entries() -> list[pl.TableEntry]:
    rw = {
        "src_addr": H,
        "dst_addr": OLD,
        "src_port": 50000,
        "dst_port": 80,
        "seq_delta": 1000,
        "ack_delta": 0,
        "tsval_delta": 0,
        "tsecr_delta": 0,
        "win_shift": 0,
    }
    return [
        pl.TableEntry.build(
            pl.Tbl.PORT_ROLE, {"ingress_port": HOST}, pl.Act.HOST_PORT, {"agent_id": 1}
        ),
        pl.TableEntry.build(pl.Tbl.PORT_ROLE, {"ingress_port": NET}, pl.Act.NETWORK_PORT, {}),
        pl.TableEntry.build(pl.Tbl.LOCAL_ADDR, {"dst_addr": H}, pl.Act.SET_LOCAL, {}),
        pl.TableEntry.build(
            pl.Tbl.IPV4_FWD,
            {"dst_addr": "198.18.0.0/15"},
            pl.Act.ROUTE,
            {"port": NET, "src_mac": 0x02AA00000002, "dst_mac": 0x02BB00000002},
        ),
        pl.TableEntry.build(
            pl.Tbl.OUT_SESSION,
            {
                "agent_id": 1,
                "src_addr": H,
                "dst_addr": PEER,
                "proto": 6,
                "src_port": 40000,
                "dst_port": 80,
            },
            pl.Act.OUT_REWRITE,
            {**rw, "slot": 0, "role": 0, "epoch": 0, "peer_cut": 0, "peer_cut_valid": 0},
        ),
    ]


@pytest.fixture(scope="module")
def agent() -> Iterator[AgentProcess]:
    a = start_agent(sessions=1024)  # no ports: every output goes to the tap
    yield a
    a.stop()


def test_inject_burst_matches_model_through_tap(agent: AgentProcess) -> None:
    entries = _entries()
    agent_load(agent.client, entries)
    state = PipelineState(TableState(entries))
    frames = [
        # SYNs of new sessions: punted (packet-in, reason SYN)
        *(tcp_frame(H, PEER, 41000 + i, 80, 7 + i, 0, 0x02) for i in range(70)),
        # data on the installed session: rewritten and routed to the network port
        *(tcp_frame(H, PEER, 40000, 80, 100 + i, 5, 0x10, payload=b"d") for i in range(70)),
        # no route, not local: dropped by both
        tcp_frame(H, ip_int("10.9.9.9"), 40001, 80, 1, 0, 0x10),
    ]
    want_out: list[tuple[int, bytes]] = []
    want_pi: list[bytes] = []
    for f in frames:
        res = process(state, f, HOST)
        state.registers = res.registers
        want_out += list(res.outputs)
        want_pi += [pi.to_bytes() for pi in res.packet_ins]
    assert want_out and want_pi  # the scenario exercises both paths

    got_out: list[tuple[int, bytes]] = []
    got_pi: list[bytes] = []
    done = threading.Event()

    def check() -> None:
        if len(got_out) >= len(want_out) and len(got_pi) >= len(want_pi):
            done.set()

    def on_tap(port: int, frame: bytes) -> None:
        got_out.append((port, frame))
        check()

    def on_pi(body: bytes) -> None:
        got_pi.append(body)
        check()

    tap = AgentClient(agent.ctl_path, on_packet_in=on_pi, on_tap=on_tap)
    try:
        tap.subscribe_packet_ins()
        tap.tap(True)
        assert tap.inject_burst(HOST, frames) == len(frames)
        done.wait(30)
        time.sleep(0.2)  # nothing more arrives than the model produced
        assert got_out == want_out
        assert got_pi == want_pi
    finally:
        tap.tap(False)
        tap.close()


def test_inject_burst_rejects_bad_frames(agent: AgentProcess) -> None:
    """A truncated record ends the burst: the frames before it are taken, nothing after."""
    import struct

    from dysco_targets.dpdk_ctl import T

    good = tcp_frame(H, PEER, 41000, 80, 7, 0, 0x02)
    body = struct.pack("<HH", HOST, 3) + struct.pack("<H", len(good)) + good
    body += struct.pack("<H", 5000) + b"short"
    r = agent.client._request(T.INJECT_BURST, body)[0]
    assert struct.unpack_from("<I", r)[0] == 1
    with pytest.raises(ValueError, match="length 0"):
        agent.client.inject_burst(HOST, [b""])
