"""Helpers for the DPDK agent tests: start the agent, load contract state into it, compare
what the real C pipeline does with the reference model (:mod:`dysco_pipeline.refmodel`)."""

from __future__ import annotations

import os
import random
import struct
from collections.abc import Iterable
from dataclasses import dataclass

import pytest

from dysco_pipeline import pipeline as pl
from dysco_pipeline.checksum import internet_checksum
from dysco_pipeline.refmodel import PipelineState, process
from dysco_proto.datapath import SlotRegisters
from dysco_targets.dpdk_ctl import AgentClient, AgentProcess, CtlRegs, Op, agent_available
from dysco_targets.entities import entry_to_ctl

RV = pl.RegValid


def require_agent() -> None:
    ok, why = agent_available()
    if not ok:
        pytest.skip(f"DPDK agent cannot be built here: {why}")


def start_agent(**kw: object) -> AgentProcess:
    require_agent()
    return AgentProcess(**kw)  # type: ignore[arg-type]


# --- registers -----------------------------------------------------------------------------


def regs_to_ctl(slot: int, r: SlotRegisters) -> CtlRegs:
    flags = 0
    vals = {}
    for name, bit in (
        ("sent_hi", RV.SENT_HI),
        ("ack_hi", RV.ACK_HI),
        ("rcvd_ack_hi", RV.RCVD_ACK_HI),
        ("new_rcvd_lo", RV.NEW_RCVD_LO),
        ("cut", RV.CUT),
        ("old_ack_hi", RV.OLD_ACK_HI),
    ):
        v = getattr(r, name)
        vals[name] = 0 if v is None else v
        if v is not None:
            flags |= bit
    if r.latched_own:
        flags |= pl.LATCHED_OWN_BIT
    if r.latched_peer:
        flags |= pl.LATCHED_PEER_BIT
    return CtlRegs(slot=slot, epoch=r.epoch, flags=flags, **vals)


def regs_from_ctl(c: CtlRegs) -> SlotRegisters:
    def v(name: str, bit: int) -> int | None:
        return getattr(c, name) if c.flags & bit else None

    return SlotRegisters(
        sent_hi=v("sent_hi", RV.SENT_HI),
        ack_hi=v("ack_hi", RV.ACK_HI),
        rcvd_ack_hi=v("rcvd_ack_hi", RV.RCVD_ACK_HI),
        epoch=c.epoch,
        new_rcvd_lo=v("new_rcvd_lo", RV.NEW_RCVD_LO),
        cut=v("cut", RV.CUT),
        old_ack_hi=v("old_ack_hi", RV.OLD_ACK_HI),
        latched_own=bool(c.flags & pl.LATCHED_OWN_BIT),
        latched_peer=bool(c.flags & pl.LATCHED_PEER_BIT),
    )


def _norm_regs(r: SlotRegisters) -> SlotRegisters:
    """Registers as the data plane stores them: invalid values carry no information."""
    return r


# --- running a frame through both ---------------------------------------------------------


@dataclass
class Outcome:
    outputs: list[tuple[int, bytes]]
    packet_ins: list[bytes]


def agent_load(
    c: AgentClient,
    entries: Iterable[pl.TableEntry],
    registers: dict[int, SlotRegisters] | None = None,
) -> None:
    """Replace the agent's whole state with ``entries`` and ``registers``."""
    c.clear()
    recs = [entry_to_ctl(e, Op.INSERT) for e in entries]
    if recs:
        res = c.write_packed(recs)
        assert all(r == 0 for r in res), res
    for slot, r in (registers or {}).items():
        assert c.reg_write(regs_to_ctl(slot, r)) == 0


def agent_run(c: AgentClient, frame: bytes, port: int) -> Outcome:
    """One frame through the real C pipeline (port == CPU_PORT: a packet-out)."""
    if port == pl.CPU_PORT:
        hdr, payload = frame[: pl.PACKET_OUT_LEN], frame[pl.PACKET_OUT_LEN :]
        if len(hdr) < pl.PACKET_OUT_LEN:
            return Outcome([], [])
        outs = c.packet_out(hdr, payload, sync=True) or []
    else:
        outs = c.inject(port, frame)
    return Outcome(
        [(o.port, o.data) for o in outs if o.pktin is None],
        [o.pktin for o in outs if o.pktin is not None],
    )


def model_run(state: PipelineState, frame: bytes, port: int) -> Outcome:
    res = process(state, frame, port)
    state.registers = res.registers
    return Outcome(list(res.outputs), [pi.to_bytes() for pi in res.packet_ins])


def describe_pi(b: bytes) -> str:
    meta, frame = pl.decode_packet_in(b)
    nz = {k: v for k, v in meta.items() if v}
    return f"{nz} +{len(frame)}B"


def compare(got: Outcome, want: Outcome, what: str) -> None:
    if got.outputs != want.outputs:
        raise AssertionError(
            f"{what}: outputs differ\n agent: {[(p, f.hex()) for p, f in got.outputs]}\n"
            f" model: {[(p, f.hex()) for p, f in want.outputs]}"
        )
    if got.packet_ins != want.packet_ins:
        raise AssertionError(
            f"{what}: packet-ins differ\n agent: {[describe_pi(b) for b in got.packet_ins]}\n"
            f" model: {[describe_pi(b) for b in want.packet_ins]}"
        )


# --- frames --------------------------------------------------------------------------------

MAC_A = bytes.fromhex("020000000001")
MAC_B = bytes.fromhex("020000000002")


def ip_int(s: str) -> int:
    a, b, c, d = (int(x) for x in s.split("."))
    return (a << 24) | (b << 16) | (c << 8) | d


def tcp_frame(
    src: int,
    dst: int,
    sport: int,
    dport: int,
    seq: int,
    ack: int,
    flags: int,
    *,
    window: int = 1000,
    options: bytes = b"",
    payload: bytes = b"",
    ttl: int = 64,
    bad_tcp_csum: bool = False,
    bad_ip_csum: bool = False,
    ip_flags: int = 0,
    trailer: bytes = b"",
) -> bytes:
    doff = (20 + len(options)) // 4
    tcp = struct.pack("!HHIIBBHHH", sport, dport, seq, ack, doff << 4, flags, window, 0, 0)
    tcp += options + payload
    total = 20 + len(tcp)
    iph = struct.pack("!BBHHHBBHII", 0x45, 0, total, 0x1234, ip_flags, ttl, 6, 0, src, dst)
    ipc = internet_checksum(iph) ^ (0x5555 if bad_ip_csum else 0)
    iph = iph[:10] + struct.pack("!H", ipc) + iph[12:]
    pseudo = struct.pack("!IIBBH", src, dst, 0, 6, len(tcp))
    tc = internet_checksum(pseudo + tcp + trailer) ^ (0x0F0F if bad_tcp_csum else 0)
    tcp = tcp[:16] + struct.pack("!H", tc) + tcp[18:]
    return MAC_B + MAC_A + b"\x08\x00" + iph + tcp + trailer


def udp_frame(src: int, dst: int, sport: int, dport: int, payload: bytes = b"x") -> bytes:
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    iph = struct.pack("!BBHHHBBHII", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, src, dst)
    iph = iph[:10] + struct.pack("!H", internet_checksum(iph)) + iph[12:]
    return MAC_B + MAC_A + b"\x08\x00" + iph + udp


def opt_ts(tsval: int, tsecr: int) -> bytes:
    return b"\x01\x01\x08\x0a" + struct.pack("!II", tsval, tsecr)


def opt_sack(blocks: list[tuple[int, int]]) -> bytes:
    return (
        b"\x01\x01\x05"
        + bytes([2 + 8 * len(blocks)])
        + b"".join(struct.pack("!II", a, b) for a, b in blocks)
    )


def opt_syn(mss: int, tsval: int, tsecr: int, ws: int | None, tag: int | None) -> bytes:
    o = (
        struct.pack("!BBH", 2, 4, mss)
        + b"\x04\x02"
        + b"\x08\x0a"
        + struct.pack("!II", tsval, tsecr)
    )
    if ws is not None:
        o += b"\x01\x03\x03" + bytes([ws])
        if tag is not None:
            o += struct.pack("!BBHI", 253, 8, 0x4459, tag)
    return o


def random_options(rng: random.Random, base: int) -> bytes:
    k = rng.randrange(9)
    s = lambda: (base + rng.randrange(-3000, 3000)) & 0xFFFFFFFF  # noqa: E731
    if k == 0:
        return b""
    if k == 1:
        return opt_ts(rng.getrandbits(32), rng.getrandbits(32))
    if k == 2:
        n = rng.randrange(1, 4)
        blocks = []
        for _ in range(n):
            a = s()
            blocks.append((a, (a + rng.randrange(1, 1500)) & 0xFFFFFFFF))
        return opt_ts(rng.getrandbits(32), rng.getrandbits(32)) + opt_sack(blocks)
    if k == 3:
        n = rng.randrange(1, 5)
        blocks = []
        for _ in range(n):
            a = s()
            blocks.append((a, (a + rng.randrange(1, 1500)) & 0xFFFFFFFF))
        return opt_sack(blocks)
    if k == 4:
        return opt_syn(
            1460,
            rng.getrandbits(32),
            rng.getrandbits(32),
            rng.choice([None, 7]),
            rng.choice([None, 0xABCD]),
        )
    if k == 5:  # unrecognised layouts
        return rng.choice(
            [
                b"\x01\x01\x01\x00",
                b"\x02\x04\x05\xb4" * 3,
                b"\x08\x0a" + bytes(8) + b"\x01\x01",
                opt_ts(1, 2) + b"\x01\x01\x01\x00",
            ]
        )
    if k == 6:
        return opt_ts(rng.getrandbits(32), rng.getrandbits(32)) + b"\x01\x01\x01\x00"
    if k == 7:  # SACK whose length does not fit
        return opt_sack([(1, 2), (3, 4), (5, 6)])[:20]
    return b"\x01" * 4 * rng.randrange(1, 4)


def in_ci() -> bool:
    return bool(os.environ.get("CI"))
