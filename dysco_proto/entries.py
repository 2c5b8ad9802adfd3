"""Abstract mapping entries: what an agent asks a data plane to install.

Every target (the P4 program, the DPDK agent, the simulator's data path, the reference
pipeline model) implements these semantics; ``docs/pipeline.md`` maps them onto P4Info names.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from typing import Final

from dysco_proto.packet import FiveTuple

SLOT_BITS: Final = 24
"""Width of a side's register slot number (:attr:`MappingEntry.slot`)."""
NUM_SLOTS: Final = 1 << SLOT_BITS
"""Number of slot values: a valid slot is in ``[0, NUM_SLOTS)``. A device has registers for
fewer (its capacity, ``AgentConfig.slot_limit``)."""


class Direction(enum.StrEnum):
    """Where a packet comes from when it is looked up."""

    OUT = "out"  # emitted by a local host (endpoint or middlebox); keyed by session tuple
    IN = "in"  # arriving from the network; keyed by subsession tuple


class Role(enum.StrEnum):
    """What an entry is for, as far as the data plane cares."""

    ONE = "one"  # the only path
    OLD = "old"  # IN entry of the old path at an anchor during two-path mode
    NEW = "new"  # IN entry of the new path at an anchor (absorbs handshake SYN-ACKs)


@dataclass(frozen=True, slots=True)
class Deltas:
    """Per-direction header translation. All additions are modulo 2**32.

    ``seq`` is added to the sequence number; ``ack`` to the acknowledgment number and to both
    edges of every SACK block; ``tsval``/``tsecr`` to the timestamp option; ``win_shift``
    rescales the advertised window (left shift if positive, right shift if negative, clamped
    to 16 bits).
    """

    seq: int = 0
    ack: int = 0
    tsval: int = 0
    tsecr: int = 0
    win_shift: int = 0

    @property
    def is_zero(self) -> bool:
        return not (self.seq or self.ack or self.tsval or self.tsecr or self.win_shift)


ZERO = Deltas()


@dataclass(frozen=True, slots=True, order=True)
class EntryKey:
    """Table key of a mapping entry."""

    direction: Direction
    match: FiveTuple

    def __str__(self) -> str:
        return f"{self.direction.value}:{self.match}"


@dataclass(frozen=True, slots=True)
class MappingEntry:
    """One rewrite entry.

    ``slot`` names the register slot of the side the entry belongs to (the data plane keeps
    ``sent_hi``, ``ack_hi``, ``rcvd_ack_hi``, ``new_rcvd_lo`` and ``cut`` there).

    An OUT entry with ``new_rewrite`` set is in two-path mode: data at or above the frozen
    cutoff and acks above ``new_rcvd_lo`` leave through ``new_rewrite``/``new_deltas``; the rest
    through ``rewrite``/``deltas``. ``peer_cut`` arms the completion latch on ``ack_hi``.
    ``epoch`` numbers the side's reconfigurations: when a packet or probe carries an epoch that
    differs from the one stored in the slot, the data plane first clears the slot's two-path
    registers (``cut``, ``new_rcvd_lo``, ``old_ack_hi``, latches). This lets a control plane
    reset registers it cannot write (bmv2's P4Runtime server has no register writes).
    """

    key: EntryKey
    rewrite: FiveTuple
    deltas: Deltas
    slot: int
    role: Role = Role.ONE
    new_rewrite: FiveTuple | None = None
    new_deltas: Deltas | None = None
    peer_cut: int | None = None
    epoch: int = 0

    @property
    def two_path(self) -> bool:
        return self.new_rewrite is not None
