"""Type stub of the C extension ``controller._fastenc`` (``controller/_fastenc.c``)."""

from collections.abc import Mapping, Sequence
from typing import Any

from dysco_proto.entries import EntryKey, MappingEntry

_Block = tuple[bytes, Sequence[tuple[str, Sequence[bytes]]]]

class Encoder:
    """Session-entry ``Update`` encoder built from ``_FastEncoder``'s precomputed tables."""

    def __init__(
        self,
        tables: tuple[_Block, _Block],
        actions: tuple[_Block, _Block, _Block],
        agent: bytes,
        ttl: bytes,
        roles: Mapping[Any, bytes],
        dir_in: object,
        dir_out: object,
        tcp: int,
        slot_space: int,
        max_win_shift: int,
        delete_kind: int,
    ) -> None: ...
    def update(self, kind: int, e: MappingEntry, agent_id: int | None = None) -> bytes | None:
        """The serialised INSERT/MODIFY ``Update`` of ``e``, or ``None``."""
    def delete(self, key: EntryKey, agent_id: int | None = None) -> bytes | None:
        """The serialised DELETE ``Update`` of ``key``, or ``None``."""
