"""Generate the pipeline vector corpus (``tests/vectors/pipeline_vectors.json``).

Every expectation here is stated by hand: the rewritten header values are written out (or
computed by plain arithmetic next to the input values), frames are built and checksummed by
scapy, never by the reference model. The model (``dysco_pipeline.refmodel``) and the P4 program
on bmv2 (``bmv2_tests/``) must both reproduce them.

Run ``python tests/vectors/gen_vectors.py`` to rewrite the JSON; ``--check`` exits non-zero
when the committed file differs from a fresh generation (also a unit test).

Topology of every case (``docs/pipeline.md`` section 8):

- port 1: host A 198.18.0.1, agent 1; port 2: host B 198.18.0.2, agent 2 (host ports);
- port 3: the network (default route); the switch's MAC is 02:00:00:00:00:01;
- CPU port 255, clone session 100 to the CPU port.
"""

from __future__ import annotations

import argparse
import json
import struct
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from scapy.layers.inet import ICMP, IP, TCP, UDP
from scapy.layers.l2 import ARP, Ether
from scapy.packet import Raw

from dysco_pipeline import pipeline as pl
from dysco_proto.packet import FiveTuple
from dysco_proto.wire import ControlCodec, ControlMessage, MsgType, RequestId

OUT_PATH = Path(__file__).with_name("pipeline_vectors.json")

M32 = 0xFFFF_FFFF
SW_MAC = "02:00:00:00:00:01"
A_MAC = "02:00:00:00:01:01"
B_MAC = "02:00:00:00:02:02"
RTR_MAC = "02:00:00:00:03:03"
A, B = "198.18.0.1", "198.18.0.2"
S, M, N, C = "198.18.2.9", "198.18.1.5", "198.18.1.6", "198.18.3.7"
P_A, P_B, P_NET = 1, 2, 3

T = pl.Tbl
AC = pl.Act
R = pl.Reason
F = pl.PacketInFlag
D = pl.Direction8

# --- frames ------------------------------------------------------------------------------

HOPS = {
    # name: (source MAC, destination MAC, TTL)
    "from_a": (A_MAC, SW_MAC, 64),
    "from_b": (B_MAC, SW_MAC, 64),
    "from_net": (RTR_MAC, SW_MAC, 64),
    "to_net": (SW_MAC, RTR_MAC, 63),
    "to_a": (SW_MAC, A_MAC, 63),
    "to_b": (SW_MAC, B_MAC, 63),
    "to_b_hairpin": (SW_MAC, B_MAC, 62),  # routed by both passes of a hairpin
    "from_ctl": (SW_MAC, RTR_MAC, 64),  # a ROUTE packet-out's frame as a controller builds it
}


def tcp(
    hop: str,
    src: str,
    sport: int,
    dst: str,
    dport: int,
    seq: int,
    ack: int,
    flags: str = "A",
    *,
    win: int = 8192,
    opts: bytes = b"",
    payload: bytes = b"",
    ttl: int | None = None,
    ip_flags: int = 0,
    frag: int = 0,
) -> bytes:
    """An Ethernet/IPv4/TCP frame with exact option bytes; scapy computes the checksums."""
    smac, dmac, hop_ttl = HOPS[hop]
    assert len(opts) % 4 == 0 and len(opts) <= 40
    pkt = Ether(src=smac, dst=dmac) / IP(
        src=src, dst=dst, ttl=hop_ttl if ttl is None else ttl, id=7, flags=ip_flags, frag=frag
    )
    seg = TCP(
        sport=sport,
        dport=dport,
        seq=seq & M32,
        ack=ack & M32,
        flags=flags,
        window=win,
        dataofs=5 + len(opts) // 4,
        options=[],
    )
    body = opts + payload
    return bytes(pkt / seg / Raw(body)) if body else bytes(pkt / seg)


def ts_opt(tsval: int, tsecr: int) -> bytes:
    """NOP NOP TS (12 bytes)."""
    return b"\x01\x01\x08\x0a" + struct.pack("!II", tsval & M32, tsecr & M32)


def sack_opt(*blocks: tuple[int, int]) -> bytes:
    """NOP NOP SACK with 1-4 blocks."""
    body = b"".join(struct.pack("!II", left & M32, right & M32) for left, right in blocks)
    return b"\x01\x01\x05" + bytes((2 + len(body),)) + body


def syn_opt(mss: int, tsval: int, tsecr: int, ws: int, tag: int | None = None) -> bytes:
    """Linux SYN layout: MSS, SACK-permitted, TS, NOP, WS (20 bytes) [+ Dysco tag (8)]."""
    out = struct.pack("!BBH", 2, 4, mss) + b"\x04\x02" + b"\x08\x0a"
    out += struct.pack("!II", tsval & M32, tsecr & M32) + b"\x01\x03\x03" + bytes((ws,))
    if tag is not None:
        out += struct.pack("!BBHI", 253, 8, 0x4459, tag)
    return out


def patch(frame: bytes, offset: int, data: bytes) -> bytes:
    return frame[:offset] + data + frame[offset + len(data) :]


def fix_ipv4_checksum(frame: bytes) -> bytes:
    """Recompute the IPv4 header checksum after a patch (scapy)."""
    pkt = Ether(frame)
    del pkt[IP].chksum
    ip_hdr = bytes(pkt[IP])[:20]
    return frame[:14] + ip_hdr + frame[34:]


# --- table entries -----------------------------------------------------------------------


def te(table: str, match: dict[str, Any], action: str, params: dict[str, Any] | None = None):
    return {"table": str(table), "match": match, "action": str(action), "params": params or {}}


COMMON = [
    te(T.PORT_ROLE, {"ingress_port": P_A}, AC.HOST_PORT, {"agent_id": 1}),
    te(T.PORT_ROLE, {"ingress_port": P_B}, AC.HOST_PORT, {"agent_id": 2}),
    te(T.PORT_ROLE, {"ingress_port": P_NET}, AC.NETWORK_PORT),
    te(T.LOCAL_ADDR, {"dst_addr": A}, AC.SET_LOCAL),
    te(T.LOCAL_ADDR, {"dst_addr": B}, AC.SET_LOCAL),
    te(
        T.IPV4_FWD,
        {"dst_addr": A + "/32"},
        AC.ROUTE,
        {"port": P_A, "src_mac": SW_MAC, "dst_mac": A_MAC},
    ),
    te(
        T.IPV4_FWD,
        {"dst_addr": B + "/32"},
        AC.ROUTE,
        {"port": P_B, "src_mac": SW_MAC, "dst_mac": B_MAC},
    ),
    te(
        T.IPV4_FWD,
        {"dst_addr": "0.0.0.0/0"},
        AC.ROUTE,
        {"port": P_NET, "src_mac": SW_MAC, "dst_mac": RTR_MAC},
    ),
]


def rw(
    prefix: str, t: tuple[str, int, str, int], d: tuple[int, int, int, int, int]
) -> dict[str, Any]:
    src, sport, dst, dport = t
    seq, ack, tsval, tsecr, win = d
    return {
        prefix + "src_addr": src,
        prefix + "dst_addr": dst,
        prefix + "src_port": sport,
        prefix + "dst_port": dport,
        prefix + "seq_delta": seq & M32,
        prefix + "ack_delta": ack & M32,
        prefix + "tsval_delta": tsval & M32,
        prefix + "tsecr_delta": tsecr & M32,
        prefix + "win_shift": win & 0xFF,
    }


Z = (0, 0, 0, 0, 0)
# The running example: host A's session A:5000 -> S:80, first subsession A:40001 -> M:80,
# after a reconfiguration the new subsession A:40002 -> N:80.
SESSION = (A, 5000, S, 80)
SUB_OLD = (A, 40001, M, 80)
SUB_NEW = (A, 40002, N, 80)


def out_entry(
    slot: int,
    key: tuple[str, int, str, int] = SESSION,
    to: tuple[str, int, str, int] = SUB_OLD,
    d: tuple[int, int, int, int, int] = Z,
    *,
    agent: int = 1,
    role: int = 0,
    epoch: int = 0,
    peer_cut: int | None = None,
    new: tuple[tuple[str, int, str, int], tuple[int, int, int, int, int]] | None = None,
):
    src, sport, dst, dport = key
    match = {
        "agent_id": agent,
        "src_addr": src,
        "dst_addr": dst,
        "proto": 6,
        "src_port": sport,
        "dst_port": dport,
    }
    params = rw("", to, d) | {
        "slot": slot,
        "role": role,
        "epoch": epoch,
        "peer_cut": peer_cut or 0,
        "peer_cut_valid": int(peer_cut is not None),
    }
    if new is None:
        return te(T.OUT_SESSION, match, AC.OUT_REWRITE, params)
    return te(T.OUT_SESSION, match, AC.OUT_TWO_PATH, params | rw("new_", *new))


def in_entry(
    slot: int,
    key: tuple[str, int, str, int] = (M, 80, A, 40001),
    to: tuple[str, int, str, int] = (S, 80, A, 5000),
    d: tuple[int, int, int, int, int] = Z,
    *,
    role: int = 0,
    epoch: int = 0,
):
    src, sport, dst, dport = key
    match = {"src_addr": src, "dst_addr": dst, "proto": 6, "src_port": sport, "dst_port": dport}
    return te(
        T.IN_SESSION,
        match,
        AC.IN_REWRITE,
        rw("", to, d) | {"slot": slot, "role": role, "epoch": epoch},
    )


# --- packet-ins --------------------------------------------------------------------------


def pin(
    reason: R,
    port: int,
    *,
    direction: D = D.NONE,
    agent: int = 0,
    hit: bool = False,
    slot: int = 0,
    token: int = 0,
    epoch: int = 0,
    latch: F = F.NONE,
    regs: dict[str, int] | None = None,
) -> dict[str, int]:
    """Packet-in metadata. ``regs`` lists the valid registers (missing ones read as 0);
    its ``old_ack_hi`` is the value before the packet."""
    flags = (F.ENTRY_HIT if hit else F.NONE) | (F.REGS if regs is not None else F.NONE) | latch
    meta = {name: 0 for name, _ in pl.PACKET_IN_FIELDS}
    meta.update(
        ingress_port=port,
        reason=int(reason),
        direction=int(direction),
        flags=int(flags),
        agent_id=agent,
        slot=slot,
        token=token,
        epoch=epoch,
    )
    bits = {
        "sent_hi": pl.RegValid.SENT_HI,
        "ack_hi": pl.RegValid.ACK_HI,
        "rcvd_ack_hi": pl.RegValid.RCVD_ACK_HI,
        "new_rcvd_lo": pl.RegValid.NEW_RCVD_LO,
        "cut": pl.RegValid.CUT,
        "old_ack_hi": pl.RegValid.OLD_ACK_HI,
    }
    valid = 0
    for name, value in (regs or {}).items():
        meta[name] = value & M32
        valid |= bits[name]
    meta["reg_valid"] = valid
    return meta


def out_pin(reason: R, slot: int, **kw: Any) -> dict[str, int]:
    """A packet-in for a packet host A emitted on an entry."""
    return pin(reason, P_A, direction=D.OUT, agent=1, hit=True, slot=slot, **kw)


def in_pin(reason: R, slot: int, **kw: Any) -> dict[str, int]:
    """A packet-in for a packet from the network on an entry."""
    return pin(reason, P_NET, direction=D.IN, hit=True, slot=slot, **kw)


def probe_reply(slot: int, token: int, epoch: int = 0, **regs: int) -> dict[str, int]:
    return pin(R.PROBE_REPLY, pl.CPU_PORT, slot=slot, token=token, epoch=epoch, regs=regs)


# --- cases -------------------------------------------------------------------------------


class Case:
    def __init__(self, name: str, description: str, slot: int) -> None:
        self.name = name
        self.description = description
        self.slot = slot
        self.entries: list[dict[str, Any]] = list(COMMON)
        self.steps: list[dict[str, Any]] = []
        self.bad_checksum_input = False
        self.min_slots = 0  # register cells a target needs for this case (0: any target)

    def add(self, *entries: dict[str, Any]) -> None:
        self.entries.extend(entries)

    def send(
        self,
        port: int,
        frame: bytes,
        out: list[tuple[int, bytes]] | None = None,
        pins: list[tuple[dict[str, int], bytes]] | None = None,
        note: str = "",
        drop: str | None = None,
    ) -> None:
        self.steps.append(
            {
                "note": note,
                "ingress_port": port,
                "packet": frame.hex(),
                "expect": _expect(out, pins, drop),
            }
        )

    def packet_out(
        self,
        po: dict[str, int],
        payload: bytes = b"",
        out: list[tuple[int, bytes]] | None = None,
        pins: list[tuple[dict[str, int], bytes]] | None = None,
        note: str = "",
        drop: str | None = None,
    ) -> None:
        full = {name: 0 for name, _ in pl.PACKET_OUT_FIELDS} | po
        self.steps.append(
            {
                "note": note,
                "ingress_port": pl.CPU_PORT,
                "packet_out": full,
                "payload": payload.hex(),
                "expect": _expect(out, pins, drop),
            }
        )

    def probe(
        self, token: int, expect: dict[str, int], *, freeze: bool = False, epoch: int = 0
    ) -> None:
        po = {
            "op": int(pl.PacketOutOp.PROBE),
            "flags": int(pl.PacketOutFlag.FREEZE if freeze else 0),
            "slot": self.slot,
            "token": token,
            "epoch": epoch,
        }
        self.packet_out(po, pins=[(expect, b"")], note=f"probe token={token} freeze={freeze}")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "entries": self.entries,
            "steps": self.steps,
        }
        if self.bad_checksum_input:
            out["bad_checksum_input"] = True
        if self.min_slots:
            out["min_slots"] = self.min_slots
        return out


def _expect(
    out: list[tuple[int, bytes]] | None,
    pins: list[tuple[dict[str, int], bytes]] | None,
    drop: str | None,
) -> dict[str, Any]:
    """Expected outputs and packet-ins. A step without outputs whose frame is not punted states
    why the input is dropped (``drop``: the reference model's reason; the switch cannot report
    it); a dropped frame may still have its mirror or latch packet-in (section 4.2)."""
    assert not (drop and out), "a step with outputs is not a drop"
    assert drop or out or pins, "state a drop reason for drops"
    exp: dict[str, Any] = {
        "outputs": [{"port": p, "packet": f.hex()} for p, f in out or []],
        "packet_ins": [{"metadata": m, "payload": f.hex()} for m, f in pins or []],
    }
    if drop:
        exp["drop"] = drop
    return exp


CASES: list[tuple[str, str, Callable[[Case], None]]] = []


def case(name: str, description: str) -> Callable[[Callable[[Case], None]], Callable[[Case], None]]:
    def deco(fn: Callable[[Case], None]) -> Callable[[Case], None]:
        CASES.append((name, description, fn))
        return fn

    return deco


def a_out(seq: int, ack: int, flags: str = "PA", **kw: Any) -> bytes:
    """Host A emits a packet of its session A:5000 -> S:80."""
    return tcp("from_a", A, 5000, S, 80, seq, ack, flags, **kw)


def a_old(seq: int, ack: int, flags: str = "PA", **kw: Any) -> bytes:
    """The same packet on the old subsession, as it leaves for the network."""
    return tcp("to_net", A, 40001, M, 80, seq, ack, flags, **kw)


def a_new(seq: int, ack: int, flags: str = "PA", **kw: Any) -> bytes:
    """On the new subsession A:40002 -> N:80."""
    return tcp("to_net", A, 40002, N, 80, seq, ack, flags, **kw)


def m_in(seq: int, ack: int, flags: str = "PA", **kw: Any) -> bytes:
    """From the network on the old subsession M:80 -> A:40001."""
    return tcp("from_net", M, 80, A, 40001, seq, ack, flags, **kw)


def n_in(seq: int, ack: int, flags: str = "PA", **kw: Any) -> bytes:
    """From the network on the new subsession N:80 -> A:40002."""
    return tcp("from_net", N, 80, A, 40002, seq, ack, flags, **kw)


def to_host_a(seq: int, ack: int, flags: str = "PA", **kw: Any) -> bytes:
    """Delivered to host A on its session S:80 -> A:5000."""
    return tcp("to_a", S, 80, A, 5000, seq, ack, flags, **kw)


DATA100 = bytes(range(100))


# 1. SYN punts ------------------------------------------------------------------------------


@case(
    "syn_first_no_entry",
    "A first SYN from a local host without any entry is punted (SYN), not forwarded.",
)
def _(c: Case) -> None:
    f = a_out(1000, 0, "S", win=64240, opts=syn_opt(1460, 100, 0, 7))
    c.send(P_A, f, pins=[(pin(R.SYN, P_A, direction=D.OUT, agent=1), f)])


@case(
    "syn_retransmit_with_entry",
    "A SYN that matches an OUT entry is still punted, with ENTRY_HIT and the slot.",
)
def _(c: Case) -> None:
    c.add(out_entry(c.slot))
    f = a_out(1000, 0, "S", win=64240, opts=syn_opt(1460, 100, 0, 7))
    c.send(P_A, f, pins=[(out_pin(R.SYN, c.slot), f)])


@case(
    "syn_with_chain_from_network",
    "A setup SYN carrying a CHAIN message as payload from the network is punted (SYN, direction "
    "IN).",
)
def _(c: Case) -> None:
    codec = ControlCodec(bytes(range(32)))
    chain = codec.encode(
        ControlMessage(
            MsgType.CHAIN,
            RequestId("0.0.0.0", 0),
            C,
            msg_id=1,
            left_session=FiveTuple(C, 7000, S, 80),
            hops=(S,),
            tag=0x11223344,
        )
    )
    f = tcp(
        "from_net",
        C,
        41000,
        A,
        80,
        500,
        0,
        "S",
        win=64240,
        opts=syn_opt(1460, 9, 0, 7),
        payload=chain,
    )
    c.send(P_NET, f, pins=[(pin(R.SYN, P_NET, direction=D.IN), f)])


@case(
    "syn_with_tag_option",
    "A middlebox host's SYN with the Dysco tag option (28 option bytes) is punted from its port "
    "(agent 2).",
)
def _(c: Case) -> None:
    f = tcp(
        "from_b", B, 6000, S, 80, 77, 0, "S", win=64240, opts=syn_opt(1460, 5, 0, 7, tag=0xA1B2C3D4)
    )
    c.send(P_B, f, pins=[(pin(R.SYN, P_B, direction=D.OUT, agent=2), f)])


@case(
    "synack_with_payload_punted",
    "A SYN-ACK with payload on an IN entry is punted (SYNACK), not forwarded.",
)
def _(c: Case) -> None:
    c.add(in_entry(c.slot))
    f = m_in(9000, 1001, "SA", payload=b"x")
    c.send(P_NET, f, pins=[(in_pin(R.SYNACK, c.slot), f)])


@case(
    "synack_on_new_role_punted",
    "The new path's SYN-ACK arriving on a NEW-role IN entry is punted (SYNACK).",
)
def _(c: Case) -> None:
    c.add(in_entry(c.slot, (N, 80, A, 40002), role=2, epoch=1))
    f = n_in(9000, 1001, "SA", opts=syn_opt(1460, 50, 40, 7))
    c.send(P_NET, f, pins=[(in_pin(R.SYNACK, c.slot), f)])


# 2. SYN-ACK mirror ---------------------------------------------------------------------------


@case(
    "synack_mirror",
    "A server's SYN-ACK on an OUT entry is rewritten, forwarded and mirrored (SYNACK_MIRROR).",
)
def _(c: Case) -> None:
    c.add(out_entry(c.slot, (A, 80, C, 7000), (A, 80, M, 41000)))
    opts = syn_opt(1460, 200, 100, 7)
    f = tcp("from_a", A, 80, C, 7000, 5000, 1001, "SA", win=65160, opts=opts)
    out = tcp("to_net", A, 80, M, 41000, 5000, 1001, "SA", win=65160, opts=opts)
    regs = {"sent_hi": 5001, "ack_hi": 1001}
    c.send(P_A, f, [(P_NET, out)], [(out_pin(R.SYNACK_MIRROR, c.slot, regs=regs), f)])


@case(
    "synack_ts_shift_no_window_scale",
    "A SYN-ACK's timestamps (Linux SYN layout) are shifted; its window is never rescaled.",
)
def _(c: Case) -> None:
    d = (5, -1, 0x1000, 0x10, 2)
    c.add(out_entry(c.slot, (A, 80, C, 7000), (A, 80, M, 41000), d))
    f = tcp("from_a", A, 80, C, 7000, 5000, 1001, "SA", win=65160, opts=syn_opt(1460, 200, 100, 7))
    out = tcp(
        "to_net",
        A,
        80,
        M,
        41000,
        5005,
        1000,
        "SA",
        win=65160,
        opts=syn_opt(1460, 0x1000 + 200, 0x10 + 100, 7),
    )
    regs = {"sent_hi": 5001, "ack_hi": 1001}
    c.send(P_A, f, [(P_NET, out)], [(out_pin(R.SYNACK_MIRROR, c.slot, regs=regs), f)])


# 3. Established rewrite ----------------------------------------------------------------------


@case(
    "out_rewrite_basic",
    "Host data on an OUT entry: tuple rewritten to the subsession, MACs and TTL set, out of "
    "port 3.",
)
def _(c: Case) -> None:
    c.add(out_entry(c.slot))
    c.send(
        P_A,
        a_out(1001, 5001, win=1000, payload=b"hello"),
        [(P_NET, a_old(1001, 5001, win=1000, payload=b"hello"))],
    )


@case(
    "in_rewrite_basic",
    "Network data on an IN entry: rewritten back to the session tuple and delivered to host A.",
)
def _(c: Case) -> None:
    c.add(in_entry(c.slot))
    c.send(
        P_NET,
        m_in(5001, 1006, win=2000, payload=b"world"),
        [(P_A, to_host_a(5001, 1006, win=2000, payload=b"world"))],
    )


@case("out_seq_ack_deltas", "OUT with seq delta 0x100 and ack delta 0x2000.")
def _(c: Case) -> None:
    c.add(out_entry(c.slot, d=(0x100, 0x2000, 0, 0, 0)))
    c.send(
        P_A,
        a_out(1001, 5001, payload=b"abc"),
        [(P_NET, a_old(1001 + 0x100, 5001 + 0x2000, payload=b"abc"))],
    )


@case("in_seq_ack_deltas", "IN with seq delta -0x100 and ack delta -0x2000 (mod 2^32).")
def _(c: Case) -> None:
    c.add(in_entry(c.slot, d=(-0x100, -0x2000, 0, 0, 0)))
    c.send(
        P_NET,
        m_in(0x5000, 0x9000, payload=b"abc"),
        [(P_A, to_host_a(0x4F00, 0x7000, payload=b"abc"))],
    )


@case(
    "out_seq_ack_wraparound", "Sequence and ack numbers wrap past 2^32 when the deltas are added."
)
def _(c: Case) -> None:
    c.add(out_entry(c.slot, d=(0x200, 0x20, 0, 0, 0)))
    c.send(
        P_A,
        a_out(0xFFFFFF00, 0xFFFFFFF0, payload=b"w" * 16),
        [(P_NET, a_old(0x00000100, 0x00000010, payload=b"w" * 16))],
    )


@case(
    "in_seq_ack_wraparound",
    "IN: seq 0x7FFFFFFF + 0x80000001 wraps to 0; ack 0x10 + 0xFFFFFF00 = 0xFFFFFF10.",
)
def _(c: Case) -> None:
    c.add(in_entry(c.slot, d=(0x80000001, 0xFFFFFF00, 0, 0, 0)))
    c.send(
        P_NET, m_in(0x7FFFFFFF, 0x10, payload=b"z"), [(P_A, to_host_a(0, 0xFFFFFF10, payload=b"z"))]
    )


@case(
    "rst_without_ack_keeps_ack_field",
    "A RST without ACK: seq gets its delta, the ack field is left alone; RST is mirrored.",
)
def _(c: Case) -> None:
    c.add(out_entry(c.slot, d=(0x10, 0x10, 0, 0, 0)))
    f = a_out(1001, 0x12345678, "R", win=0)
    out = a_old(1001 + 0x10, 0x12345678, "R", win=0)
    c.send(P_A, f, [(P_NET, out)], [(out_pin(R.RST_MIRROR, c.slot, regs={"sent_hi": 1001}), f)])


# 4. SACK, timestamps, window -----------------------------------------------------------------

_BLOCKS = [(6001, 7001), (8001, 9001), (10001, 11001), (12001, 13001)]

for _n in (1, 2, 3, 4):

    def _sack(c: Case, n: int = _n) -> None:
        c.add(out_entry(c.slot, d=(0, 0x1000, 0, 0, 0)))
        blocks = _BLOCKS[:n]
        shifted = [(left + 0x1000, right + 0x1000) for left, right in blocks]
        c.send(
            P_A,
            a_out(1001, 5001, "A", opts=sack_opt(*blocks)),
            [(P_NET, a_old(1001, 5001 + 0x1000, "A", opts=sack_opt(*shifted)))],
        )

    case(
        f"sack_{_n}_block{'s' if _n > 1 else ''}_shifted",
        f"NOP NOP SACK with {_n} block(s): every edge gets the ack delta.",
    )(_sack)


@case("ts_shifted_out", "NOP NOP TS: TSval + 0x10000, TSecr - 1.")
def _(c: Case) -> None:
    c.add(out_entry(c.slot, d=(0, 0, 0x10000, -1, 0)))
    c.send(
        P_A,
        a_out(1001, 5001, opts=ts_opt(1000, 2000), payload=b"t"),
        [(P_NET, a_old(1001, 5001, opts=ts_opt(1000 + 0x10000, 1999), payload=b"t"))],
    )


@case(
    "ts_and_sack_2_in",
    "IN: TS followed by SACK with 2 blocks; ack delta 0x500 on ack and edges, TS deltas 7 / 9.",
)
def _(c: Case) -> None:
    c.add(in_entry(c.slot, d=(0, 0x500, 7, 9, 0)))
    opts = ts_opt(300, 400) + sack_opt((100, 200), (300, 400))
    exp = ts_opt(307, 409) + sack_opt((100 + 0x500, 200 + 0x500), (300 + 0x500, 400 + 0x500))
    c.send(
        P_NET,
        m_in(5001, 1001, "A", opts=opts),
        [(P_A, to_host_a(5001, 1001 + 0x500, "A", opts=exp))],
    )


@case(
    "ts_and_sack_3_wraparound",
    "40 option bytes (TS + SACK with 3 blocks); SACK edges wrap past 2^32.",
)
def _(c: Case) -> None:
    c.add(out_entry(c.slot, d=(0, 0x20, 1, 1, 0)))
    blocks = [(0xFFFFFFF0, 0xFFFFFFF8), (0xFFFFFFFC, 0x4), (0x8, 0x10)]
    shifted = [(0x10, 0x18), (0x1C, 0x24), (0x28, 0x30)]
    opts = ts_opt(0xFFFFFFFF, 5) + sack_opt(*blocks)
    exp = ts_opt(0, 6) + sack_opt(*shifted)
    c.send(P_A, a_out(1001, 0xFFFFFFE0, "A", opts=opts), [(P_NET, a_old(1001, 0, "A", opts=exp))])


@case("window_shift_left", "win_shift +2: window 1000 becomes 4000.")
def _(c: Case) -> None:
    c.add(out_entry(c.slot, d=(0, 0, 0, 0, 2)))
    c.send(
        P_A,
        a_out(1001, 5001, win=1000, payload=b"w"),
        [(P_NET, a_old(1001, 5001, win=4000, payload=b"w"))],
    )


@case("window_shift_left_clamped", "win_shift +7: 1000 << 7 = 128000 is clamped to 65535.")
def _(c: Case) -> None:
    c.add(out_entry(c.slot, d=(0, 0, 0, 0, 7)))
    c.send(
        P_A,
        a_out(1001, 5001, win=1000, payload=b"w"),
        [(P_NET, a_old(1001, 5001, win=65535, payload=b"w"))],
    )


@case("window_shift_right", "win_shift -3 (parameter 0xFD): window 1000 becomes 125.")
def _(c: Case) -> None:
    c.add(in_entry(c.slot, d=(0, 0, 0, 0, -3)))
    c.send(
        P_NET,
        m_in(5001, 1001, win=1000, payload=b"w"),
        [(P_A, to_host_a(5001, 1001, win=125, payload=b"w"))],
    )


_UNKNOWN_OPT = b"\x1e\x0c" + bytes(range(1, 11))  # kind 30 (MPTCP), 12 bytes: not a layout we parse


@case(
    "unsupported_options_punted",
    "Options outside the recognised layouts with a non-zero ack delta: punted "
    "UNSUPPORTED_OPTIONS; registers still updated.",
)
def _(c: Case) -> None:
    c.add(out_entry(c.slot, d=(0, 0x10, 0, 0, 0)))
    f = a_out(1001, 5001, opts=_UNKNOWN_OPT, payload=b"u" * 10)
    c.send(
        P_A,
        f,
        pins=[(out_pin(R.UNSUPPORTED_OPTIONS, c.slot, regs={"sent_hi": 1011, "ack_hi": 5001}), f)],
    )


@case(
    "ts_then_unknown_option_punted",
    "TS followed by 4 unrecognised bytes with a TS delta: punted UNSUPPORTED_OPTIONS.",
)
def _(c: Case) -> None:
    c.add(in_entry(c.slot, d=(0, 0, 3, 0, 0)))
    f = m_in(5001, 1001, "A", opts=ts_opt(1, 2) + b"\x13\x04\x00\x00")
    c.send(P_NET, f, pins=[(in_pin(R.UNSUPPORTED_OPTIONS, c.slot, regs={"rcvd_ack_hi": 1001}), f)])


@case(
    "unknown_options_forwarded_without_option_deltas",
    "Unrecognised options are forwarded untouched when the deltas leave options alone (seq "
    "delta only).",
)
def _(c: Case) -> None:
    c.add(out_entry(c.slot, d=(0x10, 0, 0, 0, 0)))
    c.send(
        P_A,
        a_out(1001, 5001, opts=_UNKNOWN_OPT, payload=b"u"),
        [(P_NET, a_old(1001 + 0x10, 5001, opts=_UNKNOWN_OPT, payload=b"u"))],
    )


# 5. Two-path steering ------------------------------------------------------------------------

NEW_D = (0x100, 0x200, 0, 0, 0)


def two_path(c: Case, *, with_lo: bool = False, peer_cut: int | None = None) -> None:
    """Anchor in two-path mode (epoch 1): 100 bytes sent on the old path, cutoff frozen at
    1101; with ``with_lo``, 10 bytes received on the new path from 7001 (new_rcvd_lo); with
    ``peer_cut``, the entry carries the peer's cutoff (the anchor switched)."""
    c.add(
        out_entry(c.slot, epoch=1, peer_cut=peer_cut, new=(SUB_NEW, NEW_D)),
        in_entry(c.slot),
        in_entry(c.slot, (N, 80, A, 40002), d=(0, -0x100, 0, 0, 0), role=2, epoch=1),
    )
    c.send(
        P_A,
        a_out(1001, 5001, payload=DATA100),
        [(P_NET, a_old(1001, 5001, payload=DATA100))],
        note="old data, no cutoff yet",
    )
    c.probe(
        7,
        probe_reply(c.slot, 7, 1, sent_hi=1101, ack_hi=5001, cut=1101, old_ack_hi=5001),
        freeze=True,
    )
    if with_lo:
        c.send(
            P_NET,
            n_in(7001, 1001 + 0x100, payload=b"n" * 10),
            [(P_A, to_host_a(7001, 1001, payload=b"n" * 10))],
            note="first new-path data: new_rcvd_lo = 7001",
        )


def lo_regs(ack_hi: int, old_ack_hi: int = 5001) -> dict[str, int]:
    """The registers a packet-in reports after ``two_path(c, with_lo=True)`` and one OUT
    packet acknowledging ``ack_hi`` (``old_ack_hi``: the value before it)."""
    return {
        "sent_hi": 1101,
        "ack_hi": ack_hi,
        "rcvd_ack_hi": 1001,
        "new_rcvd_lo": 7001,
        "cut": 1101,
        "old_ack_hi": old_ack_hi,
    }


@case(
    "two_path_data_below_cut",
    "Two-path: a retransmission ending exactly at the cutoff goes on the old path.",
)
def _(c: Case) -> None:
    two_path(c)
    c.send(P_A, a_out(1001, 5001, payload=DATA100), [(P_NET, a_old(1001, 5001, payload=DATA100))])


@case(
    "two_path_data_at_cut",
    "Two-path: data starting at the cutoff goes on the new path with the new deltas.",
)
def _(c: Case) -> None:
    two_path(c)
    c.send(
        P_A,
        a_out(1101, 5001, payload=DATA100),
        [(P_NET, a_new(1101 + 0x100, 5001 + 0x200, payload=DATA100))],
    )


@case("two_path_data_above_cut", "Two-path: data above the cutoff goes on the new path.")
def _(c: Case) -> None:
    two_path(c)
    c.send(
        P_A,
        a_out(1301, 5001, payload=b"q" * 50),
        [(P_NET, a_new(1301 + 0x100, 5001 + 0x200, payload=b"q" * 50))],
    )


@case(
    "two_path_data_straddles_cut",
    "Two-path: a segment straddling the cutoff needs two pieces: punted SPLIT.",
)
def _(c: Case) -> None:
    two_path(c)
    f = a_out(1051, 5001, payload=DATA100)
    regs = {"sent_hi": 1151, "ack_hi": 5001, "cut": 1101, "old_ack_hi": 5001}
    c.send(P_A, f, pins=[(out_pin(R.SPLIT, c.slot, epoch=1, regs=regs), f)])


@case(
    "two_path_new_data_ack_advanced_split",
    "Two-path: new-path data whose ack advanced past what the old path saw needs an old-path "
    "pure ack: SPLIT.",
)
def _(c: Case) -> None:
    two_path(c)
    f = a_out(1101, 5101, payload=DATA100)
    regs = {"sent_hi": 1201, "ack_hi": 5101, "cut": 1101, "old_ack_hi": 5001}
    c.send(P_A, f, pins=[(out_pin(R.SPLIT, c.slot, epoch=1, regs=regs), f)])


@case("two_path_pure_ack_below_lo", "Two-path: a pure ack below new_rcvd_lo goes on the old path.")
def _(c: Case) -> None:
    two_path(c, with_lo=True)
    c.send(P_A, a_out(1101, 7000, "A"), [(P_NET, a_old(1101, 7000, "A"))])


@case(
    "two_path_pure_ack_at_lo",
    "Two-path: a pure ack equal to new_rcvd_lo still goes on the old path.",
)
def _(c: Case) -> None:
    two_path(c, with_lo=True)
    c.send(P_A, a_out(1101, 7001, "A"), [(P_NET, a_old(1101, 7001, "A"))])


@case(
    "two_path_pure_ack_above_lo_first_split",
    "Two-path: the first ack above new_rcvd_lo also needs an old-path ack up to it: SPLIT.",
)
def _(c: Case) -> None:
    two_path(c, with_lo=True)
    f = a_out(1101, 7002, "A")
    regs = lo_regs(7002)
    c.send(P_A, f, pins=[(out_pin(R.SPLIT, c.slot, epoch=1, regs=regs), f)])


@case(
    "two_path_pure_ack_above_lo",
    "Two-path: once the old path has seen an ack up to new_rcvd_lo, acks above it go on the new "
    "path alone.",
)
def _(c: Case) -> None:
    two_path(c, with_lo=True)
    c.send(P_A, a_out(1101, 7001, "A"), [(P_NET, a_old(1101, 7001, "A"))])
    c.send(P_A, a_out(1101, 7101, "A"), [(P_NET, a_new(1101 + 0x100, 7101 + 0x200, "A"))])


@case(
    "two_path_old_data_new_ack_split",
    "Two-path: old-path data with an ack above new_rcvd_lo needs a new-path pure ack: SPLIT.",
)
def _(c: Case) -> None:
    two_path(c, with_lo=True)
    f = a_out(1001, 7101, payload=DATA100)
    regs = lo_regs(7101)
    c.send(P_A, f, pins=[(out_pin(R.SPLIT, c.slot, epoch=1, regs=regs), f)])


@case(
    "two_path_rst_split",
    "Two-path: a RST must go on both paths: SPLIT (old_ack_hi is not advanced by a RST).",
)
def _(c: Case) -> None:
    two_path(c, with_lo=True)
    f = a_out(1101, 7001, "RA", win=0)
    regs = lo_regs(7001)
    c.send(P_A, f, pins=[(out_pin(R.SPLIT, c.slot, epoch=1, regs=regs), f)])
    # old_ack_hi stayed 5001: the next ack at lo still goes old and shows it.
    c.probe(
        8,
        probe_reply(
            c.slot,
            8,
            1,
            sent_hi=1101,
            ack_hi=7001,
            rcvd_ack_hi=1001,
            new_rcvd_lo=7001,
            cut=1101,
            old_ack_hi=5001,
        ),
    )


@case(
    "two_path_sack_filter_split",
    "Two-path: an old-path ack keeps SACK blocks below new_rcvd_lo; a block above it would have "
    "to be dropped: SPLIT.",
)
def _(c: Case) -> None:
    two_path(c, with_lo=True)
    ok = sack_opt((6001, 6501))
    c.send(P_A, a_out(1101, 7001, "A", opts=ok), [(P_NET, a_old(1101, 7001, "A", opts=ok))])
    f = a_out(1101, 7001, "A", opts=sack_opt((7101, 7201)))
    regs = lo_regs(7001, old_ack_hi=7001)
    c.send(P_A, f, pins=[(out_pin(R.SPLIT, c.slot, epoch=1, regs=regs), f)])


@case(
    "two_path_old_pure_ack_above_cut_split",
    "Two-path: a pure ack that stays on the old path carries seq min(seq, cut): the host's "
    "snd_nxt past the cut (data sent into the hold or on the new path) may be beyond the window "
    "a proxy or stateful box on the old path opened (conntrack: INVALID). A pure ack at the cut "
    "goes as it is; one above it needs its seq rewritten: SPLIT.",
)
def _(c: Case) -> None:
    two_path(c)
    c.send(P_A, a_out(1101, 5001, "A"), [(P_NET, a_old(1101, 5001, "A"))], note="at the cut")
    f = a_out(1301, 5001, "A")
    regs = {"sent_hi": 1301, "ack_hi": 5001, "cut": 1101, "old_ack_hi": 5001}
    c.send(P_A, f, pins=[(out_pin(R.SPLIT, c.slot, epoch=1, regs=regs), f)])


@case(
    "two_path_pure_ack_at_peer_cut_new_path",
    "Two-path: once the host has acked all of the peer's old-path data (ack_hi >= peer_cut), "
    "its pure acks go on the new path; the first also needs an old-path copy (SPLIT), later "
    "duplicates, window updates and keepalives go on the new path alone (the peer's old path "
    "may be gone: rack e2e 8).",
)
def _(c: Case) -> None:
    two_path(c, peer_cut=5101)
    c.send(
        P_A, a_out(1101, 5051, "A"), [(P_NET, a_old(1101, 5051, "A"))], note="below peer_cut: old"
    )
    f = a_out(1101, 5101, "A")
    regs = {"sent_hi": 1101, "ack_hi": 5101, "cut": 1101, "old_ack_hi": 5051}
    c.send(P_A, f, pins=[(out_pin(R.SPLIT, c.slot, epoch=1, latch=F.LATCH_PEER, regs=regs), f)])
    c.send(
        P_A,
        a_out(1101, 5101, "A"),
        [(P_NET, a_new(1101 + 0x100, 5101 + 0x200, "A"))],
        note="duplicate ack: new path alone",
    )
    c.send(
        P_A,
        a_out(1101, 5101, "A", win=1000),
        [(P_NET, a_new(1101 + 0x100, 5101 + 0x200, "A", win=1000))],
        note="window update",
    )
    c.send(
        P_A,
        a_out(1100, 5101, "A"),
        [(P_NET, a_new(1100 + 0x100, 5101 + 0x200, "A"))],
        note="keepalive (seq = snd_una - 1)",
    )


@case(
    "two_path_dup_ack_at_peer_cut_below_lo_new_path",
    "Two-path: the peer's first new-path bytes were lost (new_rcvd_lo above peer_cut); the "
    "host's duplicate acks at peer_cut, with SACK blocks for the new-path data, go on the new "
    "path alone once the old path has seen that ack.",
)
def _(c: Case) -> None:
    two_path(c, with_lo=True, peer_cut=6901)
    f = a_out(1101, 6901, "A")
    regs = lo_regs(6901)
    c.send(P_A, f, pins=[(out_pin(R.SPLIT, c.slot, epoch=1, latch=F.LATCH_PEER, regs=regs), f)])
    c.send(
        P_A,
        a_out(1101, 6901, "A", opts=sack_opt((7001, 7011))),
        [
            (
                P_NET,
                a_new(1101 + 0x100, 6901 + 0x200, "A", opts=sack_opt((7001 + 0x200, 7011 + 0x200))),
            )
        ],
    )


# 6. Probes, cutoffs, epochs, latches ---------------------------------------------------------


@case(
    "probe_freeze_stamps_cutoff_once",
    "PROBE answers with the registers; freeze sets cut = sent_hi once per epoch (the cutoff is "
    "stamped as data passes) and old_ack_hi = ack_hi.",
)
def _(c: Case) -> None:
    c.add(out_entry(c.slot))
    c.probe(1, probe_reply(c.slot, 1))
    c.probe(2, probe_reply(c.slot, 2), freeze=True)  # nothing sent yet: no cutoff
    c.send(P_A, a_out(1001, 5001, payload=DATA100), [(P_NET, a_old(1001, 5001, payload=DATA100))])
    regs = {"ack_hi": 5001, "cut": 1101, "old_ack_hi": 5001}
    c.probe(3, probe_reply(c.slot, 3, sent_hi=1101, **regs), freeze=True)
    c.send(P_A, a_out(1101, 5001, payload=DATA100), [(P_NET, a_old(1101, 5001, payload=DATA100))])
    c.probe(4, probe_reply(c.slot, 4, sent_hi=1201, **regs), freeze=True)


def seeded(c: Case) -> None:
    """Two-path entries (epoch 1), 100 bytes sent and acked up to 5001 before the
    reconfiguration's epoch 2 (a probe clears old_ack_hi), then the freeze at epoch 2: cut =
    1101 and old_ack_hi = ack_hi = 5001, every ack host A sent so far having left on the one
    path, which is this reconfiguration's old path (pipeline.md 5.3)."""
    c.add(
        out_entry(c.slot, epoch=1, new=(SUB_NEW, NEW_D)),
        in_entry(c.slot),
        in_entry(c.slot, (N, 80, A, 40002), d=(0, -0x100, 0, 0, 0), role=2, epoch=1),
    )
    c.send(
        P_A,
        a_out(1001, 5001, payload=DATA100),
        [(P_NET, a_old(1001, 5001, payload=DATA100))],
        note="old data, no cutoff yet",
    )
    c.probe(1, probe_reply(c.slot, 1, 2, sent_hi=1101, ack_hi=5001), epoch=2)
    c.probe(
        2,
        probe_reply(c.slot, 2, 2, sent_hi=1101, ack_hi=5001, cut=1101, old_ack_hi=5001),
        freeze=True,
        epoch=2,
    )


@case(
    "probe_freeze_seeds_old_ack_hi",
    "A freezing probe also sets old_ack_hi = ack_hi (the reply shows it, after the probe): "
    "every ack the host sent before the freeze left on the old path.",
)
def _(c: Case) -> None:
    seeded(c)
    # a later freeze in the epoch seeds again from ack_hi; the cut stays
    c.send(P_A, a_out(1001, 5051, "A"), [(P_NET, a_old(1001, 5051, "A"))])
    c.probe(
        3,
        probe_reply(c.slot, 3, 2, sent_hi=1101, ack_hi=5051, cut=1101, old_ack_hi=5051),
        freeze=True,
        epoch=2,
    )


@case(
    "seeded_new_path_data_same_ack_one_path",
    "After the freeze's seed, new-path data whose ack the old path has already seen (a_old = "
    "old_ack_hi) goes on the new path alone: no SPLIT, no old-path pure ack (the peer's old "
    "path may be gone, rack e2e 8).",
)
def _(c: Case) -> None:
    seeded(c)
    c.send(
        P_A,
        a_out(1101, 5001, payload=DATA100),
        [(P_NET, a_new(1101 + 0x100, 5001 + 0x200, payload=DATA100))],
    )
    c.probe(
        3,
        probe_reply(c.slot, 3, 2, sent_hi=1201, ack_hi=5001, cut=1101, old_ack_hi=5001),
    )


@case(
    "seeded_new_path_data_more_old_acked_split",
    "After the freeze's seed, new-path data acknowledging more old-path data than the seed "
    "still needs an old-path pure ack: SPLIT (old_ack_hi before the packet: the seed).",
)
def _(c: Case) -> None:
    seeded(c)
    f = a_out(1101, 5101, payload=DATA100)
    regs = {"sent_hi": 1201, "ack_hi": 5101, "cut": 1101, "old_ack_hi": 5001}
    c.send(P_A, f, pins=[(out_pin(R.SPLIT, c.slot, epoch=2, regs=regs), f)])


@case(
    "probe_freeze_without_ack_hi_no_seed",
    "A freeze while ack_hi is unset leaves old_ack_hi unset (the cut is still frozen); a later "
    "freeze, once ack_hi is set, seeds it and keeps the cut.",
)
def _(c: Case) -> None:
    c.add(out_entry(c.slot))
    c.send(
        P_A, a_out(1001, 0, "P", payload=DATA100), [(P_NET, a_old(1001, 0, "P", payload=DATA100))]
    )
    c.probe(1, probe_reply(c.slot, 1, sent_hi=1101, cut=1101), freeze=True)
    c.send(P_A, a_out(1101, 5001, "A"), [(P_NET, a_old(1101, 5001, "A"))])
    c.probe(2, probe_reply(c.slot, 2, sent_hi=1101, ack_hi=5001, cut=1101))
    c.probe(
        3, probe_reply(c.slot, 3, sent_hi=1101, ack_hi=5001, cut=1101, old_ack_hi=5001), freeze=True
    )


@case(
    "probe_epoch_moves_forward",
    "A probe with a newer epoch clears the cutoff; an older epoch changes nothing (epochs only "
    "move forward).",
)
def _(c: Case) -> None:
    c.add(out_entry(c.slot))
    c.send(P_A, a_out(1001, 5001, payload=DATA100), [(P_NET, a_old(1001, 5001, payload=DATA100))])
    seed = {"cut": 1101, "old_ack_hi": 5001}
    c.probe(1, probe_reply(c.slot, 1, sent_hi=1101, ack_hi=5001, **seed), freeze=True)
    c.probe(2, probe_reply(c.slot, 2, 2, sent_hi=1101, ack_hi=5001), epoch=2)
    c.probe(3, probe_reply(c.slot, 3, 2, sent_hi=1101, ack_hi=5001, **seed), freeze=True, epoch=1)


@case(
    "entry_epoch_clears_two_path_state",
    "An IN entry with a newer epoch clears the cutoff before its packet updates the slot: no "
    "latch.",
)
def _(c: Case) -> None:
    c.add(out_entry(c.slot), in_entry(c.slot, epoch=3))
    c.send(P_A, a_out(1001, 5001, payload=DATA100), [(P_NET, a_old(1001, 5001, payload=DATA100))])
    seed = {"cut": 1101, "old_ack_hi": 5001}
    c.probe(1, probe_reply(c.slot, 1, sent_hi=1101, ack_hi=5001, **seed), freeze=True)
    c.send(P_NET, m_in(5001, 1101, "A"), [(P_A, to_host_a(5001, 1101, "A"))])
    c.probe(2, probe_reply(c.slot, 2, 3, sent_hi=1101, ack_hi=5001, rcvd_ack_hi=1101))


@case(
    "new_rcvd_lo_from_new_role_data_only",
    "new_rcvd_lo is the serial minimum of data seq received on a NEW entry; ONE entries and "
    "pure acks do not set it.",
)
def _(c: Case) -> None:
    c.add(in_entry(c.slot), in_entry(c.slot, (N, 80, A, 40002), role=2))
    c.send(
        P_NET,
        m_in(7001, 1001, payload=b"o" * 10),
        [(P_A, to_host_a(7001, 1001, payload=b"o" * 10))],
    )
    c.probe(1, probe_reply(c.slot, 1, rcvd_ack_hi=1001))
    c.send(P_NET, n_in(8001, 1001, "A"), [(P_A, to_host_a(8001, 1001, "A"))])
    c.probe(2, probe_reply(c.slot, 2, rcvd_ack_hi=1001))
    c.send(
        P_NET,
        n_in(8001, 1001, payload=b"p" * 10),
        [(P_A, to_host_a(8001, 1001, payload=b"p" * 10))],
    )
    c.send(
        P_NET, n_in(7990, 1001, payload=b"p" * 5), [(P_A, to_host_a(7990, 1001, payload=b"p" * 5))]
    )
    c.probe(3, probe_reply(c.slot, 3, rcvd_ack_hi=1001, new_rcvd_lo=7990))


@case(
    "latch_own_cutoff_acked",
    "The first IN ack reaching the frozen cutoff is forwarded and reported (LATCH, LATCH_OWN); "
    "later ones are not.",
)
def _(c: Case) -> None:
    c.add(out_entry(c.slot), in_entry(c.slot))
    c.send(P_A, a_out(1001, 5001, payload=DATA100), [(P_NET, a_old(1001, 5001, payload=DATA100))])
    seed = {"cut": 1101, "old_ack_hi": 5001}
    c.probe(1, probe_reply(c.slot, 1, sent_hi=1101, ack_hi=5001, **seed), freeze=True)
    c.send(P_NET, m_in(5001, 1050, "A"), [(P_A, to_host_a(5001, 1050, "A"))])
    f = m_in(5001, 1101, "A")
    regs = {"sent_hi": 1101, "ack_hi": 5001, "rcvd_ack_hi": 1101, **seed}
    c.send(
        P_NET,
        f,
        [(P_A, to_host_a(5001, 1101, "A"))],
        [(in_pin(R.LATCH, c.slot, latch=F.LATCH_OWN, regs=regs), f)],
    )
    c.send(P_NET, m_in(5001, 1101, "A"), [(P_A, to_host_a(5001, 1101, "A"))])


@case(
    "latch_peer_cutoff_acked",
    "The first OUT ack reaching peer_cut is forwarded and reported (LATCH, LATCH_PEER); later "
    "ones are not.",
)
def _(c: Case) -> None:
    c.add(out_entry(c.slot, peer_cut=9001))
    c.send(P_A, a_out(1001, 9000, "A"), [(P_NET, a_old(1001, 9000, "A"))])
    f = a_out(1001, 9001, "A")
    c.send(
        P_A,
        f,
        [(P_NET, a_old(1001, 9001, "A"))],
        [(out_pin(R.LATCH, c.slot, latch=F.LATCH_PEER, regs={"sent_hi": 1001, "ack_hi": 9001}), f)],
    )
    c.send(P_A, a_out(1001, 9100, "A"), [(P_NET, a_old(1001, 9100, "A"))])


def old_path_acked_on_new(c: Case) -> None:
    """Anchor in two-path mode (slot epoch 1), old IN entry of epoch 0: 100 bytes sent on
    the old path, all acked on the new path (rcvd_ack_hi = 1101)."""
    c.add(
        out_entry(c.slot, epoch=1, new=(SUB_NEW, NEW_D)),
        in_entry(c.slot),
        in_entry(c.slot, (N, 80, A, 40002), d=(0, -0x100, 0, 0, 0), role=2, epoch=1),
    )
    c.send(P_A, a_out(1001, 5001, payload=DATA100), [(P_NET, a_old(1001, 5001, payload=DATA100))])
    c.send(
        P_NET,
        n_in(7001, 1101 + 0x100, "A"),
        [(P_A, to_host_a(7001, 1101, "A"))],
        note="the new path acks everything: rcvd_ack_hi = 1101",
    )


@case(
    "old_path_data_stale_ack_raised",
    "Data arriving on an old-path IN entry (its epoch older than the slot's) with an ack below "
    "rcvd_ack_hi is delivered with ack = rcvd_ack_hi (the far anchor held the ack back for the "
    "old path's boxes; the host already saw the newer one, RFC 5961 would drop the data).",
)
def _(c: Case) -> None:
    old_path_acked_on_new(c)
    c.send(
        P_NET,
        m_in(6001, 1050, payload=b"o" * 10),
        [(P_A, to_host_a(6001, 1101, payload=b"o" * 10))],
    )
    c.send(
        P_NET,
        m_in(6011, 1101, payload=b"o" * 10),
        [(P_A, to_host_a(6011, 1101, payload=b"o" * 10))],
        note="an ack equal to rcvd_ack_hi is left alone",
    )


@case(
    "old_path_stale_pure_ack_dropped",
    "A pure ack on an old-path IN entry below rcvd_ack_hi tells the host nothing: dropped "
    "(a NAT on the host would find it invalid). One at rcvd_ack_hi is delivered, and so is a "
    "RST, unchanged.",
)
def _(c: Case) -> None:
    old_path_acked_on_new(c)
    c.send(P_NET, m_in(6001, 1050, "A"), drop="stale_ack")
    c.send(P_NET, m_in(6001, 1101, "A"), [(P_A, to_host_a(6001, 1101, "A"))])
    f = m_in(6001, 1050, "RA")
    regs = {"sent_hi": 1101, "ack_hi": 5001, "rcvd_ack_hi": 1101, "old_ack_hi": 5001}
    c.send(
        P_NET,
        f,
        [(P_A, to_host_a(6001, 1050, "RA"))],
        [(in_pin(R.RST_MIRROR, c.slot, epoch=1, regs=regs), f)],
        note="a RST is never changed or dropped",
    )


@case(
    "current_path_old_ack_unchanged",
    "On an entry of the slot's own epoch a reordered older ack is delivered as it is.",
)
def _(c: Case) -> None:
    c.add(out_entry(c.slot), in_entry(c.slot))
    c.send(P_NET, m_in(5001, 1101, "A"), [(P_A, to_host_a(5001, 1101, "A"))])
    c.send(P_NET, m_in(5001, 1050, "A"), [(P_A, to_host_a(5001, 1050, "A"))])
    c.send(
        P_NET,
        m_in(5001, 1050, payload=b"d" * 10),
        [(P_A, to_host_a(5001, 1050, payload=b"d" * 10))],
    )


# 7. Teardown mirrors -------------------------------------------------------------------------


@case(
    "fin_mirrored_out",
    "A FIN from the host is rewritten, forwarded and mirrored (FIN_MIRROR, host view = the "
    "frame as it arrived).",
)
def _(c: Case) -> None:
    c.add(out_entry(c.slot))
    f = a_out(1001, 5001, "FA", payload=b"bye")
    c.send(
        P_A,
        f,
        [(P_NET, a_old(1001, 5001, "FA", payload=b"bye"))],
        [(out_pin(R.FIN_MIRROR, c.slot, regs={"sent_hi": 1005, "ack_hi": 5001}), f)],
    )


@case(
    "fin_mirrored_in",
    "A FIN from the network is rewritten with deltas, delivered and mirrored; the packet-in "
    "carries the frame as it arrived.",
)
def _(c: Case) -> None:
    c.add(in_entry(c.slot, d=(0x10, 0x20, 0, 0, 0)))
    f = m_in(5001, 1005, "FA")
    c.send(
        P_NET,
        f,
        [(P_A, to_host_a(5001 + 0x10, 1005 + 0x20, "FA"))],
        [(in_pin(R.FIN_MIRROR, c.slot, regs={"rcvd_ack_hi": 1005 + 0x20}), f)],
    )


@case("rst_mirrored_in", "A RST+ACK from the network is delivered and mirrored (RST_MIRROR).")
def _(c: Case) -> None:
    c.add(in_entry(c.slot))
    f = m_in(5001, 1005, "RA", win=0)
    c.send(
        P_NET,
        f,
        [(P_A, to_host_a(5001, 1005, "RA", win=0))],
        [(in_pin(R.RST_MIRROR, c.slot, regs={"rcvd_ack_hi": 1005}), f)],
    )


@case("fin_without_entry_not_mirrored", "A FIN of a non-Dysco session is routed and not mirrored.")
def _(c: Case) -> None:
    f = tcp("from_a", A, 5555, C, 22, 1, 1, "FA")
    c.send(P_A, f, [(P_NET, tcp("to_net", A, 5555, C, 22, 1, 1, "FA"))])


# 8. Packet-out, control, non-Dysco traffic ---------------------------------------------------


@case("packet_out_forward", "FORWARD packet-out: the payload leaves the given port byte for byte.")
def _(c: Case) -> None:
    frame = tcp("to_b", S, 80, B, 6000, 1, 2, "A")
    c.packet_out({"op": int(pl.PacketOutOp.FORWARD), "egress_port": P_B}, frame, out=[(P_B, frame)])


@case(
    "packet_out_route",
    "ROUTE packet-out: routed by ipv4_fwd (MACs, port, TTL - 1, IPv4 checksum), no session lookup.",
)
def _(c: Case) -> None:
    c.add(out_entry(c.slot))
    frame = tcp("from_a", A, 5000, S, 80, 1001, 5001, "A")
    out = tcp("to_net", A, 5000, S, 80, 1001, 5001, "A")
    c.packet_out({"op": int(pl.PacketOutOp.ROUTE)}, frame, out=[(P_NET, out)])


@case(
    "packet_out_invalid",
    "Packet-outs to the CPU port or the drop port, or with an unknown op, are dropped.",
)
def _(c: Case) -> None:
    frame = tcp("to_b", S, 80, B, 6000, 1, 2, "A")
    fwd = int(pl.PacketOutOp.FORWARD)
    c.packet_out({"op": fwd, "egress_port": pl.CPU_PORT}, frame, drop="bad_egress_port")
    c.packet_out({"op": fwd, "egress_port": pl.DROP_PORT}, frame, drop="bad_egress_port")
    c.packet_out({"op": 0, "egress_port": P_B}, frame, drop="bad_op")
    c.packet_out({"op": 9, "egress_port": P_B}, frame, drop="bad_op")


def udp(hop: str, src: str, sport: int, dst: str, dport: int, payload: bytes) -> bytes:
    smac, dmac, ttl = HOPS[hop]
    return bytes(
        Ether(src=smac, dst=dmac)
        / IP(src=src, dst=dst, ttl=ttl, id=9)
        / UDP(sport=sport, dport=dport)
        / Raw(payload)
    )


@case(
    "control_message_punted",
    "UDP to the control port of a local address is punted (CONTROL), not forwarded.",
)
def _(c: Case) -> None:
    f = udp("from_net", C, 35000, A, 35000, b"\xd1\x5c\x01\x02" + bytes(72))
    c.send(P_NET, f, pins=[(pin(R.CONTROL, P_NET), f)])


@case(
    "control_port_not_local_forwarded",
    "UDP to the control port of a non-local address is routed like any datagram.",
)
def _(c: Case) -> None:
    f = udp("from_a", A, 35000, S, 35000, b"ctl")
    c.send(P_A, f, [(P_NET, udp("to_net", A, 35000, S, 35000, b"ctl"))])


@case(
    "udp_to_local_other_port_forwarded",
    "UDP to a local address on another port is delivered to the host.",
)
def _(c: Case) -> None:
    f = udp("from_net", C, 5353, A, 53, b"dns?")
    c.send(P_NET, f, [(P_A, udp("to_a", C, 5353, A, 53, b"dns?"))])


@case(
    "non_dysco_tcp_forwarded", "TCP without an entry is routed unchanged apart from MACs and TTL."
)
def _(c: Case) -> None:
    c.add(out_entry(c.slot))
    f = tcp("from_a", A, 5001, S, 80, 1, 2, "PA", payload=b"plain")
    c.send(P_A, f, [(P_NET, tcp("to_net", A, 5001, S, 80, 1, 2, "PA", payload=b"plain"))])


@case(
    "agent_identity_in_out_key",
    "The OUT key includes the agent: host B (agent 2) sending agent 1's session tuple is not "
    "rewritten.",
)
def _(c: Case) -> None:
    c.add(out_entry(c.slot))
    f = tcp("from_b", A, 5000, S, 80, 1001, 5001, "A")
    c.send(P_B, f, [(P_NET, tcp("to_net", A, 5000, S, 80, 1001, 5001, "A"))])


@case("icmp_forwarded", "ICMP is routed.")
def _(c: Case) -> None:
    f = bytes(
        Ether(src=RTR_MAC, dst=SW_MAC)
        / IP(src=C, dst=B, ttl=64, id=3)
        / ICMP(id=1, seq=1)
        / Raw(b"ping")
    )
    o = bytes(
        Ether(src=SW_MAC, dst=B_MAC)
        / IP(src=C, dst=B, ttl=63, id=3)
        / ICMP(id=1, seq=1)
        / Raw(b"ping")
    )
    c.send(P_NET, f, [(P_B, o)])


@case(
    "tcp_fragment_not_rewritten",
    "A TCP first fragment (MF set) is not parsed beyond IPv4: routed without the session rewrite.",
)
def _(c: Case) -> None:
    c.add(out_entry(c.slot))
    f = a_out(1001, 5001, payload=b"frag" * 4, ip_flags=1)
    out = tcp("to_net", A, 5000, S, 80, 1001, 5001, "PA", payload=b"frag" * 4, ip_flags=1)
    c.send(P_A, f, [(P_NET, out)])


@case("ttl_expired_dropped", "A packet with TTL 1 is not routed (dropped).")
def _(c: Case) -> None:
    c.send(P_A, tcp("from_a", A, 5001, S, 80, 1, 2, "A", ttl=1), drop="ttl")


@case("no_route_dropped", "Without a matching ipv4_fwd entry the default action drops.")
def _(c: Case) -> None:
    c.entries = [
        e
        for e in c.entries
        if not (e["table"] == str(T.IPV4_FWD) and e["match"]["dst_addr"] == "0.0.0.0/0")
    ]
    c.send(P_A, tcp("from_a", A, 5001, S, 80, 1, 2, "A"), drop="no_route")


# 9. Malformed, truncated, oversized ----------------------------------------------------------


@case("non_ipv4_dropped", "Non-IPv4 frames (ARP) are dropped: the switch routes IPv4 only.")
def _(c: Case) -> None:
    c.send(
        P_A, bytes(Ether(src=A_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(psrc=A, pdst=B)), drop="not_ipv4"
    )


@case("short_frame_dropped", "A frame shorter than an Ethernet header is dropped.")
def _(c: Case) -> None:
    c.send(P_A, bytes(10), drop="parser_error")


@case("truncated_ipv4_dropped", "IPv4 total length beyond the frame (truncated datagram): dropped.")
def _(c: Case) -> None:
    c.add(out_entry(c.slot))
    c.send(P_A, a_out(1001, 5001, payload=b"x" * 40)[:-20], drop="malformed_ipv4")


@case("truncated_tcp_header_dropped", "A frame ending inside the TCP header: dropped.")
def _(c: Case) -> None:
    c.send(P_A, a_out(1001, 5001, "A")[:44], drop="parser_error")


@case(
    "truncated_options_dropped", "data offset 15 but the frame ends after 8 option bytes: dropped."
)
def _(c: Case) -> None:
    f = a_out(1001, 5001, "A", opts=ts_opt(1, 2) + sack_opt(*_BLOCKS[:3]))
    c.send(P_A, f[: 14 + 20 + 20 + 8], drop="parser_error")


@case("bad_data_offset_dropped", "TCP data offset 4 (< 5): dropped.")
def _(c: Case) -> None:
    f = Ether(src=A_MAC, dst=SW_MAC) / IP(src=A, dst=S, ttl=64, id=7)
    c.send(
        P_A,
        bytes(f / TCP(sport=5000, dport=80, flags="A", dataofs=4) / Raw(b"12345678")),
        drop="malformed_tcp",
    )


@case(
    "ipv4_total_len_shorter_than_tcp_dropped",
    "IPv4 total length smaller than IPv4 + TCP headers: dropped.",
)
def _(c: Case) -> None:
    c.add(out_entry(c.slot))
    f = a_out(1001, 5001, "A", opts=ts_opt(1, 2))
    c.send(P_A, fix_ipv4_checksum(patch(f, 16, struct.pack("!H", 40))), drop="malformed_tcp")


@case("ipv4_options_dropped", "IPv4 with options (IHL 6) is dropped (no slow path on this switch).")
def _(c: Case) -> None:
    f = bytes(
        Ether(src=A_MAC, dst=SW_MAC)
        / IP(src=A, dst=S, ttl=64, id=7, options=b"\x01\x01\x01\x00")
        / TCP(sport=5000, dport=80, flags="A")
    )
    c.send(P_A, f, drop="malformed_ipv4")


@case(
    "bad_tcp_checksum_dropped",
    "A TCP segment with a wrong checksum is dropped (never re-checksummed into a valid one).",
)
def _(c: Case) -> None:
    c.add(out_entry(c.slot))
    c.bad_checksum_input = True
    f = a_out(1001, 5001, payload=b"data")
    c.send(P_A, patch(f, 14 + 20 + 16, b"\xde\xad"), drop="checksum")


@case("bad_ipv4_checksum_dropped", "An IPv4 header with a wrong checksum is dropped.")
def _(c: Case) -> None:
    c.bad_checksum_input = True
    f = tcp("from_a", A, 5001, S, 80, 1, 2, "A")
    c.send(P_A, patch(f, 14 + 10, b"\x00\x01"), drop="checksum")


@case("jumbo_frame_rewritten", "A 9000-byte frame is rewritten and forwarded whole.")
def _(c: Case) -> None:
    c.add(out_entry(c.slot, d=(7, 0, 0, 0, 0)))
    body = bytes(i % 251 for i in range(9000 - 54))
    c.send(P_A, a_out(1001, 5001, payload=body), [(P_NET, a_old(1008, 5001, payload=body))])


@case(
    "ethernet_padding_kept",
    "Zero padding after the IPv4 datagram (a 60-byte minimum frame) is kept; the TCP checksum "
    "covers only zeros there.",
)
def _(c: Case) -> None:
    c.add(out_entry(c.slot, d=(0, 0x10, 0, 0, 0)))
    pad = bytes(6)
    c.send(P_A, a_out(1001, 5001, "A") + pad, [(P_NET, a_old(1001, 5001 + 0x10, "A") + pad)])


# 10. Forwarding after a rewrite -------------------------------------------------------------
# An IN-rewritten packet is routed by the destination it arrived with (the local host it was
# addressed to), not by its rewritten destination; OUT-rewritten packets by the rewritten one
# (docs/pipeline.md section 2, ipv4_fwd). Host B is a transparent middlebox of client C's
# session C:7000 -> S:80: its subsession from the network is C:41000 -> B:80, and the IN entry
# restores the session tuple, whose destination S routes to the network port.

MB_SUB = (C, 41000, B, 80)
MB_SESSION = (C, 7000, S, 80)


def mb_in(seq: int, ack: int, flags: str = "PA", **kw: Any) -> bytes:
    """From the network on the middlebox's subsession C:41000 -> B:80."""
    return tcp("from_net", C, 41000, B, 80, seq, ack, flags, **kw)


def to_mb(seq: int, ack: int, flags: str = "PA", **kw: Any) -> bytes:
    """Delivered to host B (the middlebox) on the session tuple C:7000 -> S:80."""
    return tcp("to_b", C, 7000, S, 80, seq, ack, flags, **kw)


@case(
    "in_rewrite_routed_by_arrival_dst",
    "An IN entry rewrites C:41000 -> B:80 to the session tuple C:7000 -> S:80: the packet goes "
    "to host B (port 2, the route of the destination it arrived with), not to the network "
    "(the route of its new destination S).",
)
def _(c: Case) -> None:
    c.add(in_entry(c.slot, MB_SUB, MB_SESSION, d=(0x40, -0x40, 0, 0, 0)))
    c.send(
        P_NET,
        mb_in(3000, 9000, payload=b"to the middlebox"),
        [(P_B, to_mb(3000 + 0x40, 9000 - 0x40, payload=b"to the middlebox"))],
    )


@case(
    "in_rewrite_mirror_routed_by_arrival_dst",
    "A FIN on the middlebox's IN entry (new destination S routes to the network) is delivered "
    "to host B and mirrored (FIN_MIRROR) with the frame as it arrived.",
)
def _(c: Case) -> None:
    c.add(in_entry(c.slot, MB_SUB, MB_SESSION, d=(0, 0x20, 0, 0, 0)))
    f = mb_in(3000, 9000, "FA", opts=ts_opt(70, 80))
    c.send(
        P_NET,
        f,
        [(P_B, to_mb(3000, 9000 + 0x20, "FA", opts=ts_opt(70, 80)))],
        [(in_pin(R.FIN_MIRROR, c.slot, regs={"rcvd_ack_hi": 9000 + 0x20}), f)],
    )


@case(
    "out_rewrite_routed_by_new_dst",
    "OUT is routed by the rewritten destination: host B's packet to A (a host route, port 1) "
    "rewritten to B:41001 -> M:80 leaves on the network port.",
)
def _(c: Case) -> None:
    c.add(out_entry(c.slot, (B, 6000, A, 80), (B, 41001, M, 80), agent=2))
    c.send(
        P_B,
        tcp("from_b", B, 6000, A, 80, 100, 200, "PA", payload=b"out"),
        [(P_NET, tcp("to_net", B, 41001, M, 80, 100, 200, "PA", payload=b"out"))],
    )


# 11. Corner cases ---------------------------------------------------------------------------

_PAD = bytes.fromhex("deadbeef5aa5")  # non-zero Ethernet padding (some NICs pad with junk)


@case(
    "ethernet_padding_nonzero_rewritten",
    "Non-zero padding after the IPv4 datagram (60-byte frames) is kept byte for byte; the TCP "
    "checksum covers the IPv4 total length only, so the frame is valid and is rewritten.",
)
def _(c: Case) -> None:
    c.add(out_entry(c.slot, d=(0x10, 0, 0, 0, 0)))
    c.send(P_A, a_out(1001, 5001, "A") + _PAD, [(P_NET, a_old(1001 + 0x10, 5001, "A") + _PAD)])
    c.send(
        P_A,
        a_out(1001, 5001, payload=b"abc") + _PAD[:3],
        [(P_NET, a_old(1001 + 0x10, 5001, payload=b"abc") + _PAD[:3])],
        note="3 payload bytes, 3 padding bytes",
    )
    nop4 = b"\x01\x01\x01\x00"
    c.send(
        P_A,
        a_out(1004, 5001, "A", opts=nop4) + _PAD[:2],
        [(P_NET, a_old(1004 + 0x10, 5001, "A", opts=nop4) + _PAD[:2])],
        note="4 option bytes (no recognised layout), 2 padding bytes",
    )


@case(
    "ethernet_padding_nonzero_routed",
    "A non-Dysco TCP frame with non-zero padding is routed with its padding (checksum valid).",
)
def _(c: Case) -> None:
    f = tcp("from_a", A, 5001, S, 80, 1, 2, "A") + _PAD
    c.send(P_A, f, [(P_NET, tcp("to_net", A, 5001, S, 80, 1, 2, "A") + _PAD)])


def _zero_sum_payload(make: Callable[[bytes], bytes]) -> bytes:
    """A payload ``b"csum" + w`` for which the frame ``make(payload)`` has a computed TCP
    checksum of 0x0000 (the covered sum is negative zero): ``w`` is the checksum with w = 0."""
    f = make(b"csum\x00\x00")
    return b"csum" + f[14 + 20 + 16 : 14 + 20 + 18]


def _tcp_csum(frame: bytes, value: int) -> bytes:
    return patch(frame, 14 + 20 + 16, struct.pack("!H", value))


@case(
    "tcp_checksum_ffff_is_zero",
    "A TCP checksum field of 0xFFFF where 0x0000 is computed is the same ones'-complement value "
    "(RFC 1624): valid. Routed unchanged (the field stays 0xFFFF) and rewritten.",
)
def _(c: Case) -> None:
    c.add(out_entry(c.slot, d=(0x10, 0, 0, 0, 0)))
    pay = _zero_sum_payload(lambda p: tcp("from_a", A, 5001, S, 80, 1, 2, "PA", payload=p))
    f = tcp("from_a", A, 5001, S, 80, 1, 2, "PA", payload=pay)
    assert f[14 + 20 + 16 : 14 + 20 + 18] == b"\x00\x00"
    out = tcp("to_net", A, 5001, S, 80, 1, 2, "PA", payload=pay)
    c.send(P_A, _tcp_csum(f, 0xFFFF), [(P_NET, _tcp_csum(out, 0xFFFF))], note="not a session")
    pay = _zero_sum_payload(lambda p: a_out(1001, 5001, payload=p))
    f = a_out(1001, 5001, payload=pay)
    assert f[14 + 20 + 16 : 14 + 20 + 18] == b"\x00\x00"
    c.send(
        P_A,
        _tcp_csum(f, 0xFFFF),
        [(P_NET, a_old(1001 + 0x10, 5001, payload=pay))],
        note="on an entry",
    )
    pay = _zero_sum_payload(lambda p: a_old(1001 + 0x10, 5001, payload=p))
    out = a_old(1001 + 0x10, 5001, payload=pay)
    assert out[14 + 20 + 16 : 14 + 20 + 18] == b"\x00\x00"
    c.send(
        P_A,
        a_out(1001, 5001, payload=pay),
        [(P_NET, out)],
        note="rewritten into a segment whose checksum computes to 0x0000: written as 0x0000",
    )


@case(
    "ipv4_checksum_ffff_is_zero",
    "An IPv4 header checksum of 0xFFFF where 0x0000 is computed is valid; the TTL update "
    "gives the usual checksum.",
)
def _(c: Case) -> None:
    f = tcp("from_a", A, 5001, S, 80, 1, 2, "A")
    hdr = bytearray(f[14:34])
    hdr[4:6] = hdr[10:12] = b"\x00\x00"
    words = sum(struct.unpack("!10H", bytes(hdr)))
    while words >> 16:
        words = (words & 0xFFFF) + (words >> 16)
    ident = ~words & 0xFFFF  # the IP id that makes the header sum negative zero
    f = fix_ipv4_checksum(patch(f, 14 + 4, struct.pack("!H", ident)))
    assert f[14 + 10 : 14 + 12] == b"\x00\x00"
    out = fix_ipv4_checksum(
        patch(tcp("to_net", A, 5001, S, 80, 1, 2, "A"), 14 + 4, struct.pack("!H", ident))
    )
    c.send(P_A, patch(f, 14 + 10, b"\xff\xff"), [(P_NET, out)])


@case(
    "window_shift_right_rounds_up",
    "win_shift -3 rounds up: window 1 stays 1 (never zero), 1001 becomes 126, 0 stays 0.",
)
def _(c: Case) -> None:
    c.add(in_entry(c.slot, d=(0, 0, 0, 0, -3)))
    for w, want in ((1, 1), (1001, 126), (0, 0), (7, 1), (8, 1), (9, 2)):
        c.send(
            P_NET,
            m_in(5001, 1001, win=w, payload=b"w"),
            [(P_A, to_host_a(5001, 1001, win=want, payload=b"w"))],
            note=f"window {w}",
        )


@case(
    "epoch_unsigned_at_wrap",
    "Epochs compare as unsigned 32-bit numbers: 0xFFFFFFFF is newer than 0xFFFFFFFE and clears "
    "the cutoff; epoch 0 after 0xFFFFFFFF is older and clears nothing (no serial wrap).",
)
def _(c: Case) -> None:
    c.add(out_entry(c.slot))
    c.send(P_A, a_out(1001, 5001, payload=DATA100), [(P_NET, a_old(1001, 5001, payload=DATA100))])
    top = 0xFFFF_FFFF
    reg = {"sent_hi": 1101, "ack_hi": 5001}
    seed = {"cut": 1101, "old_ack_hi": 5001}  # a freeze: cut = sent_hi, old_ack_hi = ack_hi
    c.probe(1, probe_reply(c.slot, 1, top - 1, **seed, **reg), freeze=True, epoch=top - 1)
    c.probe(2, probe_reply(c.slot, 2, top, **reg), epoch=top)
    c.probe(3, probe_reply(c.slot, 3, top, **seed, **reg), freeze=True, epoch=top)
    c.probe(4, probe_reply(c.slot, 4, top, **seed, **reg), epoch=0)
    c.probe(5, probe_reply(c.slot, 5, top, **seed, **reg), epoch=0x7FFF_FFFF)


@case(
    "mirror_when_ttl_expires",
    "A FIN on an entry whose rewritten frame is dropped by routing (TTL 1) is still mirrored "
    "(FIN_MIRROR): the registers were updated and the agent must see the FIN.",
)
def _(c: Case) -> None:
    c.add(out_entry(c.slot))
    f = a_out(1001, 5001, "FA", ttl=1)
    regs = {"sent_hi": 1002, "ack_hi": 5001}
    c.send(P_A, f, pins=[(out_pin(R.FIN_MIRROR, c.slot, regs=regs), f)], drop="ttl")


@case(
    "latch_when_no_route",
    "A latch that fires on a packet routing then drops (no route for its new destination) is "
    "still reported (LATCH): a latch fires once per epoch and must not be lost.",
)
def _(c: Case) -> None:
    c.entries = [
        e
        for e in c.entries
        if not (e["table"] == str(T.IPV4_FWD) and e["match"]["dst_addr"] == "0.0.0.0/0")
    ]
    c.add(out_entry(c.slot, peer_cut=9001))
    f = a_out(1001, 9001, "A")
    regs = {"sent_hi": 1001, "ack_hi": 9001}
    c.send(
        P_A,
        f,
        pins=[(out_pin(R.LATCH, c.slot, latch=F.LATCH_PEER, regs=regs), f)],
        drop="no_route",
    )


_CPU_DST = "198.18.9.9"


@case(
    "route_to_cpu_port_dropped",
    "A route whose port is the CPU port drops: a ROUTE packet-out never comes back as a "
    "packet-in or a raw frame on the CPU port, and neither does a routed packet.",
)
def _(c: Case) -> None:
    c.add(
        te(
            T.IPV4_FWD,
            {"dst_addr": _CPU_DST + "/32"},
            AC.ROUTE,
            {"port": pl.CPU_PORT, "src_mac": SW_MAC, "dst_mac": RTR_MAC},
        )
    )
    frame = tcp("from_a", A, 5000, _CPU_DST, 80, 1, 2, "A")
    c.packet_out({"op": int(pl.PacketOutOp.ROUTE)}, frame, drop="route_to_cpu")
    c.send(P_A, frame, drop="route_to_cpu")


@case(
    "packet_out_route_not_plain_ipv4_dropped",
    "A ROUTE packet-out of a non-IPv4 frame (ARP) or of IPv4 with options (IHL 6) is dropped.",
)
def _(c: Case) -> None:
    route = {"op": int(pl.PacketOutOp.ROUTE)}
    arp = bytes(Ether(src=SW_MAC, dst="ff:ff:ff:ff:ff:ff") / ARP(psrc=A, pdst=B))
    c.packet_out(route, arp, drop="route_not_ipv4")
    opts = bytes(
        Ether(src=A_MAC, dst=SW_MAC)
        / IP(src=A, dst=S, ttl=64, id=7, options=b"\x01\x01\x01\x00")
        / TCP(sport=5000, dport=80, flags="A")
    )
    c.packet_out(route, opts, drop="route_ip_options")


# 12. ICMP errors quoting a subsession (docs/pipeline.md 4.2) --------------------------------
# Host A's session A:5000 -> S:80 leaves as A:40001 -> M:80 (OUT seq_delta 0x20, so the IN
# entry's ack_delta is -0x20). A router R on the subsession's path answers a segment it cannot
# forward with an ICMP error to A quoting the subsession packet; host A must get it quoting its
# session packet, or path-MTU discovery through the chain breaks.

R_ADDR = "198.18.4.1"
ICMP_IN_D = (0x10, -0x20, 0, 0, 0)


def quote(src: str, sport: int, dst: str, dport: int, seq: int, n: int) -> bytes:
    """The first ``n`` bytes of a 1500-byte TCP segment as a router quotes it (IPv4 header
    with its checksum, TCP header, payload)."""
    pkt = IP(src=src, dst=dst, ttl=63, id=0x1234, flags="DF", len=1500) / TCP(
        sport=sport, dport=dport, seq=seq & M32, ack=777, flags="PA", window=501
    )
    return (bytes(pkt) + DATA100)[:n]


def icmp_err(hop: str, dst: str, type_: int, code: int, quoted: bytes, **kw: Any) -> bytes:
    smac, dmac, ttl = HOPS[hop]
    return bytes(
        Ether(src=smac, dst=dmac)
        / IP(src=R_ADDR, dst=dst, ttl=ttl, id=11)
        / ICMP(type=type_, code=code, **kw)
        / Raw(quoted)
    )


@case(
    "icmp_frag_needed_rewritten",
    "A fragmentation-needed error quoting the subsession A:40001 -> M:80 reaches host A quoting "
    "its session A:5000 -> S:80 (seq back in A's space, inner IPv4 and ICMP checksums "
    "recomputed); with an 8-byte quote (RFC 792) and a longer one (RFC 1812), whose inner TCP "
    "checksum is left as quoted.",
)
def _(c: Case) -> None:
    c.add(in_entry(c.slot, d=ICMP_IN_D))
    for n in (28, 76):
        f = icmp_err("from_net", A, 3, 4, quote(A, 40001, M, 80, 0x1020, n), nexthopmtu=1400)
        want = quote(A, 5000, S, 80, 0x1000, n)
        if n > 36:  # the inner TCP checksum stays as quoted
            want = patch(want, 36, quote(A, 40001, M, 80, 0x1020, n)[36:38])
        out = icmp_err("to_a", A, 3, 4, want, nexthopmtu=1400)
        c.send(P_NET, f, [(P_A, out)], note=f"{n}-byte quote")


@case(
    "icmp_time_exceeded_rewritten",
    "A time-exceeded error quoting a subsession is rewritten like any ICMP error; its outer "
    "destination (the subsession source, here a source-NAT address) becomes the session's.",
)
def _(c: Case) -> None:
    nat = "198.18.5.5"
    c.add(
        te(
            T.IPV4_FWD,
            {"dst_addr": nat + "/32"},
            AC.ROUTE,
            {"port": P_A, "src_mac": SW_MAC, "dst_mac": A_MAC},
        ),
        in_entry(c.slot, (M, 80, nat, 40001), d=ICMP_IN_D),
    )
    f = icmp_err("from_net", nat, 11, 0, quote(nat, 40001, M, 80, 0x1020, 28))
    out = icmp_err("to_a", A, 11, 0, quote(A, 5000, S, 80, 0x1000, 28))
    c.send(P_NET, f, [(P_A, out)])


@case(
    "icmp_error_without_entry_routed",
    "ICMP errors quoting a tuple without an IN entry, or quoting non-TCP, are routed unchanged.",
)
def _(c: Case) -> None:
    c.add(in_entry(c.slot, d=ICMP_IN_D))
    q = quote(A, 40009, M, 80, 0x1020, 28)
    c.send(P_NET, icmp_err("from_net", A, 3, 4, q), [(P_A, icmp_err("to_a", A, 3, 4, q))])
    u = bytes(IP(src=A, dst=M, ttl=63, id=5) / UDP(sport=40001, dport=80))[:28]
    c.send(P_NET, icmp_err("from_net", A, 3, 3, u), [(P_A, icmp_err("to_a", A, 3, 3, u))])


@case(
    "icmp_error_from_host_not_rewritten",
    "An ICMP error from a host port is routed unchanged (only errors from the network are "
    "rewritten).",
)
def _(c: Case) -> None:
    c.add(in_entry(c.slot, d=ICMP_IN_D))
    q = quote(A, 40001, M, 80, 0x1020, 28)  # would hit the IN entry if it came from the network
    c.send(P_A, icmp_err("from_a", C, 3, 3, q), [(P_NET, icmp_err("to_net", C, 3, 3, q))])


@case(
    "icmp_error_bad_checksum_dropped",
    "An ICMP error quoting a TCP header with a wrong ICMP checksum is dropped, from any port "
    "(its rewrite would recompute the checksum).",
)
def _(c: Case) -> None:
    c.add(in_entry(c.slot, d=ICMP_IN_D))
    c.bad_checksum_input = True
    f = icmp_err("from_net", A, 3, 4, quote(A, 40001, M, 80, 0x1020, 28), nexthopmtu=1400)
    c.send(P_NET, patch(f, 14 + 20 + 2, b"\xde\xad"), drop="checksum")
    f = icmp_err("from_a", C, 3, 3, quote(M, 80, A, 40001, 0x1020, 28))
    c.send(P_A, patch(f, 14 + 20 + 2, b"\xde\xad"), drop="checksum", note="from a host port")


# --- output --------------------------------------------------------------------------------


# 13. Slots beyond 16 bits ------------------------------------------------------------------

BIG_SLOT = 0x012345
"""A slot above 65,535 whose three bytes differ (docs/pipeline.md section 1: SLOT_BITS 24)."""


@case(
    "slot_above_16_bits",
    "A slot above 65,535 (74,565 = 0x012345): the entry's slot indexes its own registers, and "
    "the packet-ins and the probe carry all 24 bits. Needs a target with more register cells "
    "than bmv2's 65,536 (min_slots).",
)
def _(c: Case) -> None:
    c.slot = BIG_SLOT
    c.min_slots = BIG_SLOT + 1
    c.add(out_entry(c.slot), in_entry(c.slot))
    f = a_out(1000, 0, "S", win=64240, opts=syn_opt(1460, 100, 0, 7))
    c.send(P_A, f, pins=[(out_pin(R.SYN, c.slot), f)])
    c.send(P_A, a_out(1001, 5001, payload=DATA100), [(P_NET, a_old(1001, 5001, payload=DATA100))])
    c.send(P_NET, m_in(5001, 1101, "A"), [(P_A, to_host_a(5001, 1101, "A"))])
    regs = {"sent_hi": 1101, "ack_hi": 5001, "rcvd_ack_hi": 1101, "cut": 1101, "old_ack_hi": 5001}
    c.probe(1, probe_reply(c.slot, 1, **regs), freeze=True)
    # the slot 0x2345 of a 16-bit truncation is untouched
    c.packet_out(
        {"op": int(pl.PacketOutOp.PROBE), "slot": BIG_SLOT & 0xFFFF, "token": 2},
        pins=[(probe_reply(BIG_SLOT & 0xFFFF, 2), b"")],
        note="probe of slot 0x2345",
    )


# 14. Hairpin: adjacent hops behind one switch (docs/pipeline.md 4.3) ------------------------

# Host A (port 1, agent 1) is the client of the session A:5000 -> S:80, host B (port 2, agent
# 2) its firewall, the next hop: A's subsession to B is A:40001 -> B:9000, and B receives the
# session tuple again. The controller installs route_host for host addresses.
HP_SUB = (A, 40001, B, 9000)
HP_OUT_D = (0x100, 0x200, 0, 0, 0)  # A's OUT entry: seq and ack deltas
HP_IN_D = (0x1000, 0x2000, 0, 0, 0)  # B's IN entry


def hairpin_topology(c: Case) -> None:
    """The common entries with route_host (instead of route) for the host addresses, and
    the OUT entry of A (slot c.slot) and IN entry of B (slot c.slot + 1)."""
    host_routes = {A + "/32": (P_A, A_MAC), B + "/32": (P_B, B_MAC)}
    c.entries = [e for e in c.entries if e["match"].get("dst_addr") not in host_routes]
    for prefix, (port, mac) in host_routes.items():
        c.add(
            te(
                T.IPV4_FWD,
                {"dst_addr": prefix},
                AC.ROUTE_HOST,
                {"port": port, "src_mac": SW_MAC, "dst_mac": mac},
            )
        )
    c.add(
        out_entry(c.slot, SESSION, HP_SUB, HP_OUT_D),
        in_entry(c.slot + 1, HP_SUB, SESSION, HP_IN_D),
    )


def hp_sub(seq: int, ack: int, flags: str = "PA", **kw: Any) -> bytes:
    """A's packet on the subsession to B, as the first pass leaves it (A's deltas applied):
    the frame the IN pass receives."""
    return tcp("to_b", A, 40001, B, 9000, seq + 0x100, ack + 0x200, flags, **kw)


def hp_at_b(seq: int, ack: int, flags: str = "PA", **kw: Any) -> bytes:
    """The same packet delivered to B: the session tuple, both entries' deltas, routed twice."""
    return tcp("to_b_hairpin", A, 5000, S, 80, seq + 0x1100, ack + 0x2200, flags, **kw)


def hp_in_pin(reason: R, slot: int, **kw: Any) -> dict[str, int]:
    """A packet-in of a hairpin's IN pass: it entered by RECIRC_PORT, a network port."""
    return pin(reason, pl.RECIRC_PORT, direction=D.IN, hit=True, slot=slot, **kw)


@case(
    "hairpin_data_rewritten_twice",
    "Client A and its firewall B behind one switch: A's data packet is rewritten by A's OUT "
    "entry, its route to B is route_host, so it takes the IN pass: B's IN entry rewrites it to "
    "the session tuple and it is delivered to B (TTL decremented by both passes). Both slots' "
    "registers saw the packet. With TTL 2, the IN pass drops it after its register update.",
)
def _(c: Case) -> None:
    hairpin_topology(c)
    c.send(P_A, a_out(1001, 5001, payload=DATA100), [(P_B, hp_at_b(1001, 5001, payload=DATA100))])
    c.probe(1, probe_reply(c.slot, 1, sent_hi=1101, ack_hi=5001))
    c.packet_out(
        {"op": int(pl.PacketOutOp.PROBE), "slot": c.slot + 1, "token": 2},
        pins=[(probe_reply(c.slot + 1, 2, rcvd_ack_hi=5001 + 0x2200), b"")],
        note="probe of B's slot",
    )
    c.send(P_A, a_out(1101, 5101, "A", ttl=2), drop="ttl", note="TTL 1 after the first pass")
    c.packet_out(
        {"op": int(pl.PacketOutOp.PROBE), "slot": c.slot + 1, "token": 3},
        pins=[(probe_reply(c.slot + 1, 3, rcvd_ack_hi=5101 + 0x2200), b"")],
        note="the IN pass updated B's slot before routing dropped it",
    )


@case(
    "hairpin_fin_mirrored_by_both_passes",
    "A FIN from A to its adjacent firewall B is mirrored by each pass: the OUT pass's packet-in "
    "(A's agent, the frame as it arrived from A), then the IN pass's (direction IN, ingress "
    "port RECIRC_PORT, B's slot, the frame as the IN pass received it); delivered to B.",
)
def _(c: Case) -> None:
    hairpin_topology(c)
    f = a_out(1001, 5001, "FA", payload=b"bye")
    c.send(
        P_A,
        f,
        [(P_B, hp_at_b(1001, 5001, "FA", payload=b"bye"))],
        [
            (out_pin(R.FIN_MIRROR, c.slot, regs={"sent_hi": 1005, "ack_hi": 5001}), f),
            (
                hp_in_pin(R.FIN_MIRROR, c.slot + 1, regs={"rcvd_ack_hi": 5001 + 0x2200}),
                hp_sub(1001, 5001, "FA", payload=b"bye"),
            ),
        ],
    )


@case(
    "hairpin_syn_punted_then_routed_to_adjacent_host",
    "A's SYN is punted by the OUT pass (one packet-in, no second pass). The controller's ROUTE "
    "packet-out of the chain SYN towards B is routed by route_host, so it takes the IN pass, "
    "which punts it as a SYN from the network (direction IN, ingress port RECIRC_PORT, no "
    "entry yet) with the frame as routed: B's agent gets it as from a network port.",
)
def _(c: Case) -> None:
    hairpin_topology(c)
    c.entries = [e for e in c.entries if e["table"] != str(T.IN_SESSION)]
    syn = a_out(1000, 0, "S", win=64240, opts=syn_opt(1460, 100, 0, 7))
    c.send(P_A, syn, pins=[(out_pin(R.SYN, c.slot), syn)])
    opts = syn_opt(1460, 100, 0, 7)
    chain = tcp("from_ctl", A, 40001, B, 9000, 1000 + 0x100, 0, "S", win=64240, opts=opts)
    routed = tcp("to_b", A, 40001, B, 9000, 1000 + 0x100, 0, "S", win=64240, opts=opts)
    c.packet_out(
        {"op": int(pl.PacketOutOp.ROUTE)},
        chain,
        pins=[(pin(R.SYN, pl.RECIRC_PORT, direction=D.IN), routed)],
        note="ROUTE of the chain SYN",
    )


@case(
    "hairpin_route_packet_out_mirrored_by_the_in_pass",
    "A controller's ROUTE packet-out of a FIN on A's subsession towards B (an agent's own "
    "segment) is routed by route_host, so it takes the IN pass: B's IN entry rewrites it and "
    "mirrors it (FIN_MIRROR, direction IN, ingress port RECIRC_PORT, B's slot) with the frame "
    "as the IN pass received it, every byte of it; delivered to B. (bmv2 re-parses a clone "
    "from its bytes: the IN pass's copy of a packet-out must not be parsed as one.)",
)
def _(c: Case) -> None:
    hairpin_topology(c)
    seq, ack = 1001 + 0x100, 5001 + 0x200
    chain = tcp("from_ctl", A, 40001, B, 9000, seq, ack, "FA", payload=b"bye")
    routed = tcp("to_b", A, 40001, B, 9000, seq, ack, "FA", payload=b"bye")
    delivered = tcp(
        "to_b_hairpin", A, 5000, S, 80, seq + 0x1000, ack + 0x2000, "FA", payload=b"bye"
    )
    c.packet_out(
        {"op": int(pl.PacketOutOp.ROUTE)},
        chain,
        out=[(P_B, delivered)],
        pins=[(hp_in_pin(R.FIN_MIRROR, c.slot + 1, regs={"rcvd_ack_hi": ack + 0x2000}), routed)],
        note="ROUTE of an agent's FIN to the adjacent host",
    )


@case(
    "hairpin_in_pass_punts_unsupported_options",
    "A packet with options the pipeline does not parse: A's OUT entry has no option deltas, so "
    "the OUT pass rewrites it; B's IN entry has an ack delta, so the IN pass punts it "
    "(UNSUPPORTED_OPTIONS, direction IN) after its register update. Nothing is delivered.",
)
def _(c: Case) -> None:
    out_d, in_d = (0x100, 0, 0, 0, 0), (0, 0x20, 0, 0, 0)
    hairpin_topology(c)
    c.entries = [e for e in c.entries if e["table"] not in (str(T.IN_SESSION), str(T.OUT_SESSION))]
    c.add(out_entry(c.slot, SESSION, HP_SUB, out_d), in_entry(c.slot + 1, HP_SUB, SESSION, in_d))
    nops = b"\x01\x01\x01\x01"
    f = a_out(1001, 5001, opts=nops, payload=b"data")
    sub = tcp("to_b", A, 40001, B, 9000, 1001 + 0x100, 5001, "PA", opts=nops, payload=b"data")
    c.send(
        P_A,
        f,
        pins=[
            (
                hp_in_pin(R.UNSUPPORTED_OPTIONS, c.slot + 1, regs={"rcvd_ack_hi": 5001 + 0x20}),
                sub,
            )
        ],
    )
    c.probe(1, probe_reply(c.slot, 1, sent_hi=1005, ack_hi=5001))


@case(
    "hairpin_not_taken",
    "What does not hairpin, with route_host routes: a packet from the network IN-rewritten "
    "to B (one pass); a packet from A without an OUT entry routed to B unchanged although B's "
    "IN entry matches its tuple (only OUT-rewritten packets and ROUTE packet-outs take the IN "
    "pass); a FORWARD packet-out to B's port; an OUT-rewritten packet whose route is not "
    "route_host (to the network).",
)
def _(c: Case) -> None:
    hairpin_topology(c)
    c.add(out_entry(c.slot + 2, (A, 6000, S, 80), (A, 40009, M, 80)))
    c.send(
        P_NET,
        tcp("from_net", A, 40001, B, 9000, 7, 9, "A"),
        [(P_B, tcp("to_b", A, 5000, S, 80, 7 + 0x1000, 9 + 0x2000, "A"))],
        note="IN-rewritten to B",
    )
    raw = tcp("from_a", A, 40001, B, 9000, 11, 13, "A")
    c.send(
        P_A,
        raw,
        [(P_B, tcp("to_b", A, 40001, B, 9000, 11, 13, "A"))],
        note="no OUT entry",
    )
    c.packet_out(
        {"op": int(pl.PacketOutOp.FORWARD), "egress_port": P_B},
        raw,
        out=[(P_B, raw)],
        note="FORWARD to B's port",
    )
    c.send(
        P_A,
        tcp("from_a", A, 6000, S, 80, 21, 23, "A"),
        [(P_NET, tcp("to_net", A, 40009, M, 80, 21, 23, "A"))],
        note="OUT-rewritten to the network",
    )


# 15. The held prefix (docs/pipeline.md 5.2) --------------------------------------------------

HOLD_TUPLE = ("0.0.0.0", 0, "0.0.0.0", 0)  # dysco_proto.agent.HOLD: no route


def held(c: Case, cut: int = 1101) -> None:
    """Anchor in two-path mode (epoch 1) with its new path held: 100 bytes sent on the old
    path, up to ``cut``, and the cutoff frozen there."""
    c.add(out_entry(c.slot, epoch=1, new=(HOLD_TUPLE, Z)), in_entry(c.slot))
    c.send(
        P_A,
        a_out(cut - 100, 5001, payload=DATA100),
        [(P_NET, a_old(cut - 100, 5001, payload=DATA100))],
        note="old data up to the cutoff",
    )
    c.probe(7, probe_reply(c.slot, 7, 1, sent_hi=cut, ack_hi=5001, cut=cut, old_ack_hi=5001),
            freeze=True)  # fmt: skip


def a_held(seq: int, ack: int, flags: str = "PA", **kw: Any) -> bytes:
    """Rewritten to the hold tuple and routed: the vectors' default route takes it to the
    network (a device without one drops it; either way no host gets it)."""
    return tcp("to_net", *HOLD_TUPLE, seq, ack, flags, **kw)


def held_regs(sent_hi: int, cut: int = 1101) -> dict[str, int]:
    return {"sent_hi": sent_hi, "ack_hi": 5001, "cut": cut, "old_ack_hi": 5001}


@case("hold_prefix_punted", "Held new path: data at the cutoff is punted HOLD, as it arrived.")
def _(c: Case) -> None:
    held(c)
    f = a_out(1101, 5001, payload=DATA100)
    c.send(P_A, f, pins=[(out_pin(R.HOLD, c.slot, epoch=1, regs=held_regs(1201)), f)])


@case(
    "hold_prefix_last_byte",
    "Held new path: data starting HOLD_PUNT_BYTES - 1 above the cutoff is still punted HOLD; "
    "data starting HOLD_PUNT_BYTES above it is rewritten to the hold tuple and routed as before.",
)
def _(c: Case) -> None:
    held(c)
    seq = 1101 + pl.HOLD_PUNT_BYTES - 1
    f = a_out(seq, 5001, payload=DATA100)
    c.send(P_A, f, pins=[(out_pin(R.HOLD, c.slot, epoch=1, regs=held_regs(seq + 100)), f)])
    c.send(P_A, a_out(seq + 1, 5001, payload=DATA100),
           [(P_NET, a_held(seq + 1, 5001, payload=DATA100))])  # fmt: skip


@case(
    "hold_prefix_wraparound",
    "Held new path with the cutoff just below 2^32: the prefix is taken modulo 2^32.",
)
def _(c: Case) -> None:
    cut = 0xFFFFFF00
    held(c, cut)
    f = a_out(0x100, 5001, payload=DATA100)  # 0x200 above the cutoff
    c.send(P_A, f, pins=[(out_pin(R.HOLD, c.slot, epoch=1, regs=held_regs(0x164, cut)), f)])
    beyond = (cut + pl.HOLD_PUNT_BYTES) & M32
    c.send(P_A, a_out(beyond, 5001, payload=DATA100),
           [(P_NET, a_held(beyond, 5001, payload=DATA100))])  # fmt: skip


@case(
    "hold_fin_not_punted",
    "Held new path: a FIN with data is not punted HOLD (its mirror must not wait): rewritten to "
    "the hold tuple, routed and mirrored.",
)
def _(c: Case) -> None:
    held(c)
    f = a_out(1101, 5001, "FPA", payload=DATA100)
    c.send(P_A, f, [(P_NET, a_held(1101, 5001, "FPA", payload=DATA100))],
           pins=[(out_pin(R.FIN_MIRROR, c.slot, epoch=1, regs=held_regs(1202)), f)])  # fmt: skip


@case(
    "hold_straddling_split",
    "Held new path: a segment straddling the cutoff is SPLIT, not HOLD (SPLIT comes first).",
)
def _(c: Case) -> None:
    held(c)
    f = a_out(1051, 5001, payload=DATA100)
    c.send(P_A, f, pins=[(out_pin(R.SPLIT, c.slot, epoch=1, regs=held_regs(1151)), f)])


@case(
    "hold_below_cut_old_path",
    "Held new path: a retransmission below the cutoff still goes on the old path.",
)
def _(c: Case) -> None:
    held(c)
    c.send(P_A, a_out(1001, 5001, payload=DATA100), [(P_NET, a_old(1001, 5001, payload=DATA100))])


def build() -> dict[str, Any]:
    cases = []
    for i, (name, description, fn) in enumerate(CASES):
        c = Case(name, description, slot=10 * (i + 1))
        fn(c)
        cases.append(c.to_json())
    names = [c["name"] for c in cases]
    assert len(names) == len(set(names)), "duplicate case names"
    return {
        "comment": "Generated by tests/vectors/gen_vectors.py; do not edit. See "
        "docs/pipeline.md section 8.",
        "cpu_port": pl.CPU_PORT,
        "cpu_clone_session": pl.CPU_CLONE_SESSION,
        "cases": cases,
    }


def render() -> str:
    return json.dumps(build(), indent=1, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true", help="compare with the committed file")
    args = ap.parse_args(argv)
    text = render()
    if args.check:
        if not OUT_PATH.exists() or OUT_PATH.read_text() != text:
            print(f"{OUT_PATH} is stale: run python {__file__}", file=sys.stderr)
            return 1
        print(f"{OUT_PATH}: up to date ({len(json.loads(text)['cases'])} cases)")
        return 0
    OUT_PATH.write_text(text)
    print(f"wrote {OUT_PATH} ({len(json.loads(text)['cases'])} cases)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
