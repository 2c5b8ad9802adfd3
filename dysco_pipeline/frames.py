"""Ethernet/IPv4/TCP and UDP frames <-> the agent's :class:`Segment` (byte level).

The project's one general frame codec: the controller parses packet-ins and builds
packet-outs with it, tests build host traffic with it. TCP options go through
:mod:`dysco_proto.wire` (every option, one codec for the whole project) and checksums through
:mod:`dysco_pipeline.checksum`.

:mod:`dysco_pipeline.refmodel` keeps its own parser on purpose: it models the P4 parse graph
(only the option layouts a switch recognises, bmv2's validation and drop rules), which is a
different function from decoding a frame completely; it never builds frames from segments.
"""

from __future__ import annotations

import socket
import struct
from dataclasses import dataclass

from dysco_pipeline.checksum import internet_checksum
from dysco_proto.packet import TCP, UDP, FiveTuple, Segment, TcpFlags
from dysco_proto.wire import decode_tcp_options, encode_tcp_options

__all__ = [
    "ETHERTYPE_IPV4",
    "ETHERTYPE_PROBE",
    "ParsedFrame",
    "build_frame",
    "build_probe_frame",
    "build_udp_frame",
    "mac_bytes",
    "parse_frame",
]

ETH = struct.Struct("!6s6sH")
IPV4 = struct.Struct("!BBHHHBBH4s4s")
TCPH = struct.Struct("!HHIIBBHHH")
UDPH = struct.Struct("!HHHH")
ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_PROBE = 0x88B5  # IEEE local experimental: the payload of probe packet-outs


def mac_bytes(mac: str) -> bytes:
    """``aa:bb:cc:dd:ee:ff`` -> 6 bytes."""
    return bytes.fromhex(mac.replace(":", ""))


@dataclass(frozen=True, slots=True)
class ParsedFrame:
    """A parsed frame: a TCP segment, or a UDP datagram ``(src, dst, dport, payload)``."""

    segment: Segment | None = None
    udp: tuple[str, str, int, bytes] | None = None


def build_frame(seg: Segment, src_mac: str, dst_mac: str, ttl: int = 64) -> bytes:
    """An Ethernet frame carrying ``seg`` with correct IPv4 and TCP checksums."""
    t = seg.tuple
    opts = encode_tcp_options(seg.options)
    doff = (20 + len(opts)) // 4
    src = socket.inet_aton(t.src_ip)
    dst = socket.inet_aton(t.dst_ip)
    tcp_wo = TCPH.pack(
        t.src_port, t.dst_port, seg.seq, seg.ack, doff << 4, int(seg.flags) & 0xFF,
        seg.window, 0, 0,
    ) + opts + seg.payload  # fmt: skip
    pseudo = src + dst + struct.pack("!BBH", 0, TCP, len(tcp_wo))
    csum = internet_checksum(pseudo + tcp_wo)
    tcp = tcp_wo[:16] + struct.pack("!H", csum) + tcp_wo[18:]
    total = 20 + len(tcp)
    ip_wo = IPV4.pack(0x45, 0, total, 0, 0x4000, ttl, TCP, 0, src, dst)
    ip = ip_wo[:10] + struct.pack("!H", internet_checksum(ip_wo)) + ip_wo[12:]
    return ETH.pack(mac_bytes(dst_mac), mac_bytes(src_mac), ETHERTYPE_IPV4) + ip + tcp


def build_udp_frame(
    src_ip: str, dst_ip: str, sport: int, dport: int, payload: bytes, src_mac: str, dst_mac: str
) -> bytes:
    """An Ethernet/IPv4/UDP frame (UDP checksum computed)."""
    src = socket.inet_aton(src_ip)
    dst = socket.inet_aton(dst_ip)
    length = 8 + len(payload)
    udp_wo = UDPH.pack(sport, dport, length, 0) + payload
    csum = internet_checksum(src + dst + struct.pack("!BBH", 0, UDP, length) + udp_wo) or 0xFFFF
    udp = udp_wo[:6] + struct.pack("!H", csum) + udp_wo[8:]
    ip_wo = IPV4.pack(0x45, 0, 20 + length, 0, 0x4000, 64, UDP, 0, src, dst)
    ip = ip_wo[:10] + struct.pack("!H", internet_checksum(ip_wo)) + ip_wo[12:]
    return ETH.pack(mac_bytes(dst_mac), mac_bytes(src_mac), ETHERTYPE_IPV4) + ip + udp


def build_probe_frame() -> bytes:
    """The (otherwise empty) frame a probe packet-out carries."""
    return ETH.pack(b"\xff" * 6, b"\x02" + b"\x00" * 5, ETHERTYPE_PROBE) + b"\x00" * 46


def parse_frame(data: bytes) -> ParsedFrame | None:
    """Parse an Ethernet frame; ``None`` if it is not IPv4 TCP/UDP or is malformed."""
    if len(data) < ETH.size + 20:
        return None
    _d, _s, etype = ETH.unpack_from(data)
    if etype != ETHERTYPE_IPV4:
        return None
    off = ETH.size
    vihl, _tos, total, _id, _frag, _ttl, proto, _c, src, dst = IPV4.unpack_from(data, off)
    if vihl >> 4 != 4:
        return None
    ihl = (vihl & 0xF) * 4
    if ihl < 20 or len(data) < off + total or total < ihl:
        return None
    l4 = data[off + ihl : off + total]
    sip, dip = socket.inet_ntoa(src), socket.inet_ntoa(dst)
    if proto == UDP:
        if len(l4) < 8:
            return None
        sport, dport, ulen, _ = UDPH.unpack_from(l4)
        return ParsedFrame(udp=(sip, dip, dport, bytes(l4[8:ulen])))
    if proto != TCP or len(l4) < 20:
        return None
    sport, dport, seq, ack, doff_b, flags, window, _csum, _urg = TCPH.unpack_from(l4)
    doff = (doff_b >> 4) * 4
    if doff < 20 or doff > len(l4):
        return None
    try:
        options = decode_tcp_options(bytes(l4[20:doff]))
    except ValueError:
        return None
    seg = Segment(
        FiveTuple(sip, sport, dip, dport, TCP),
        seq,
        ack,
        TcpFlags(flags),
        window,
        options,
        bytes(l4[doff:]),
    )
    return ParsedFrame(segment=seg)
