"""The pipeline's parse graph on bytes: Ethernet/IPv4/TCP frames, the TCP option layouts a
switch can rewrite in one pass (``p4src/v1model/include/parser.p4``), and the checksums as bmv2
computes them. Used by the reference model (:mod:`dysco_pipeline.refmodel`)."""

from __future__ import annotations

import ipaddress
import struct
from dataclasses import dataclass

from dysco_pipeline.checksum import ones_complement_sum
from dysco_proto.packet import TCP, FiveTuple, Segment, TcpFlags, TcpOptions

__all__ = [
    "ETHERTYPE_IPV4",
    "ETH_LEN",
    "IPV4_LEN",
    "TCP_LEN",
    "UDP_LEN",
    "OptionLayout",
    "ParseError",
    "TcpFrame",
    "ipv4_checksum_ok",
    "parse_options",
    "segment_of",
    "tcp_checksum_ok",
    "tcp_sum_input",
]

ETH_LEN = 14
IPV4_LEN = 20
TCP_LEN = 20
UDP_LEN = 8
ETHERTYPE_IPV4 = 0x0800


class ParseError(Exception):
    """The frame ends before a header the parse graph extracts (bmv2: PacketTooShort)."""


@dataclass(slots=True)
class OptionLayout:
    """Recognised TCP option headers: offsets from the start of the options (or -1)."""

    ts: int = -1
    sack: int = -1
    blocks: int = 0
    synopt: int = -1
    ws: int = -1
    tag: int = -1
    rem: int = 0


def _look(data: bytes, off: int, n: int) -> int:
    """``n`` bytes at ``off`` as a big-endian integer (:class:`ParseError` past the end)."""
    if off + n > len(data):
        raise ParseError("lookahead past the end")
    return int.from_bytes(data[off : off + n], "big")


_SACK_LEN_BLOCKS = {0x0101050A: 1, 0x01010512: 2, 0x0101051A: 3, 0x01010522: 4}


def parse_options(frame: bytes, off: int, opt_len: int) -> OptionLayout:
    """The P4 parser's option states (``p4src/v1model/include/parser.p4``), byte for byte.

    ``off`` is the frame offset of the first option byte, ``opt_len`` the declared length.
    """
    lay = OptionLayout(rem=opt_len)
    if opt_len < 12:
        return lay
    first = _look(frame, off, 8)
    pos = 0

    def parse_sack() -> None:
        nonlocal pos
        head = _look(frame, off + pos, 4)
        n = _SACK_LEN_BLOCKS.get(head, 0)
        if n == 0 or 4 + 8 * n > lay.rem:
            return
        need = off + pos + 4 + 8 * n
        if need > len(frame):
            raise ParseError("SACK option past the end")
        lay.sack, lay.blocks = pos, n
        pos += 4 + 8 * n
        lay.rem -= 4 + 8 * n

    if first >> 32 == 0x0101080A:
        if off + 12 > len(frame):
            raise ParseError("TS option past the end")
        lay.ts, pos, lay.rem = 0, 12, lay.rem - 12
        if lay.rem >= 12 and _look(frame, off + pos, 4) & 0xFFFFFF00 == 0x01010500:
            parse_sack()
    elif first >> 40 == 0x010105:
        parse_sack()
    elif opt_len >= 16 and first & 0xFFFF0000FFFFFFFF == 0x020400000402080A:
        if off + 16 > len(frame):
            raise ParseError("SYN options past the end")
        lay.synopt, pos, lay.rem = 0, 16, lay.rem - 16
        if lay.rem >= 4 and _look(frame, off + pos, 4) & 0xFFFFFF00 == 0x01030300:
            lay.ws, pos, lay.rem = pos, pos + 4, lay.rem - 4
            if lay.rem >= 8 and _look(frame, off + pos, 4) == 0xFD084459:
                if off + pos + 8 > len(frame):
                    raise ParseError("tag option past the end")
                lay.tag, pos, lay.rem = pos, pos + 8, lay.rem - 8
    return lay


@dataclass(slots=True)
class TcpFrame:
    """A parsed, validated IPv4/TCP frame."""

    frame: bytes
    tuple: FiveTuple
    seq: int
    ack: int
    flags: int
    window: int
    doff: int
    total_len: int
    layout: OptionLayout
    opt_off: int  # frame offset of the first option byte

    @property
    def payload(self) -> bytes:
        """The TCP payload (up to the IPv4 total length)."""
        return self.frame[self.opt_off + (self.doff - 5) * 4 : ETH_LEN + self.total_len]

    def options(self) -> TcpOptions:
        """The recognised options, decoded."""
        lay, f, o = self.layout, self.frame, self.opt_off
        ts: tuple[int, int] | None = None
        mss: int | None = None
        sack_ok = False
        if lay.ts >= 0:
            ts = struct.unpack_from("!II", f, o + lay.ts + 4)
        if lay.synopt >= 0:
            mss = struct.unpack_from("!H", f, o + lay.synopt + 2)[0]
            sack_ok = True
            ts = struct.unpack_from("!II", f, o + lay.synopt + 8)
        blocks: tuple[tuple[int, int], ...] = ()
        if lay.sack >= 0:
            blocks = tuple(
                struct.unpack_from("!II", f, o + lay.sack + 4 + 8 * i) for i in range(lay.blocks)
            )
        wscale = f[o + lay.ws + 3] if lay.ws >= 0 else None
        tag = struct.unpack_from("!I", f, o + lay.tag + 4)[0] if lay.tag >= 0 else None
        return TcpOptions(
            mss=mss,
            wscale=wscale,
            sack_permitted=sack_ok,
            timestamp=ts,
            sack_blocks=blocks,
            dysco_tag=tag,
        )

    def segment(self) -> Segment:
        """The frame as the abstract data path's segment."""
        return Segment(
            self.tuple,
            self.seq,
            self.ack,
            TcpFlags(self.flags),
            self.window,
            self.options(),
            self.payload,
        )


def ipv4_checksum_ok(frame: bytes) -> bool:
    """The IPv4 header checksum of an Ethernet/IPv4 frame is right.

    Checked as RFC 1071 / 1624 define it: the ones'-complement sum of the header *with* the
    checksum field is negative zero (0xFFFF). So a stored 0xFFFF where a computation gives
    0x0000 (the same ones'-complement value) is valid (docs/pipeline.md section 7).
    """
    return ones_complement_sum(bytes(frame[ETH_LEN : ETH_LEN + IPV4_LEN])) == 0xFFFF


def tcp_sum_input(frame: bytes | bytearray, total_len: int) -> bytes:
    """What the TCP checksum covers: the pseudo-header, then the TCP segment up to the IPv4
    total length with the checksum field zeroed. Trailing bytes after the datagram (Ethernet
    padding, zero or not) are not covered (docs/pipeline.md section 7)."""
    seg = bytearray(frame[ETH_LEN + IPV4_LEN : ETH_LEN + total_len])
    seg[16:18] = b"\x00\x00"
    pseudo = (
        bytes(frame[ETH_LEN + 12 : ETH_LEN + 20])
        + bytes((0, TCP))
        + ((total_len - IPV4_LEN) & 0xFFFF).to_bytes(2, "big")
    )
    return pseudo + bytes(seg)


def tcp_checksum_ok(frame: bytes, total_len: int) -> bool:
    """The TCP checksum is right: the ones'-complement sum of what :func:`tcp_sum_input`
    covers plus the stored field is negative zero, so 0xFFFF and 0x0000 are both accepted
    where a computation gives 0x0000 (RFC 1624 section 3)."""
    covered = bytearray(tcp_sum_input(frame, total_len))
    covered[12 + 16 : 12 + 18] = frame[ETH_LEN + IPV4_LEN + 16 : ETH_LEN + IPV4_LEN + 18]
    return ones_complement_sum(bytes(covered)) == 0xFFFF


def _ip_str(v: int) -> str:
    return str(ipaddress.IPv4Address(v))


def segment_of(frame: bytes) -> Segment | None:
    """The TCP segment of an Ethernet/IPv4/TCP frame as the pipeline parses it, or ``None``.

    Only the option layouts the pipeline recognises are decoded; a controller completing an
    ``UNSUPPORTED_OPTIONS`` punt decodes options with :func:`dysco_proto.wire.decode_tcp_options`.
    """
    if len(frame) < ETH_LEN + IPV4_LEN + TCP_LEN or frame[12:14] != b"\x08\x00":
        return None
    if frame[ETH_LEN] != 0x45 or frame[ETH_LEN + 9] != TCP:
        return None
    l4 = ETH_LEN + IPV4_LEN
    doff = frame[l4 + 12] >> 4
    total_len = int.from_bytes(frame[ETH_LEN + 2 : ETH_LEN + 4], "big")
    if doff < 5 or total_len < IPV4_LEN + doff * 4 or ETH_LEN + total_len > len(frame):
        return None
    try:
        layout = (
            parse_options(frame, l4 + TCP_LEN, doff * 4 - TCP_LEN)
            if doff > 7
            else OptionLayout(rem=doff * 4 - TCP_LEN)
        )
    except ParseError:
        return None
    sport, dport, seq, ack = struct.unpack_from("!HHII", frame, l4)
    src = _ip_str(int.from_bytes(frame[ETH_LEN + 12 : ETH_LEN + 16], "big"))
    dst = _ip_str(int.from_bytes(frame[ETH_LEN + 16 : ETH_LEN + 20], "big"))
    pkt = TcpFrame(
        frame=frame,
        tuple=FiveTuple(src, sport, dst, dport, TCP),
        seq=seq,
        ack=ack,
        flags=frame[l4 + 13],
        window=int.from_bytes(frame[l4 + 14 : l4 + 16], "big"),
        doff=doff,
        total_len=total_len,
        layout=layout,
        opt_off=l4 + TCP_LEN,
    )
    return pkt.segment()
