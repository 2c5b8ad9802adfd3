"""Internet checksum helpers (RFC 1071, RFC 1624) used by targets and tests.

Full computations work on ``bytes``; incremental updates follow RFC 1624 equation 3,
``HC' = ~(~HC + ~m + m')`` in one's complement arithmetic, which is what a data plane does
when it rewrites addresses, ports, sequence numbers and options in place.

Conventions:

- A *checksum* is the 16-bit value stored in a header (the complement of the one's complement
  sum). A *sum* is the folded 16-bit one's complement sum.
- :func:`tcp_checksum` and :func:`ipv4_header_checksum` include the header's checksum field
  **as it is** in the bytes given. To *compute* a checksum, pass the header with that field
  zeroed; to *verify* one, pass the header as received: the result is ``0`` when it is correct.
- Incremental updates are exact (they equal a full recompute) whenever the covered data is not
  all zeros, which always holds for TCP (the pseudo-header carries protocol 6) and for an IPv4
  header (version 4). The all-zero case is the one's complement "+0/-0" ambiguity that RFC 1624
  section 3 discusses: a full computation yields ``0xFFFF`` there, equation 3 yields ``0x0000``.

The earlier Dysco prototypes had an incremental-checksum carry bug. The classic form of it is
folding the end-around carry only once after adding the three 16-bit terms: ``~HC + ~m + m'``
can carry twice (``0xFFFF + 0xFFFF + 0x0001 = 0x1FFFF`` folds to ``0x10000``, which still
carries), so every sum here is folded until it fits in 16 bits.
"""

from __future__ import annotations

import ipaddress
import struct

TCP_PROTO = 6
TCP_CHECKSUM_OFFSET = 16
"""Byte offset of the checksum field in a TCP header."""
IPV4_CHECKSUM_OFFSET = 10
"""Byte offset of the header checksum field in an IPv4 header."""


def _fold(s: int) -> int:
    """Fold a non-negative integer into 16 bits with end-around carry."""
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return s


def ones_complement_sum(data: bytes) -> int:
    """The 16-bit one's complement sum of ``data`` as big-endian words.

    An odd-length input is padded with one zero byte. The result is folded to 16 bits; it is
    ``0`` only for all-zero (or empty) input, otherwise in ``[1, 0xFFFF]``.
    """
    if len(data) % 2:
        data = bytes(data) + b"\x00"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    return _fold(total)


def internet_checksum(data: bytes) -> int:
    """The Internet checksum of ``data``: the complement of :func:`ones_complement_sum`."""
    return ~ones_complement_sum(data) & 0xFFFF


def ipv4_to_int(addr: str) -> int:
    """A dotted-quad IPv4 address as a 32-bit integer (convenience for checksum updates)."""
    return int(ipaddress.IPv4Address(addr))


def tcp_pseudo_header(src_ip: str, dst_ip: str, tcp_length: int) -> bytes:
    """The IPv4 pseudo-header that the TCP checksum covers (RFC 9293 section 3.1)."""
    return (
        ipaddress.IPv4Address(src_ip).packed
        + ipaddress.IPv4Address(dst_ip).packed
        + struct.pack("!BBH", 0, TCP_PROTO, tcp_length)
    )


def tcp_checksum(src_ip: str, dst_ip: str, tcp_segment: bytes) -> int:
    """The TCP checksum of ``tcp_segment`` (header and payload) sent from ``src_ip`` to ``dst_ip``.

    The segment's checksum field (bytes 16-17) is included as is: zero it to compute the value
    to store; leave it in place to verify (a correct segment gives ``0``).
    """
    pseudo = tcp_pseudo_header(src_ip, dst_ip, len(tcp_segment))
    return internet_checksum(pseudo + bytes(tcp_segment))


def ipv4_header_checksum(header: bytes) -> int:
    """The IPv4 header checksum of ``header`` (exactly the IHL*4 header bytes).

    The checksum field (bytes 10-11) is included as is: zero it to compute, leave it to verify
    (a correct header gives ``0``).
    """
    return internet_checksum(header)


def incremental_update16(old_csum: int, old: int, new: int) -> int:
    """The checksum after a 16-bit word covered by it changed from ``old`` to ``new``.

    RFC 1624 equation 3: ``HC' = ~(~HC + ~m + m')``, with the end-around carry folded until
    the sum fits in 16 bits (the three-term sum can carry twice). Because the sum is formed
    from ``~m`` rather than by subtracting ``m``, the result is never the ``-0`` artefact of
    RFC 1141's equation: it equals a full recompute for non-zero data (see the module notes).
    """
    s = (~old_csum & 0xFFFF) + (~old & 0xFFFF) + (new & 0xFFFF)
    return ~_fold(s) & 0xFFFF


def incremental_update32(old_csum: int, old: int, new: int) -> int:
    """The checksum after a 32-bit field (two aligned 16-bit words) changed from ``old`` to ``new``.

    Used for sequence and acknowledgment numbers, timestamps and IPv4 addresses (including
    the TCP pseudo-header's). Unaligned fields must be updated through the words they overlap.
    """
    csum = incremental_update16(old_csum, (old >> 16) & 0xFFFF, (new >> 16) & 0xFFFF)
    return incremental_update16(csum, old & 0xFFFF, new & 0xFFFF)


def incremental_update_bytes(old_csum: int, old: bytes, new: bytes) -> int:
    """The checksum after a 16-bit aligned run of bytes changed from ``old`` to ``new``.

    ``old`` and ``new`` must have the same even length (for example a rewritten TCP option
    block, padded to its word boundary).
    """
    if len(old) != len(new) or len(old) % 2:
        raise ValueError("old and new must have the same even length")
    s = ~old_csum & 0xFFFF
    for (o,), (n,) in zip(
        struct.iter_unpack("!H", old), struct.iter_unpack("!H", new), strict=True
    ):
        s = _fold(s + (~o & 0xFFFF) + n)
    return ~s & 0xFFFF
