"""Target-independent packet model: five-tuples, TCP options and TCP segments.

Addresses are dotted-quad strings; sequence numbers are unsigned 32-bit integers.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field, replace

TCP = 6
UDP = 17


class TcpFlags(enum.IntFlag):
    """TCP header flag bits."""

    NONE = 0
    FIN = 0x01
    SYN = 0x02
    RST = 0x04
    PSH = 0x08
    ACK = 0x10
    URG = 0x20
    ECE = 0x40
    CWR = 0x80


@dataclass(frozen=True, slots=True, order=True)
class FiveTuple:
    """A transport five-tuple, oriented from source to destination."""

    src_ip: str
    src_port: int
    dst_ip: str
    dst_port: int
    proto: int = TCP

    def reversed(self) -> FiveTuple:
        """The same flow seen in the opposite direction."""
        return FiveTuple(self.dst_ip, self.dst_port, self.src_ip, self.src_port, self.proto)

    def __str__(self) -> str:
        return f"{self.src_ip}:{self.src_port}->{self.dst_ip}:{self.dst_port}/{self.proto}"


@dataclass(frozen=True, slots=True)
class TcpOptions:
    """The TCP options Dysco understands. ``dysco_tag`` is our NAT-matching tag option."""

    mss: int | None = None
    wscale: int | None = None
    sack_permitted: bool = False
    timestamp: tuple[int, int] | None = None  # (TSval, TSecr)
    sack_blocks: tuple[tuple[int, int], ...] = ()
    dysco_tag: int | None = None


NO_OPTIONS = TcpOptions()


@dataclass(frozen=True, slots=True)
class Segment:
    """One TCP segment as a data plane hands it to the agent or the agent emits it."""

    tuple: FiveTuple
    seq: int
    ack: int
    flags: TcpFlags
    window: int = 65535
    options: TcpOptions = field(default=NO_OPTIONS)
    payload: bytes = b""

    @property
    def is_syn(self) -> bool:
        """A SYN without ACK (a connection request)."""
        return bool(self.flags & TcpFlags.SYN) and not self.flags & TcpFlags.ACK

    @property
    def is_synack(self) -> bool:
        return bool(self.flags & TcpFlags.SYN) and bool(self.flags & TcpFlags.ACK)

    @property
    def seq_len(self) -> int:
        """Sequence space consumed: payload bytes plus one for SYN and one for FIN."""
        n = len(self.payload)
        if self.flags & TcpFlags.SYN:
            n += 1
        if self.flags & TcpFlags.FIN:
            n += 1
        return n

    def with_tuple(self, t: FiveTuple) -> Segment:
        return replace(self, tuple=t)
