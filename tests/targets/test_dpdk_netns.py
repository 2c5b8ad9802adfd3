"""A live TCP session between two network namespaces flows through the DPDK agent with its
five-tuple (and sequence, ack and timestamp numbers) rewritten; the entries are installed over
P4Runtime by the controller's P4Runtime client through the server's DPDK backend, and the
punted SYN is rewritten and re-injected by packet-out, as the controller does.

Needs root (network namespaces, veths, AF_PACKET); skipped otherwise with one line.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from controller.p4rt.client import DevicePacketIn, P4RuntimeClient
from controller.p4rt.gen.p4.v1 import p4runtime_pb2 as p4r
from controller.p4rt.p4info import P4InfoIndex
from dysco_pipeline import pipeline as pl
from dysco_proto.entries import Deltas, Direction, EntryKey, MappingEntry
from dysco_proto.packet import FiveTuple
from dysco_targets.backends import DpdkBackend
from dysco_targets.contract import CONTRACT_P4INFO, load_contract_p4info
from dysco_targets.entities import P4RuntimeCodec
from dysco_targets.server import P4RuntimeServer
from dysco_testbed.net import offloads_off, sh
from tests.dpdk_support import require_agent, start_agent

pytestmark = [
    pytest.mark.root,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root (network namespaces)"),
    pytest.mark.skipif(shutil.which("ip") is None, reason="iproute2 not installed"),
    pytest.mark.skipif(not CONTRACT_P4INFO.exists(), reason="no compiled P4Info"),
]

CLIENT_IP, SERVER_IP = "198.18.0.1", "198.18.2.2"
VIP = "198.18.1.2"  # what the client connects to
SNAT = "198.18.3.1"  # the client as the server sees it (off-link: via the gateway)
CPORT, VPORT, SNAT_PORT, SPORT = 33333, 80, 40000, 8080
MAC_C, MAC_S = "02:00:00:00:00:01", "02:00:00:00:02:02"
MAC_GW_C, MAC_GW_S = "02:00:00:00:00:fe", "02:00:00:00:02:fe"


@dataclass
class Topo:
    ns_c: str
    ns_s: str
    if_c: str  # root-side veth towards the client namespace
    if_s: str


@contextlib.contextmanager
def topology() -> Iterator[Topo]:
    tag = f"{os.getpid() % 100000}"
    t = Topo(f"dysco-c{tag}", f"dysco-s{tag}", f"dyc{tag}r", f"dys{tag}r")
    try:
        for ns in (t.ns_c, t.ns_s):
            sh("ip", "netns", "add", ns)
            sh("ip", "-n", ns, "link", "set", "lo", "up")
        for ns, root, inner, ip, gw, mac, gwmac in (
            (t.ns_c, t.if_c, "eth0", CLIENT_IP, "198.18.0.254", MAC_C, MAC_GW_C),
            (t.ns_s, t.if_s, "eth0", SERVER_IP, "198.18.2.254", MAC_S, MAC_GW_S),
        ):
            sh("ip", "link", "add", root, "type", "veth", "peer", "name", f"{root}x")
            sh("ip", "link", "set", f"{root}x", "netns", ns)
            sh("ip", "-n", ns, "link", "set", f"{root}x", "name", inner)
            sh("ip", "-n", ns, "link", "set", inner, "address", mac)
            sh("ip", "-n", ns, "addr", "add", f"{ip}/24", "dev", inner)
            sh("ip", "-n", ns, "link", "set", inner, "up")
            sh("ip", "-n", ns, "route", "add", "default", "via", gw)
            sh("ip", "-n", ns, "neigh", "add", gw, "lladdr", gwmac, "dev", inner)
            sh("ip", "link", "set", root, "up")
            offloads_off(root)
            offloads_off(inner, ns)
        yield t
    finally:
        for ns in (t.ns_c, t.ns_s):
            sh("ip", "netns", "del", ns, check=False)
        for root in (t.if_c, t.if_s):
            sh("ip", "link", "del", root, check=False)


SERVER = r"""
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("%s", %d)); s.listen(1); print("listening", flush=True)
c, peer = s.accept(); print("peer %%s:%%d" %% peer, flush=True)
n = 0
while True:
    d = c.recv(65536)
    if not d: break
    c.sendall(d); n += len(d)
c.close(); print("echoed", n, flush=True)
""" % (SERVER_IP, SPORT)  # noqa: UP031

CLIENT = r"""
import socket, sys, os, hashlib
data = os.urandom(%d)
c = socket.socket(); c.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
c.bind(("%s", %d)); c.settimeout(30); c.connect(("%s", %d))
print("local %%s:%%d peer %%s:%%d" %% (c.getsockname() + c.getpeername()), flush=True)
got = bytearray()
import threading
def rx():
    while len(got) < len(data):
        d = c.recv(65536)
        if not d: break
        got.extend(d)
t = threading.Thread(target=rx); t.start()
c.sendall(data); t.join(30); c.shutdown(socket.SHUT_WR)
print("ok" if bytes(got) == data else "MISMATCH %%d" %% len(got), flush=True)
"""


def _entries() -> tuple[list[pl.TableEntry], MappingEntry, MappingEntry]:
    sess = FiveTuple(CLIENT_IP, CPORT, VIP, VPORT)
    sub = FiveTuple(SNAT, SNAT_PORT, SERVER_IP, SPORT)
    d_cs, d_sc, d_ts = 1000, 7777, 12345
    out = MappingEntry(
        EntryKey(Direction.OUT, sess),
        sub,
        Deltas(seq=d_cs, ack=(-d_sc) % 2**32, tsval=d_ts),
        slot=5,
    )
    inn = MappingEntry(
        EntryKey(Direction.IN, sub.reversed()),
        sess.reversed(),
        Deltas(seq=d_sc, ack=(-d_cs) % 2**32, tsecr=(-d_ts) % 2**32),
        slot=5,
    )
    mac = lambda s: int(s.replace(":", ""), 16)  # noqa: E731
    base = [
        pl.TableEntry.build(
            pl.Tbl.PORT_ROLE, {"ingress_port": 0}, pl.Act.HOST_PORT, {"agent_id": 1}
        ),
        pl.TableEntry.build(pl.Tbl.PORT_ROLE, {"ingress_port": 1}, pl.Act.NETWORK_PORT, {}),
        pl.TableEntry.build(
            pl.Tbl.IPV4_FWD,
            {"dst_addr": "198.18.0.0/24"},
            pl.Act.ROUTE,
            {"port": 0, "src_mac": mac(MAC_GW_C), "dst_mac": mac(MAC_C)},
        ),
        pl.TableEntry.build(
            pl.Tbl.IPV4_FWD,
            {"dst_addr": "198.18.2.0/24"},
            pl.Act.ROUTE,
            {"port": 1, "src_mac": mac(MAC_GW_S), "dst_mac": mac(MAC_S)},
        ),
        # SNAT is the client's subsession address: IN-rewritten packets are routed by the
        # destination they arrive with (docs/pipeline.md section 2, ipv4_fwd), so the
        # client's port needs its route.
        pl.TableEntry.build(
            pl.Tbl.IPV4_FWD,
            {"dst_addr": SNAT + "/32"},
            pl.Act.ROUTE,
            {"port": 0, "src_mac": mac(MAC_GW_C), "dst_mac": mac(MAC_C)},
        ),
    ]
    return [*base, pl.entry_to_table(out, agent_id=1), pl.entry_to_table(inn)], out, inn


def sw_rewrite(frame: bytes, e: MappingEntry) -> bytes:
    """What the controller does with a punted packet of a mapped session: the rewrite in
    software (dysco_proto.rewrite semantics), then a ROUTE packet-out."""
    from scapy.layers.inet import IP, TCP
    from scapy.layers.l2 import Ether

    p = Ether(frame)
    ip, t = p[IP], p[TCP]
    d = e.deltas
    ip.src, ip.dst = e.rewrite.src_ip, e.rewrite.dst_ip
    t.sport, t.dport = e.rewrite.src_port, e.rewrite.dst_port
    syn_only = (t.flags & 0x12) == 0x02
    t.seq = (t.seq + d.seq) % 2**32
    if t.flags & 0x10:
        t.ack = (t.ack + d.ack) % 2**32
    opts = []
    for k, v in t.options:
        if k == "Timestamp":
            tsval, tsecr = v
            v = (
                (tsval + d.tsval) % 2**32,
                tsecr if syn_only and tsecr == 0 else (tsecr + d.tsecr) % 2**32,
            )
        elif k == "SAck":
            v = tuple((x + d.ack) % 2**32 for x in v)
        opts.append((k, v))
    t.options = opts
    del ip.chksum, t.chksum
    return bytes(p)


def test_tcp_session_through_agent_with_rewritten_five_tuple() -> None:
    require_agent()
    entries, out_e, in_e = _entries()
    with topology() as topo:
        agent = start_agent(
            sessions=1024,
            vdevs=[f"net_af_packet0,iface={topo.if_c}", f"net_af_packet1,iface={topo.if_s}"],
        )
        backend = DpdkBackend(agent=agent)
        srv = P4RuntimeServer(backend, "127.0.0.1:0").start()
        server = client = None
        try:
            idx = P4InfoIndex(load_contract_p4info())
            codec = P4RuntimeCodec(idx)
            punted: list[DevicePacketIn] = []
            reasons: list[int] = []

            async def main() -> tuple[str, str]:
                nonlocal server, client
                loop = asyncio.get_running_loop()
                pending: asyncio.Queue[DevicePacketIn] = asyncio.Queue()

                def on_pi(m: DevicePacketIn) -> None:
                    loop.call_soon_threadsafe(pending.put_nowait, m)

                c = P4RuntimeClient(srv.address, 1, 3, idx, on_packet_in=on_pi)
                await c.start(timeout=10)
                ups = [
                    p4r.Update(
                        type=p4r.Update.INSERT, entity=p4r.Entity(table_entry=codec.to_p4r(e))
                    )
                    for e in entries
                ]
                await c.write(ups)

                async def controller() -> None:
                    while True:
                        m = await pending.get()
                        reasons.append(m.metadata["reason"])
                        r = m.metadata["reason"]
                        if r in (
                            pl.Reason.SYN,
                            pl.Reason.SYNACK,
                            pl.Reason.SPLIT,
                            pl.Reason.UNSUPPORTED_OPTIONS,
                        ):
                            punted.append(m)
                            e = out_e if m.metadata["direction"] == pl.Direction8.OUT else in_e
                            await c.send_packet(
                                sw_rewrite(m.payload, e), {"op": int(pl.PacketOutOp.ROUTE)}
                            )

                task = asyncio.create_task(controller())
                server = subprocess.Popen(
                    ["ip", "netns", "exec", topo.ns_s, sys.executable, "-u", "-c", SERVER],
                    stdout=subprocess.PIPE,
                    text=True,
                )
                assert server.stdout is not None
                assert (await asyncio.to_thread(server.stdout.readline)).startswith("listening")
                client = subprocess.Popen(
                    [
                        "ip",
                        "netns",
                        "exec",
                        topo.ns_c,
                        sys.executable,
                        "-u",
                        "-c",
                        CLIENT % (2_000_000, CLIENT_IP, CPORT, VIP, VPORT),
                    ],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
                cout, _ = await asyncio.to_thread(client.communicate, None, 60)
                sout, _ = await asyncio.to_thread(server.communicate, None, 30)
                task.cancel()
                await c.close()
                return cout, sout

            cout, sout = asyncio.run(main())
            stats = agent.client.stats()
        finally:
            for p in (client, server):
                if p is not None and p.poll() is None:
                    p.kill()
                    p.wait()
            srv.stop()  # stops the agent too
        # the client talked to VIP:80, the server saw SNAT:40000: the five-tuple was rewritten
        assert f"local {CLIENT_IP}:{CPORT} peer {VIP}:{VPORT}" in cout, cout
        assert f"peer {SNAT}:{SNAT_PORT}" in sout, sout
        assert "ok" in cout.splitlines()[-1], cout
        assert "echoed 2000000" in sout, sout
        # the first SYN was punted and re-injected; data went through the C pipeline
        assert punted and punted[0].metadata["reason"] == pl.Reason.SYN
        assert stats["hit"] > 100, stats
        assert pl.Reason.SYNACK_MIRROR in reasons and pl.Reason.FIN_MIRROR in reasons
        time.sleep(0)
