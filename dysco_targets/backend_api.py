"""The interface between the P4Runtime server and a data plane (:class:`Backend`), and the
per-update outcome type both sides share (google.rpc codes, :class:`UpdateStatus`)."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from controller.p4rt.gen.p4.v1 import p4runtime_pb2 as p4r
from controller.p4rt.p4info import P4InfoIndex

__all__ = [
    "ALREADY_EXISTS",
    "CANCELLED",
    "FAILED_PRECONDITION",
    "INTERNAL",
    "INVALID_ARGUMENT",
    "NOT_FOUND",
    "OK",
    "OK_STATUS",
    "PERMISSION_DENIED",
    "RESOURCE_EXHAUSTED",
    "UNIMPLEMENTED",
    "UNKNOWN",
    "Backend",
    "BackendError",
    "PacketInCallback",
    "UpdateStatus",
]

# google.rpc.Code values
OK, CANCELLED, UNKNOWN, INVALID_ARGUMENT = 0, 1, 2, 3
NOT_FOUND, ALREADY_EXISTS, PERMISSION_DENIED = 5, 6, 7
RESOURCE_EXHAUSTED, FAILED_PRECONDITION, UNIMPLEMENTED, INTERNAL = 8, 9, 12, 13


@dataclass(slots=True)
class UpdateStatus:
    """Outcome of one update: a google.rpc code and a message."""

    code: int = OK
    message: str = ""


OK_STATUS = UpdateStatus()


class BackendError(Exception):
    """A backend refused an operation: ``code`` is the google.rpc code to report."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code = code


PacketInCallback = Callable[[bytes, dict[str, int]], None]


class Backend(ABC):
    """What a data plane behind the server must do. Entities are P4Runtime protobufs,
    resolved by name through the P4Info that :meth:`set_pipeline` received."""

    packet_in_cb: PacketInCallback | None = None
    #: True when the backend's ``write_checked(raw) -> list[int] | None`` decodes, checks (the
    #: rules and codes of :mod:`controller.p4rt.validate`) and applies a serialized
    #: WriteRequest itself, and ``explain(update, code)`` gives a refused update's status: the
    #: server then parses only the request's header and checks only updates that failed
    #: (``None`` from ``write_checked``: nothing applied, the server's own path)
    validates_entries: bool = False

    def set_packet_in_callback(self, cb: PacketInCallback | None) -> None:
        """``cb(payload, metadata_by_name)`` is called for every packet-in (any thread)."""
        self.packet_in_cb = cb

    @abstractmethod
    def set_pipeline(self, p4info: P4InfoIndex, device_config: bytes) -> None:
        """Adopt the pipeline (after validation); clears every table (a new pipeline)."""

    @abstractmethod
    def write(self, updates: Sequence[p4r.Update]) -> list[UpdateStatus]:
        """Apply the updates in order; one status per update."""

    @abstractmethod
    def read_table(
        self, table_id: int, match_filter: p4r.TableEntry | None
    ) -> Iterator[p4r.TableEntry]:
        """Entries of ``table_id`` (0: every table the backend holds)."""

    @abstractmethod
    def packet_out(self, payload: bytes, metadata: dict[str, int]) -> None:
        """Inject a packet-out with named metadata."""

    def read_register(self, register_id: int, index: int | None) -> Iterator[p4r.RegisterEntry]:
        raise BackendError(UNIMPLEMENTED, "register reads are not supported by this backend")

    def close(self) -> None:  # noqa: B027 - optional hook
        pass
