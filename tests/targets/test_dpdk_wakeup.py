"""A sleeping DPDK agent acts at once: a packet-out leaves without waiting for the idle sleep,
and a frame arriving on an af_packet port wakes the agent (its doorbell socket).

Each test lets the agent's idle back-off grow to its longest sleeps (``--max-sleep-us`` 0.9 s),
then acts while it sleeps. Without the behaviour: a packet-out's frame leaves only after the
full sleep that follows the control message (0.9 s), and a frame waits for the current sleep
to end (uniform over 0-0.9 s: three frames in a row each answered within 0.2 s happens by
chance about once in a hundred). With it, each takes about a millisecond.

The agent runs in the root namespace on the root side of a veth; the other side is in a
namespace of the test's, where a small helper sends or receives the frames.

Needs root (namespaces, veths, AF_PACKET); skipped otherwise with one line.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from dysco_pipeline import pipeline as pl
from dysco_targets.dpdk_ctl import AgentProcess
from dysco_testbed.net import offloads_off, sh
from tests.dpdk_support import agent_load, ip_int, start_agent, tcp_frame

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces, AF_PACKET)"),
    pytest.mark.skipif(shutil.which("ip") is None, reason="iproute2 not installed"),
]

MAX_SLEEP_US = 900_000
SETTLE_S = 2.5  # back-off from 1 us, doubling: the 0.9 s sleeps start after about 1.1 s
OUT_DEADLINE_S = 0.45  # half the sleep a packet-out's frame waited behind
FRAME_DEADLINE_S = 0.2
FRAMES = 3
HOST_IP, PEER_IP = ip_int("198.18.5.1"), ip_int("198.18.5.2")

# Runs inside the namespace: "recv MARKER": print "ready", then "got" when a frame carrying
# the marker arrives on eth0; "send": print "ready", then send each frame read from stdin (hex,
# one per line) on eth0 and print "sent".
HELPER = r"""
import socket, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind(("eth0", 0))
print("ready", flush=True)
if sys.argv[1] == "send":
    for line in sys.stdin:
        s.send(bytes.fromhex(line.strip()))
        print("sent", flush=True)
    sys.exit(0)
marker = bytes.fromhex(sys.argv[2])
while True:
    if marker in s.recv(65535):
        print("got", flush=True)
        sys.exit(0)
"""


@contextlib.contextmanager
def veth_to_namespace() -> Iterator[tuple[str, str]]:
    """(root-side veth for the agent, the namespace holding its peer as ``eth0``)."""
    tag = f"{os.getpid() % 100000}"
    ns, root = f"dysco-wk{tag}", f"dywk{tag}"
    try:
        sh("ip", "netns", "add", ns)
        sh("ip", "link", "add", root, "type", "veth", "peer", "name", f"{root}x")
        sh("ip", "link", "set", f"{root}x", "netns", ns)
        sh("ip", "-n", ns, "link", "set", f"{root}x", "name", "eth0")
        sh("ip", "-n", ns, "link", "set", "eth0", "up")
        sh("ip", "link", "set", root, "up")
        offloads_off(root)
        offloads_off("eth0", ns)
        yield root, ns
    finally:
        sh("ip", "link", "del", root, check=False)
        sh("ip", "netns", "del", ns, check=False)


def helper(ns: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["ip", "netns", "exec", ns, sys.executable, "-c", HELPER, *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def sleeping_agent(iface: str, **kw: object) -> AgentProcess:
    return start_agent(
        sessions=1024,
        vdevs=[f"net_af_packet0,iface={iface}"],
        extra=["--max-sleep-us", str(MAX_SLEEP_US)],
        **kw,
    )


def test_packet_out_leaves_while_the_agent_sleeps() -> None:
    """Before: the frame of a packet-out stayed in the TX queue until the agent's next loop,
    i.e. behind the idle sleep that followed the control message."""
    marker = b"dysco-wakeup-out"
    frame = tcp_frame(HOST_IP, PEER_IP, 40000, 80, 1, 0, 0x02, payload=marker)
    with veth_to_namespace() as (iface, ns):
        a = sleeping_agent(iface)
        rx = helper(ns, "recv", marker.hex())
        try:
            assert rx.stdout is not None
            assert rx.stdout.readline().strip() == "ready", rx.stderr
            time.sleep(SETTLE_S)
            hdr = pl.encode_packet_out({"op": pl.PacketOutOp.FORWARD, "egress_port": 0})
            t0 = time.monotonic()
            a.client.packet_out(hdr, frame)
            try:
                out, _err = rx.communicate(timeout=OUT_DEADLINE_S)
            except subprocess.TimeoutExpired:
                out = ""
            waited = time.monotonic() - t0
        finally:
            rx.kill()
            rx.wait()
            a.stop()
    assert "got" in out, f"the packet-out's frame did not leave within {waited:.2f} s"


def test_a_frame_wakes_the_sleeping_agent() -> None:
    """Before: a frame on a port waited in the PMD's ring until the idle sleep ended."""
    got = threading.Event()
    waited: list[float] = []
    with veth_to_namespace() as (iface, ns):
        a = sleeping_agent(iface, on_packet_in=lambda _data: got.set())
        tx = helper(ns, "send")
        try:
            agent_load(
                a.client,
                [
                    pl.TableEntry.build(
                        pl.Tbl.PORT_ROLE, {"ingress_port": 0}, pl.Act.HOST_PORT, {"agent_id": 1}
                    )
                ],
            )
            a.client.subscribe_packet_ins()
            assert tx.stdin is not None and tx.stdout is not None
            assert tx.stdout.readline().strip() == "ready", tx.stderr
            for i in range(FRAMES):
                time.sleep(SETTLE_S)  # nothing for the agent to do: back to its longest sleeps
                got.clear()
                syn = tcp_frame(HOST_IP, PEER_IP, 40001 + i, 80, 7, 0, 0x02)  # no entry: punted
                tx.stdin.write(syn.hex() + "\n")
                tx.stdin.flush()
                assert tx.stdout.readline().strip() == "sent"
                t0 = time.monotonic()
                woke = got.wait(timeout=10)
                waited.append(time.monotonic() - t0)
                assert woke, "no packet-in at all for the frame"
        finally:
            tx.kill()
            tx.wait()
            a.stop()
    assert max(waited) < FRAME_DEADLINE_S, [f"{w:.3f}" for w in waited]
