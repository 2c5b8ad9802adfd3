"""Wire formats: Dysco control messages and the TCP options Dysco reads and writes.

Everything here is pure (no sockets, no clocks). ``docs/wire-format.md`` documents every byte.

Control messages (UDP to :data:`CONTROL_PORT`, and the payload of setup SYNs as a ``CHAIN``
message) share one big-endian, versioned layout::

    fixed header (60 bytes) | optional blocks (presence bits) | hop list | HMAC tag (16 bytes)

:class:`ControlCodec` encodes and decodes them. Decoding checks, in order: size, magic, version,
type, length field, reserved bits, enum values and ranges, block and hop-list lengths, the
HMAC-SHA256 tag (constant-time compare) and finally the per-sender replay window. Every
rejection is a :class:`WireError` subclass; no other exception escapes a decoder.

TCP options: :func:`encode_tcp_options` / :func:`decode_tcp_options` translate between bytes
and :class:`~dysco_proto.packet.TcpOptions`, including the Dysco tag option (RFC 6994
experimental option, kind 253, ExID ``0x4459``).
"""

from __future__ import annotations

import enum
import functools
import hashlib
import hmac
import ipaddress
import socket
import struct
from collections import OrderedDict
from collections.abc import Container, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from dysco_proto.packet import TCP, UDP, FiveTuple
from dysco_proto.tcp_options import (
    MAX_TCP_OPTION_SPACE,
    MAX_WSCALE,
    TAG_EXID,
    TAG_OPTION_KIND,
    TAG_OPTION_LEN,
    can_add_tag,
    decode_tcp_options,
    encode_tcp_options,
    options_length,
)
from dysco_proto.wire_errors import (
    AuthError,
    BadMagicError,
    MalformedError,
    OptionSpaceError,
    OversizedError,
    ReplayError,
    TruncatedError,
    UnsupportedVersionError,
    WireError,
)
from dysco_proto.wire_errors import uint_field as _uint

__all__ = [
    "CONTROL_PORT",
    "HANDSHAKE_BLOCK_LEN",
    "HEADER_LEN",
    "HMAC_TAG_LEN",
    "MAGIC",
    "MAX_DATAGRAM_LEN",
    "MAX_HOPS",
    "MAX_MESSAGE_LEN",
    "MAX_TCP_OPTION_SPACE",
    "MIN_MESSAGE_LEN",
    "TAG_EXID",
    "TAG_OPTION_KIND",
    "TAG_OPTION_LEN",
    "TUPLE_BLOCK_LEN",
    "VERSION",
    "AuthError",
    "BadMagicError",
    "ControlCodec",
    "ControlMessage",
    "Handshake",
    "MalformedError",
    "MsgIdSequence",
    "MsgType",
    "NackReason",
    "OptionSpaceError",
    "OversizedError",
    "Presence",
    "ReplayError",
    "ReplayWindow",
    "RequestId",
    "Transform",
    "TruncatedError",
    "UnsupportedVersionError",
    "WireError",
    "can_add_tag",
    "decode_tcp_options",
    "encode_tcp_options",
    "options_length",
]

# --- constants -----------------------------------------------------------------------------

CONTROL_PORT = 35000
MAGIC = 0xD15C  # u16
VERSION = 1  # u8
MAX_HOPS = 16
HMAC_TAG_LEN = 16  # truncated HMAC-SHA256

HEADER_LEN = 60
TUPLE_BLOCK_LEN = 16
HANDSHAKE_BLOCK_LEN = 24
CUTOFF_BLOCK_LEN = 4
HOP_LEN = 4
MIN_MESSAGE_LEN = HEADER_LEN + HMAC_TAG_LEN  # 76
MAX_MESSAGE_LEN = (
    HEADER_LEN
    + 3 * TUPLE_BLOCK_LEN
    + HANDSHAKE_BLOCK_LEN
    + CUTOFF_BLOCK_LEN
    + MAX_HOPS * HOP_LEN
    + HMAC_TAG_LEN
)  # 216
MAX_DATAGRAM_LEN = 512  # anything larger is rejected as OversizedError before parsing
MIN_KEY_LEN = 16
NO_WSCALE = 0xFF  # encoding of "no window scale option" in the handshake block

_U16 = 0xFFFF
_U32 = 0xFFFF_FFFF
_U64 = 0xFFFF_FFFF_FFFF_FFFF
_MOD32 = 1 << 32

# fixed header: magic, version, type, length, flags, msg_id, sender, request anchor,
# request number, left anchor, right anchor, delta_lr (seq, ts), delta_rl (seq, ts), tag,
# reason, hop count, reserved
_HEADER = struct.Struct("!HBBHHQ4s4sI4s4sIIIIIBBH")
# five-tuple block: src ip, dst ip, src port, dst port, proto, reserved(3)
_TUPLE = struct.Struct("!4s4sHHB3s")
# handshake block: seq, ack, tsval, tsecr, mss, wscale host, wscale peer, flags, reserved(3)
_HANDSHAKE = struct.Struct("!IIIIHBBB3s")
_U32S = struct.Struct("!I")
_ZERO3 = b"\x00\x00\x00"
_TUPLE_PROTOS = frozenset({TCP, UDP})

assert _HEADER.size == HEADER_LEN
assert _TUPLE.size == TUPLE_BLOCK_LEN
assert _HANDSHAKE.size == HANDSHAKE_BLOCK_LEN


class MsgType(enum.IntEnum):
    """Control message types (header byte 3)."""

    CHAIN = 1  # payload of a setup SYN: session tuple as seen on this hop + remaining hops
    REQUEST_LOCK = 2
    ACK_LOCK = 3
    NACK_LOCK = 4
    CANCEL_LOCK = 5
    ACK_CANCEL = 6
    RIGHT_REQUEST = 7
    SYN = 8
    SYN_ACK = 9
    ACK = 10
    ACK_ACK = 11


class NackReason(enum.IntEnum):
    """Why a request was refused (header byte 56); ``NONE`` on every other message."""

    NONE = 0
    LOCKED = 1
    NOT_FOUND = 2
    BUSY = 3
    NOT_ANCHOR = 4
    POLICY = 5


class Presence(enum.IntFlag):
    """Presence bits of the optional blocks (header bytes 6-7). Other bits are reserved (0)."""

    SUBSESSION = 0x0001
    LEFT_SESSION = 0x0002
    RIGHT_SESSION = 0x0004
    HANDSHAKE = 0x0008
    CUTOFF = 0x0010


_KNOWN_PRESENCE = int(
    Presence.SUBSESSION
    | Presence.LEFT_SESSION
    | Presence.RIGHT_SESSION
    | Presence.HANDSHAKE
    | Presence.CUTOFF
)
_HS_SACK_OK = 0x01
_HS_TS_OK = 0x02
_HS_SYNACK_UNKNOWN = 0x04  # set: the SYN-ACK half (wscale_peer, sack_ok, ts_ok) is not known
_HS_KNOWN = _HS_SACK_OK | _HS_TS_OK | _HS_SYNACK_UNKNOWN

_MSG_TYPES: dict[int, MsgType] = {t.value: t for t in MsgType}
_REASONS: dict[int, NackReason] = {r.value: r for r in NackReason}


# --- errors (dysco_proto/wire_errors.py) and TCP options (dysco_proto/tcp_options.py) ---

# --- message model -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class RequestId:
    """Identity of one reconfiguration request: left anchor address and a 32-bit number."""

    anchor: str  # IPv4 of the left anchor
    number: int  # u32


@dataclass(frozen=True, slots=True)
class Transform:
    """Accumulated per-direction offsets, modulo 2**32 (stored as u32).

    ``seq`` applies to sequence/ack numbers (and SACK edges), ``ts`` to timestamps.
    ``+``/``-`` compose transforms modulo 2**32; :meth:`wrap` reduces arbitrary integers.
    """

    seq: int = 0
    ts: int = 0

    @classmethod
    def wrap(cls, seq: int, ts: int = 0) -> Transform:
        """A transform from arbitrary (possibly negative) integers, reduced modulo 2**32."""
        return cls(seq % _MOD32, ts % _MOD32)

    def __add__(self, other: Transform) -> Transform:
        return Transform((self.seq + other.seq) % _MOD32, (self.ts + other.ts) % _MOD32)

    def __sub__(self, other: Transform) -> Transform:
        return Transform((self.seq - other.seq) % _MOD32, (self.ts - other.ts) % _MOD32)

    def __neg__(self) -> Transform:
        return Transform(-self.seq % _MOD32, -self.ts % _MOD32)


@dataclass(frozen=True, slots=True)
class Handshake:
    """What an anchor recorded of its session's handshake on that side."""

    seq: int = 0  # u32
    ack: int = 0  # u32
    tsval: int = 0
    tsecr: int = 0
    wscale_host: int | None = None  # window scale the local host announced (0..14) or None
    wscale_peer: int | None = None  # window scale the far side announced, or None
    sack_ok: bool = False
    ts_ok: bool = False
    mss: int = 0
    # whether the record has the session's SYN-ACK (its window scale, SACK-permitted and
    # timestamp options): False when the agent never learnt it (its mirror was lost), so
    # ``wscale_peer=None`` says "unknown", not "not announced" (docs/wire-format.md 3.2)
    synack_known: bool = True


@dataclass(frozen=True, slots=True)
class ControlMessage:
    """One control message. Which fields a type uses: ``docs/wire-format.md`` section 5.

    The codec itself is type-agnostic about the optional fields: any may be present.
    """

    type: MsgType
    request: RequestId
    sender: str  # IPv4 of the sending agent address
    msg_id: int = 0  # u64, unique per transmission per sender (replay window)
    left_anchor: str = "0.0.0.0"
    right_anchor: str = "0.0.0.0"
    subsession: FiveTuple | None = None  # hop-by-hop messages: subsession sender <-> receiver
    left_session: FiveTuple | None = (
        None  # session tuple at the left anchor's host (CHAIN: this hop)
    )
    right_session: FiveTuple | None = None
    delta_lr: Transform = Transform()
    delta_rl: Transform = Transform()
    handshake: Handshake | None = None
    cutoff: int | None = None  # u32 when present
    hops: tuple[str, ...] = ()  # IPv4 addresses, at most MAX_HOPS
    reason: NackReason = NackReason.NONE
    tag: int = 0  # u32 (CHAIN: the hop-by-hop tag)


# --- field validation (encode side) --------------------------------------------------------


@functools.lru_cache(maxsize=4096)
def _pack_ip_cached(addr: str) -> bytes:
    return ipaddress.IPv4Address(addr).packed


def _pack_ip(addr: object, what: str) -> bytes:
    """Strict dotted-quad IPv4 to 4 bytes; MalformedError otherwise."""
    if not isinstance(addr, str) or addr.count(".") != 3:
        raise MalformedError(
            f"{what}: not a dotted-quad IPv4 address: {addr!r}", code="bad_address"
        )
    try:
        return _pack_ip_cached(addr)
    except ValueError:
        raise MalformedError(
            f"{what}: not a dotted-quad IPv4 address: {addr!r}", code="bad_address"
        ) from None


def _is_member(value: object, allowed: Container[int]) -> bool:
    """``value`` is a (non-bool) int in ``allowed``; never raises on odd types."""
    return isinstance(value, int) and not isinstance(value, bool) and value in allowed


def _pack_tuple(t: object, what: str) -> bytes:
    if not isinstance(t, FiveTuple):
        raise MalformedError(f"{what}: not a FiveTuple: {t!r}", code="bad_tuple")
    proto = t.proto
    if not _is_member(proto, _TUPLE_PROTOS):
        raise MalformedError(f"{what}: protocol must be TCP or UDP: {proto!r}", code="bad_tuple")
    return _TUPLE.pack(
        _pack_ip(t.src_ip, what + ".src_ip"),
        _pack_ip(t.dst_ip, what + ".dst_ip"),
        _uint(t.src_port, _U16, what + ".src_port"),
        _uint(t.dst_port, _U16, what + ".dst_port"),
        proto,
        _ZERO3,
    )


def _wscale_byte(value: object, what: str) -> int:
    if value is None:
        return NO_WSCALE
    return _uint(value, MAX_WSCALE, what)


def _pack_handshake(h: object) -> bytes:
    if not isinstance(h, Handshake):
        raise MalformedError(f"handshake: not a Handshake: {h!r}", code="bad_handshake")
    if not all(isinstance(f, bool) for f in (h.sack_ok, h.ts_ok, h.synack_known)):
        raise MalformedError("handshake flags must be bool", code="out_of_range")
    flags = (
        (_HS_SACK_OK if h.sack_ok else 0)
        | (_HS_TS_OK if h.ts_ok else 0)
        | (0 if h.synack_known else _HS_SYNACK_UNKNOWN)
    )
    return _HANDSHAKE.pack(
        _uint(h.seq, _U32, "handshake.seq"),
        _uint(h.ack, _U32, "handshake.ack"),
        _uint(h.tsval, _U32, "handshake.tsval"),
        _uint(h.tsecr, _U32, "handshake.tsecr"),
        _uint(h.mss, _U16, "handshake.mss"),
        _wscale_byte(h.wscale_host, "handshake.wscale_host"),
        _wscale_byte(h.wscale_peer, "handshake.wscale_peer"),
        flags,
        _ZERO3,
    )


def _transform(t: object, what: str) -> tuple[int, int]:
    if not isinstance(t, Transform):
        raise MalformedError(f"{what}: not a Transform: {t!r}", code="out_of_range")
    return _uint(t.seq, _U32, what + ".seq"), _uint(t.ts, _U32, what + ".ts")


# --- replay window -------------------------------------------------------------------------


class ReplayWindow:
    """Per-sender sliding window over message ids (the IPsec anti-replay scheme, RFC 4303).

    For each sender it remembers the highest id accepted and a bitmap of the ``size`` ids at
    and below it. An id above the highest slides the window; an id inside the window is
    accepted once (out-of-order delivery is fine); an id at or below ``highest - size`` is
    rejected as too old. The first id seen from a sender is always accepted. At most
    ``max_senders`` senders are tracked; the least recently heard one is forgotten first.
    """

    __slots__ = ("_mask", "_max_senders", "_senders", "_size")

    def __init__(self, size: int = 1024, max_senders: int = 65536) -> None:
        if not isinstance(size, int) or size < 1:
            raise ValueError("replay window size must be >= 1")
        if not isinstance(max_senders, int) or max_senders < 1:
            raise ValueError("max_senders must be >= 1")
        self._size = size
        self._max_senders = max_senders
        self._mask = (1 << size) - 1
        # sender -> [highest id, bitmap]; bit i set means id (highest - i) was seen
        self._senders: OrderedDict[str, list[int]] = OrderedDict()

    @property
    def size(self) -> int:
        """Window width in message ids."""
        return self._size

    def __len__(self) -> int:
        return len(self._senders)

    def forget(self, sender: str) -> None:
        """Drop the state of one sender (e.g. after it was known to restart)."""
        self._senders.pop(sender, None)

    def latest(self) -> tuple[str, int, int] | None:
        """``(sender, highest id, bitmap)`` of the sender heard most recently (the one the
        last accepted message came from), or ``None``: what a store persists after each
        accepted message so that a restarted receiver still rejects replays."""
        if not self._senders:
            return None
        sender = next(reversed(self._senders))
        top, bits = self._senders[sender]
        return sender, top, bits

    def load(self, sender: str, top: int, bits: int) -> None:
        """Restore one sender's window (from :meth:`latest`, after a restart)."""
        if not 0 <= top <= _U64 or not 0 <= bits <= self._mask:
            raise ValueError("replay window state out of range")
        if sender not in self._senders and len(self._senders) >= self._max_senders:
            self._senders.popitem(last=False)
        self._senders[sender] = [top, bits]
        self._senders.move_to_end(sender)

    def check_and_update(self, sender: str, msg_id: int) -> None:
        """Accept ``msg_id`` from ``sender`` once; raise :class:`ReplayError` otherwise.

        Nothing is recorded when the id is rejected.
        """
        if not isinstance(msg_id, int) or isinstance(msg_id, bool) or not 0 <= msg_id <= _U64:
            raise MalformedError(f"msg_id out of range: {msg_id!r}", code="out_of_range")
        state = self._senders.get(sender)
        if state is None:
            if len(self._senders) >= self._max_senders:
                self._senders.popitem(last=False)
            self._senders[sender] = [msg_id, 1]
            return
        self._senders.move_to_end(sender)
        top, bits = state
        if msg_id > top:
            shift = msg_id - top
            state[0] = msg_id
            state[1] = ((bits << shift) | 1) & self._mask if shift < self._size else 1
            return
        offset = top - msg_id
        if offset >= self._size:
            raise ReplayError(
                f"message id {msg_id} from {sender} is older than the window", code="too_old"
            )
        bit = 1 << offset
        if bits & bit:
            raise ReplayError(f"message id {msg_id} from {sender} replayed", code="replay")
        state[1] = bits | bit


class MsgIdSequence:
    """Allocator of message ids for one sender: strictly increasing u64 values.

    Seed ``start`` from something that grows across restarts (e.g. a boot-time clock in
    nanoseconds): peers' replay windows reject ids at or below ``highest - window``.
    """

    __slots__ = ("_next",)

    def __init__(self, start: int = 1) -> None:
        self._next = _uint(start, _U64, "start")

    def next(self) -> int:
        """The next id; wraps to 0 after 2**64 - 1 (never reached in practice)."""
        value = self._next
        self._next = (value + 1) & _U64
        return value


# --- codec ---------------------------------------------------------------------------------


class ControlCodec:
    """Encoder/decoder of authenticated control messages for one deployment key.

    ``key`` is the per-deployment HMAC-SHA256 key (at least 16 bytes). The decoder keeps a
    :class:`ReplayWindow` of ``replay_window`` ids per sender.
    """

    __slots__ = ("_hmac", "replay")

    def __init__(self, key: bytes, *, replay_window: int = 1024) -> None:
        if not isinstance(key, bytes | bytearray | memoryview):
            raise TypeError("key must be bytes")
        key = bytes(key)
        if len(key) < MIN_KEY_LEN:
            raise ValueError(f"key must be at least {MIN_KEY_LEN} bytes")
        self._hmac = hmac.new(key, digestmod=hashlib.sha256)
        self.replay = ReplayWindow(replay_window)

    def mac(self, data: bytes) -> bytes:
        """The truncated HMAC-SHA256 tag (:data:`HMAC_TAG_LEN` bytes) of ``data``."""
        h = self._hmac.copy()
        h.update(data)
        return h.digest()[:HMAC_TAG_LEN]

    # -- encode --

    def encode(self, msg: ControlMessage) -> bytes:
        """Serialise and sign ``msg``.

        Raises :class:`MalformedError` for out-of-range fields or bad addresses and
        :class:`OversizedError` for more than :data:`MAX_HOPS` hops.
        """
        if not isinstance(msg, ControlMessage):
            raise MalformedError(f"not a ControlMessage: {msg!r}", code="bad_message")
        mtype = msg.type
        if not _is_member(mtype, _MSG_TYPES):
            raise MalformedError(f"unknown message type: {mtype!r}", code="bad_type")
        reason = msg.reason
        if not _is_member(reason, _REASONS):
            raise MalformedError(f"unknown nack reason: {reason!r}", code="bad_reason")
        request = msg.request
        if not isinstance(request, RequestId):
            raise MalformedError(f"request: not a RequestId: {request!r}", code="bad_message")
        hops = msg.hops
        if isinstance(hops, str | bytes) or not isinstance(hops, Sequence):
            raise MalformedError("hops must be a sequence of addresses", code="bad_address")
        if len(hops) > MAX_HOPS:
            raise OversizedError(f"{len(hops)} hops > {MAX_HOPS}", code="too_many_hops")

        flags = 0
        blocks: list[bytes] = []
        if msg.subsession is not None:
            flags |= Presence.SUBSESSION
            blocks.append(_pack_tuple(msg.subsession, "subsession"))
        if msg.left_session is not None:
            flags |= Presence.LEFT_SESSION
            blocks.append(_pack_tuple(msg.left_session, "left_session"))
        if msg.right_session is not None:
            flags |= Presence.RIGHT_SESSION
            blocks.append(_pack_tuple(msg.right_session, "right_session"))
        if msg.handshake is not None:
            flags |= Presence.HANDSHAKE
            blocks.append(_pack_handshake(msg.handshake))
        if msg.cutoff is not None:
            flags |= Presence.CUTOFF
            blocks.append(_U32S.pack(_uint(msg.cutoff, _U32, "cutoff")))
        for i, hop in enumerate(hops):
            blocks.append(_pack_ip(hop, f"hops[{i}]"))

        length = HEADER_LEN + sum(len(b) for b in blocks) + HMAC_TAG_LEN
        lr_seq, lr_ts = _transform(msg.delta_lr, "delta_lr")
        rl_seq, rl_ts = _transform(msg.delta_rl, "delta_rl")
        header = _HEADER.pack(
            MAGIC,
            VERSION,
            int(mtype),
            length,
            int(flags),
            _uint(msg.msg_id, _U64, "msg_id"),
            _pack_ip(msg.sender, "sender"),
            _pack_ip(request.anchor, "request.anchor"),
            _uint(request.number, _U32, "request.number"),
            _pack_ip(msg.left_anchor, "left_anchor"),
            _pack_ip(msg.right_anchor, "right_anchor"),
            lr_seq,
            lr_ts,
            rl_seq,
            rl_ts,
            _uint(msg.tag, _U32, "tag"),
            int(reason),
            len(hops),
            0,
        )
        body = header + b"".join(blocks)
        return body + self.mac(body)

    # -- decode --

    def decode(self, data: bytes, *, check_replay: bool = True) -> ControlMessage:
        """Parse, verify and (unless ``check_replay`` is false) replay-check one message.

        Raises only :class:`WireError` subclasses. The replay window is updated only when the
        message is otherwise valid.
        """
        data, mtype = _check_prefix(data)
        h = _Header._make(_HEADER.unpack_from(data))
        reason = _check_header(h, len(data))
        off = HEADER_LEN
        tuples: list[FiveTuple | None] = []
        for bit in (Presence.SUBSESSION, Presence.LEFT_SESSION, Presence.RIGHT_SESSION):
            tuples.append(_read_tuple(data, off) if h.flags & bit else None)
            off += TUPLE_BLOCK_LEN if h.flags & bit else 0
        handshake: Handshake | None = None
        if h.flags & Presence.HANDSHAKE:
            handshake = _read_handshake(data, off)
            off += HANDSHAKE_BLOCK_LEN
        cutoff: int | None = None
        if h.flags & Presence.CUTOFF:
            (cutoff,) = _U32S.unpack_from(data, off)
            off += CUTOFF_BLOCK_LEN
        hop_bytes = data[off : off + HOP_LEN * h.hop_count]
        off += HOP_LEN * h.hop_count
        # authenticate everything before the tag
        if not hmac.compare_digest(self.mac(data[:off]), data[off:]):
            raise AuthError("HMAC tag does not verify")
        sender = socket.inet_ntoa(h.sender)
        if check_replay:
            self.replay.check_and_update(sender, h.msg_id)
        return ControlMessage(
            type=mtype,
            request=RequestId(socket.inet_ntoa(h.anchor), h.req_number),
            sender=sender,
            msg_id=h.msg_id,
            left_anchor=socket.inet_ntoa(h.left),
            right_anchor=socket.inet_ntoa(h.right),
            subsession=tuples[0],
            left_session=tuples[1],
            right_session=tuples[2],
            delta_lr=Transform(h.lr_seq, h.lr_ts),
            delta_rl=Transform(h.rl_seq, h.rl_ts),
            handshake=handshake,
            cutoff=cutoff,
            hops=tuple(
                socket.inet_ntoa(hop_bytes[i : i + HOP_LEN])
                for i in range(0, len(hop_bytes), HOP_LEN)
            ),
            reason=reason,
            tag=h.tag,
        )

    @staticmethod
    def peek_type(data: bytes) -> MsgType | None:
        """The message type if ``data`` starts like a Dysco control message of our version.

        No authentication, no length checks; never raises. Use it to classify (e.g. tell a
        CHAIN payload from ordinary SYN data) before paying for :meth:`decode`.
        """
        try:
            if not isinstance(data, bytes | bytearray | memoryview) or len(data) < 4:
                return None
            b = bytes(data[:4])
            if (b[0] << 8) | b[1] != MAGIC or b[2] != VERSION:
                return None
            return _MSG_TYPES.get(b[3])
        except Exception:
            return None


# --- decode steps ----------------------------------------------------------------------------


class _Header(NamedTuple):
    """The fixed header's fields, in :data:`_HEADER` order."""

    magic: int
    version: int
    type: int
    length: int
    flags: int
    msg_id: int
    sender: bytes
    anchor: bytes
    req_number: int
    left: bytes
    right: bytes
    lr_seq: int
    lr_ts: int
    rl_seq: int
    rl_ts: int
    tag: int
    reason: int
    hop_count: int
    reserved: int


def _check_prefix(data: object) -> tuple[bytes, MsgType]:
    """Size, magic, version and type, in that order; the bytes and the message type."""
    if not isinstance(data, bytes | bytearray | memoryview):
        raise MalformedError(f"expected bytes, got {type(data).__name__}", code="not_bytes")
    data = bytes(data)
    n = len(data)
    if n > MAX_DATAGRAM_LEN:
        raise OversizedError(f"{n} bytes > {MAX_DATAGRAM_LEN}")
    if n < 2:
        raise TruncatedError(f"{n} bytes: no magic")
    if (data[0] << 8) | data[1] != MAGIC:
        raise BadMagicError(f"magic 0x{data[0]:02x}{data[1]:02x}")
    if n < 3:
        raise TruncatedError(f"{n} bytes: no version")
    if data[2] != VERSION:
        raise UnsupportedVersionError(f"version {data[2]}")
    if n < 4:
        raise TruncatedError(f"{n} bytes: no type")
    mtype = _MSG_TYPES.get(data[3])
    if mtype is None:
        raise MalformedError(f"unknown message type {data[3]}", code="bad_type")
    if n < HEADER_LEN:
        raise TruncatedError(f"{n} bytes < header ({HEADER_LEN})")
    return data, mtype


def _check_header(h: _Header, n: int) -> NackReason:
    """The length field, reserved bits, enums and block sizes against ``n`` bytes."""
    if h.length < MIN_MESSAGE_LEN or h.length > MAX_MESSAGE_LEN:
        raise MalformedError(f"length field {h.length} out of range", code="bad_length")
    if h.length > n:
        raise TruncatedError(f"length field {h.length} > {n} bytes received")
    if h.length < n:
        raise MalformedError(f"{n - h.length} bytes after the message", code="trailing_bytes")
    if h.reserved:
        raise MalformedError("reserved header bits set", code="reserved_bits")
    if h.flags & ~_KNOWN_PRESENCE:
        raise MalformedError(f"reserved flag bits set: 0x{h.flags:04x}", code="reserved_bits")
    reason = _REASONS.get(h.reason)
    if reason is None:
        raise MalformedError(f"unknown nack reason {h.reason}", code="bad_reason")
    if h.hop_count > MAX_HOPS:
        raise OversizedError(f"hop count {h.hop_count} > {MAX_HOPS}", code="too_many_hops")
    tuples = sum(
        h.flags & bit != 0
        for bit in (Presence.SUBSESSION, Presence.LEFT_SESSION, Presence.RIGHT_SESSION)
    )
    required = (
        HEADER_LEN
        + TUPLE_BLOCK_LEN * tuples
        + (HANDSHAKE_BLOCK_LEN if h.flags & Presence.HANDSHAKE else 0)
        + (CUTOFF_BLOCK_LEN if h.flags & Presence.CUTOFF else 0)
        + HOP_LEN * h.hop_count
        + HMAC_TAG_LEN
    )
    what = f"blocks and {h.hop_count} hops need {required} bytes, have {n}"
    if required > n:
        raise TruncatedError(what)
    if required < n:
        raise MalformedError(what, code="bad_length")
    return reason


def _read_tuple(data: bytes, off: int) -> FiveTuple:
    src, dst, sport, dport, proto, res = _TUPLE.unpack_from(data, off)
    if res != _ZERO3:
        raise MalformedError("reserved tuple bytes set", code="reserved_bits")
    if proto not in _TUPLE_PROTOS:
        raise MalformedError(f"tuple protocol {proto}", code="bad_tuple")
    return FiveTuple(socket.inet_ntoa(src), sport, socket.inet_ntoa(dst), dport, proto)


def _read_handshake(data: bytes, off: int) -> Handshake:
    hs_seq, hs_ack, tsval, tsecr, mss, wsh, wsp, hflags, res = _HANDSHAKE.unpack_from(data, off)
    if res != _ZERO3 or hflags & ~_HS_KNOWN:
        raise MalformedError("reserved handshake bits set", code="reserved_bits")
    if (MAX_WSCALE < wsh != NO_WSCALE) or (MAX_WSCALE < wsp != NO_WSCALE):
        raise MalformedError(f"window scale {wsh}/{wsp} > {MAX_WSCALE}", code="bad_wscale")
    return Handshake(
        seq=hs_seq,
        ack=hs_ack,
        tsval=tsval,
        tsecr=tsecr,
        wscale_host=None if wsh == NO_WSCALE else wsh,
        wscale_peer=None if wsp == NO_WSCALE else wsp,
        sack_ok=bool(hflags & _HS_SACK_OK),
        ts_ok=bool(hflags & _HS_TS_OK),
        mss=mss,
        synack_known=not hflags & _HS_SYNACK_UNKNOWN,
    )
