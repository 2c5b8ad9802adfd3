"""Tests for dysco_pipeline.checksum: full and incremental Internet checksums."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dysco_pipeline.checksum import (
    incremental_update16,
    incremental_update32,
    incremental_update_bytes,
    internet_checksum,
    ipv4_header_checksum,
    ipv4_to_int,
    ones_complement_sum,
    tcp_checksum,
    tcp_pseudo_header,
)

# RFC 1071 section 3 example words: 0001 f203 f4f5 f6f7 -> sum ddf2
RFC1071 = bytes.fromhex("0001f203f4f5f6f7")
# A classic IPv4 header (checksum field zeroed); its checksum is 0xb861.
IPV4_HDR = bytes.fromhex("450000730000400040110000c0a80001c0a800c7")


def put16(data: bytes, off: int, value: int) -> bytes:
    return data[:off] + struct.pack("!H", value) + data[off + 2 :]


def put32(data: bytes, off: int, value: int) -> bytes:
    return data[:off] + struct.pack("!I", value) + data[off + 4 :]


def with_csum(seg: bytes, src: str, dst: str) -> tuple[bytes, int]:
    """The segment with a correct checksum in place, and that checksum."""
    zeroed = put16(seg, 16, 0)
    c = tcp_checksum(src, dst, zeroed)
    return put16(zeroed, 16, c), c


def test_rfc1071_example() -> None:
    assert ones_complement_sum(RFC1071) == 0xDDF2
    assert internet_checksum(RFC1071) == 0x220D


def test_sum_edge_cases() -> None:
    assert ones_complement_sum(b"") == 0
    assert ones_complement_sum(b"\x00\x00") == 0
    assert internet_checksum(b"\x00\x00") == 0xFFFF
    assert ones_complement_sum(b"\xff\xff") == 0xFFFF
    assert ones_complement_sum(b"\xff\xff\x00\x01") == 0x0001  # end-around carry
    assert ones_complement_sum(b"\xff\xff" * 3 + b"\x00\x02") == 0x0002
    # odd length is padded with a zero byte
    assert ones_complement_sum(b"\x12") == 0x1200
    assert ones_complement_sum(b"\x00\x01\x12") == 0x1201


def test_ipv4_header_checksum() -> None:
    assert ipv4_header_checksum(IPV4_HDR) == 0xB861
    good = put16(IPV4_HDR, 10, 0xB861)
    assert ipv4_header_checksum(good) == 0  # verification mode


def test_pseudo_header_layout() -> None:
    ph = tcp_pseudo_header("1.2.3.4", "5.6.7.8", 0x1234)
    assert ph == bytes([1, 2, 3, 4, 5, 6, 7, 8, 0, 6, 0x12, 0x34])
    assert ipv4_to_int("1.2.3.4") == 0x01020304


def test_tcp_checksum_against_scapy() -> None:
    scapy_all = pytest.importorskip("scapy.all")
    pkt = (
        scapy_all.IP(src="198.18.1.1", dst="198.18.2.10")
        / scapy_all.TCP(
            sport=40000,
            dport=80,
            seq=0xFFFFFFF0,
            ack=7,
            flags="PA",
            options=[("Timestamp", (1, 2)), ("NOP", None), ("NOP", None)],
        )
        / (b"x" * 33)
    )
    raw = bytes(pkt)
    expected = scapy_all.IP(raw)[scapy_all.TCP].chksum
    tcp_bytes = raw[20:]
    assert tcp_checksum("198.18.1.1", "198.18.2.10", put16(tcp_bytes, 16, 0)) == expected
    assert tcp_checksum("198.18.1.1", "198.18.2.10", tcp_bytes) == 0


def test_tcp_checksum_verify_mode() -> None:
    seg = bytes(range(41))  # odd length
    good, c = with_csum(seg, "10.0.0.1", "10.0.0.2")
    assert tcp_checksum("10.0.0.1", "10.0.0.2", good) == 0
    assert tcp_checksum("10.0.0.1", "10.0.0.3", good) != 0
    assert c == tcp_checksum("10.0.0.1", "10.0.0.2", put16(seg, 16, 0))


def test_rfc1624_example() -> None:
    # RFC 1624 section 4: HC = 0xDD2F, m = 0x5555 -> m' = 0x3285 gives HC' = 0x0000
    # (RFC 1141's equation would give the -0 artefact 0xFFFF).
    assert incremental_update16(0xDD2F, 0x5555, 0x3285) == 0x0000


def test_incremental_double_carry() -> None:
    # ~HC + ~m + m' = 0xFFFF + 0xFFFF + 0x0001 = 0x1FFFF: folding once leaves 0x10000,
    # which still carries. The correct sum is 0x0001, so HC' = 0xFFFE.
    assert incremental_update16(0x0000, 0x0000, 0x0001) == 0xFFFE
    # 0xFFFF + 0xFFFF + 0xFFFF = 0x2FFFD folds to 0xFFFF: adding 0xFFFF (= -0) changes nothing
    assert incremental_update16(0x0000, 0x0000, 0xFFFF) == 0x0000


def test_incremental_identity() -> None:
    for hc in (0x0000, 0x1234, 0xFFFE):
        for m in (0x0000, 0x8000, 0xFFFF):
            # replacing a word by itself never changes a checksum that is not the -0 value
            assert incremental_update16(hc, m, m) == hc
            assert incremental_update32(hc, m << 16 | m, m << 16 | m) == hc


def _segment_with_checksum(target: int, src: str, dst: str, base: bytes) -> bytes:
    """``base`` (>= 20 bytes, even length) with its urgent pointer adjusted so that the
    correct checksum is ``target``; the checksum field holds that value."""
    seg = put16(put16(base, 16, 0), 18, 0)
    s = ones_complement_sum(tcp_pseudo_header(src, dst, len(seg)) + seg)
    want = ~target & 0xFFFF  # the sum we need
    # choose an urgent pointer u with s +' u == want (one's complement)
    u = (want - s) % 0xFFFF
    if u == 0 and want != s:
        u = 0xFFFF
    seg = put16(seg, 18, u)
    assert tcp_checksum(src, dst, seg) == target
    return put16(seg, 16, target)


@pytest.mark.parametrize(
    ("csum", "off", "old", "new"),
    [
        (0x0000, 0, 0x0000, 0x0001),  # double carry
        (0x0000, 0, 0x0000, 0xFFFF),
        (0x0000, 0, 0xFFFF, 0x0000),
        (0x0001, 2, 0xFFFF, 0x0000),
        (0xFFFE, 2, 0x0000, 0xFFFF),
        (0x0000, 14, 0x0001, 0x0000),
        (0x8000, 14, 0x7FFF, 0x8000),
    ],
)
def test_carry_heavy_against_full_recompute(csum: int, off: int, old: int, new: int) -> None:
    src, dst = "198.18.1.1", "198.18.2.2"
    base = put16(bytes(range(64)), off, old)
    seg = _segment_with_checksum(csum, src, dst, base)
    assert struct.unpack_from("!H", seg, off)[0] == old
    changed = put16(seg, off, new)
    full = tcp_checksum(src, dst, put16(changed, 16, 0))
    assert incremental_update16(csum, old, new) == full
    assert tcp_checksum(src, dst, put16(changed, 16, full)) == 0


def test_incremental_32_seq_wrap() -> None:
    src, dst = "10.1.1.1", "10.2.2.2"
    seg0 = put32(bytes(range(20, 60)), 4, 0xFFFFFFFF)
    seg, c = with_csum(seg0, src, dst)
    changed = put32(seg, 4, 0x00000000)
    full = tcp_checksum(src, dst, put16(changed, 16, 0))
    assert incremental_update32(c, 0xFFFFFFFF, 0) == full


def test_incremental_address_in_pseudo_header() -> None:
    seg, c = with_csum(bytes(range(100, 160)), "255.255.255.255", "0.0.0.1")
    full = tcp_checksum("0.0.0.0", "0.0.0.1", put16(seg, 16, 0))
    assert incremental_update32(c, ipv4_to_int("255.255.255.255"), 0) == full


def test_incremental_bytes() -> None:
    src, dst = "10.0.0.1", "10.0.0.2"
    seg, c = with_csum(bytes(range(60)), src, dst)
    new_opts = b"\xff\xff\x00\x00\x01\x01\x08\x0a"
    changed = seg[:20] + new_opts + seg[28:]
    full = tcp_checksum(src, dst, put16(changed, 16, 0))
    assert incremental_update_bytes(c, seg[20:28], new_opts) == full
    with pytest.raises(ValueError):
        incremental_update_bytes(c, b"\x00", b"\x01")
    with pytest.raises(ValueError):
        incremental_update_bytes(c, b"\x00\x00", b"\x01\x00\x00\x00")


ipv4 = st.tuples(*[st.integers(0, 255)] * 4).map(lambda t: ".".join(map(str, t)))
ipv4_edges = st.sampled_from(["0.0.0.0", "255.255.255.255", "255.255.0.0", "0.0.255.255"])


@settings(max_examples=300)
@given(
    st.binary(min_size=20, max_size=20).map(lambda b: bytes([0x45]) + b[1:]),
    st.sampled_from([2, 8, 10, 12, 16]),  # id, ttl/proto, (checksum skipped), src, dst words
    st.integers(0, 0xFFFF),
)
def test_ipv4_incremental_property(hdr: bytes, off: int, new: int) -> None:
    if off == 10:
        off = 8
    hdr = put16(hdr, 10, 0)
    c = ipv4_header_checksum(hdr)
    old = struct.unpack_from("!H", hdr, off)[0]
    changed = put16(hdr, off, new)
    assert incremental_update16(c, old, new) == ipv4_header_checksum(changed)


@settings(max_examples=300)
@given(
    st.binary(min_size=20, max_size=80),
    ipv4 | ipv4_edges,
    ipv4 | ipv4_edges,
    ipv4 | ipv4_edges,
    st.integers(0, 0xFFFFFFFF) | st.sampled_from([0, 0xFFFFFFFF, 0xFFFF0000, 0x0000FFFF]),
    st.sampled_from(["sport", "dport", "seq", "ack", "window", "src", "dst"]),
)
def test_tcp_incremental_property(
    seg: bytes, src: str, dst: str, new_ip: str, new: int, field: str
) -> None:
    seg, c = with_csum(seg, src, dst)
    offs16 = {"sport": 0, "dport": 2, "window": 14}
    offs32 = {"seq": 4, "ack": 8}
    if field in offs16:
        off = offs16[field]
        old = struct.unpack_from("!H", seg, off)[0]
        new &= 0xFFFF
        changed = put16(seg, off, new)
        got = incremental_update16(c, old, new)
        src2, dst2 = src, dst
    elif field in offs32:
        off = offs32[field]
        old = struct.unpack_from("!I", seg, off)[0]
        changed = put32(seg, off, new)
        got = incremental_update32(c, old, new)
        src2, dst2 = src, dst
    else:
        changed = seg
        if field == "src":
            got = incremental_update32(c, ipv4_to_int(src), ipv4_to_int(new_ip))
            src2, dst2 = new_ip, dst
        else:
            got = incremental_update32(c, ipv4_to_int(dst), ipv4_to_int(new_ip))
            src2, dst2 = src, new_ip
    assert got == tcp_checksum(src2, dst2, put16(changed, 16, 0))
    assert tcp_checksum(src2, dst2, put16(changed, 16, got)) == 0
