"""Control message codec: layout, round trips, every rejection, authentication, replay window."""

from __future__ import annotations

import hashlib
import hmac
import socket
import struct
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dysco_proto.packet import TCP, UDP, FiveTuple
from dysco_proto.wire import (
    HANDSHAKE_BLOCK_LEN,
    HEADER_LEN,
    HMAC_TAG_LEN,
    MAGIC,
    MAX_DATAGRAM_LEN,
    MAX_HOPS,
    MAX_MESSAGE_LEN,
    MIN_MESSAGE_LEN,
    TUPLE_BLOCK_LEN,
    VERSION,
    AuthError,
    BadMagicError,
    ControlCodec,
    ControlMessage,
    Handshake,
    MalformedError,
    MsgIdSequence,
    MsgType,
    NackReason,
    OptionSpaceError,
    OversizedError,
    Presence,
    ReplayError,
    ReplayWindow,
    RequestId,
    Transform,
    TruncatedError,
    UnsupportedVersionError,
    WireError,
)

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
U16_BOUNDARIES = [0, 1, 0x00FF, 0xFF00, 0xFFFF]
U32_BOUNDARIES = [0, 1, 0xFF, 0xFF00, 0xFFFF, 0x1_0000, 0x8000_0000, 0xFFFF_FFFF]

# --- strategies (also used by test_scapy_layers) ---------------------------------------------

ipv4 = st.integers(0, 0xFFFF_FFFF).map(lambda i: socket.inet_ntoa(i.to_bytes(4, "big")))
u16 = st.one_of(st.sampled_from(U16_BOUNDARIES), st.integers(0, 0xFFFF))
u32 = st.one_of(st.sampled_from(U32_BOUNDARIES), st.integers(0, 0xFFFF_FFFF))
u64 = st.one_of(st.sampled_from([0, 1, 2**63, 2**64 - 1]), st.integers(0, 2**64 - 1))
five_tuples = st.builds(FiveTuple, ipv4, u16, ipv4, u16, st.sampled_from([TCP, UDP]))
wscales = st.one_of(st.none(), st.integers(0, 14))
handshakes = st.builds(
    Handshake,
    seq=u32,
    ack=u32,
    tsval=u32,
    tsecr=u32,
    wscale_host=wscales,
    wscale_peer=wscales,
    sack_ok=st.booleans(),
    ts_ok=st.booleans(),
    mss=u16,
    synack_known=st.booleans(),
)
transforms = st.builds(Transform, u32, u32)


def control_messages() -> st.SearchStrategy[ControlMessage]:
    """Every valid ControlMessage (all types, every optional block present or not)."""
    return st.builds(
        ControlMessage,
        type=st.sampled_from(MsgType),
        request=st.builds(RequestId, ipv4, u32),
        sender=ipv4,
        msg_id=u64,
        left_anchor=ipv4,
        right_anchor=ipv4,
        subsession=st.none() | five_tuples,
        left_session=st.none() | five_tuples,
        right_session=st.none() | five_tuples,
        delta_lr=transforms,
        delta_rl=transforms,
        handshake=st.none() | handshakes,
        cutoff=st.none() | u32,
        hops=st.lists(ipv4, max_size=MAX_HOPS).map(tuple),
        reason=st.sampled_from(NackReason),
        tag=u32,
    )


# --- helpers ---------------------------------------------------------------------------------


def full_message(mtype: MsgType = MsgType.SYN, **kw: object) -> ControlMessage:
    """A message with every optional block present and the maximum number of hops."""
    base = ControlMessage(
        type=mtype,
        request=RequestId("10.0.0.1", 0xDEADBEEF),
        sender="10.0.0.2",
        msg_id=0x0102030405060708,
        left_anchor="10.0.0.1",
        right_anchor="10.0.0.9",
        subsession=FiveTuple("10.0.0.2", 40000, "10.0.0.3", 80),
        left_session=FiveTuple("192.168.1.10", 51000, "203.0.113.5", 443),
        right_session=FiveTuple("192.168.1.10", 51000, "203.0.113.5", 443, UDP),
        delta_lr=Transform(0xAABBCCDD, 17),
        delta_rl=Transform(0xFFFF_FFFF, 0x8000_0000),
        handshake=Handshake(1, 2, 3, 4, 7, 14, True, True, 1460),
        cutoff=0xFEDCBA98,
        hops=tuple(f"10.1.0.{i}" for i in range(MAX_HOPS)),
        reason=NackReason.POLICY,
        tag=0x12345678,
    )
    return replace(base, **kw)  # type: ignore[arg-type]


def minimal_message(mtype: MsgType = MsgType.ACK_ACK, **kw: object) -> ControlMessage:
    return replace(ControlMessage(mtype, RequestId("10.0.0.1", 1), "10.0.0.1"), **kw)  # type: ignore[arg-type]


def resign(data: bytes, key: bytes = KEY) -> bytes:
    """Replace the tag so that only the structural checks can reject ``data``."""
    body = data[:-HMAC_TAG_LEN]
    return body + hmac.new(key, body, hashlib.sha256).digest()[:HMAC_TAG_LEN]


def patch(data: bytes, offset: int, fmt: str, value: int) -> bytes:
    b = bytearray(data)
    struct.pack_into(fmt, b, offset, value)
    return bytes(b)


@pytest.fixture
def codec() -> ControlCodec:
    return ControlCodec(KEY)


def decode_nr(codec: ControlCodec, data: bytes) -> ControlMessage:
    return codec.decode(data, check_replay=False)


# --- layout ----------------------------------------------------------------------------------


def test_constants() -> None:
    assert HEADER_LEN == 60
    assert MIN_MESSAGE_LEN == 76
    assert MAX_MESSAGE_LEN == 216
    assert MAX_DATAGRAM_LEN == 512
    assert MAGIC == 0xD15C and VERSION == 1 and HMAC_TAG_LEN == 16


def test_golden_vector(codec: ControlCodec) -> None:
    """Pins the byte layout of docs/wire-format.md section 8 (big-endian everywhere)."""
    msg = ControlMessage(
        MsgType.REQUEST_LOCK,
        RequestId("10.0.0.1", 0x01020304),
        "10.0.0.2",
        0x1122334455667788,
        "10.0.0.1",
        "10.0.0.9",
        subsession=FiveTuple("10.0.0.2", 40000, "10.0.0.3", 80),
        delta_lr=Transform(0xAABBCCDD, 0x10),
        delta_rl=Transform(0xFFFFFFFF, 0),
        cutoff=0xDEADBEEF,
        hops=("10.0.0.9",),
        tag=0x0A0B0C0D,
    )
    expected_body = bytes.fromhex(
        "d15c 0102 0064 0011 1122334455667788"
        "0a000002 0a000001 01020304 0a000001"
        "0a000009 aabbccdd 00000010 ffffffff"
        "00000000 0a0b0c0d 00 01 0000 0a000002"
        "0a000003 9c40 0050 06 000000 deadbeef"
        "0a000009"
    )
    data = codec.encode(msg)
    assert data[:-HMAC_TAG_LEN] == expected_body
    assert data[-HMAC_TAG_LEN:] == hmac.new(KEY, expected_body, hashlib.sha256).digest()[:16]
    assert data[-HMAC_TAG_LEN:] == bytes.fromhex("c5b0baac9ebb5711776e099dbc6a784c")
    assert decode_nr(codec, data) == msg


def test_handshake_block_layout(codec: ControlCodec) -> None:
    hs = Handshake(0x01000000, 0x02000000, 0x03000000, 0x04000000, 7, None, True, True, 1460)
    data = codec.encode(minimal_message(MsgType.SYN, handshake=hs))
    assert data[6:8] == b"\x00\x08"
    assert data[HEADER_LEN:-HMAC_TAG_LEN] == bytes.fromhex(
        "01000000 02000000 03000000 04000000 05b4 07 ff 03 000000"
    )
    assert decode_nr(codec, data).handshake == hs  # bit 2 clear: the SYN-ACK half is known


def test_handshake_synack_unknown_bit(codec: ControlCodec) -> None:
    """A record without the session's SYN-ACK sets flags bit 2; "not announced" (0xFF, flag
    clear) and "unknown" are different things on the wire, and only bit 2 changes."""
    known = Handshake(1, 2, 3, 4, 7, None, True, False, 1460)
    unknown = Handshake(1, 2, 3, 4, 7, None, True, False, 1460, synack_known=False)
    a = codec.encode(minimal_message(MsgType.SYN, handshake=known))
    b = codec.encode(minimal_message(MsgType.SYN, handshake=unknown))
    flags = HEADER_LEN + 20
    assert (a[flags], b[flags]) == (0x01, 0x05)
    assert a[:flags] == b[:flags] and a[flags + 1 : -HMAC_TAG_LEN] == b[flags + 1 : -HMAC_TAG_LEN]
    assert decode_nr(codec, b).handshake == unknown
    assert decode_nr(codec, a).handshake == known


def test_sizes(codec: ControlCodec) -> None:
    assert len(codec.encode(minimal_message())) == MIN_MESSAGE_LEN
    assert len(codec.encode(full_message())) == MAX_MESSAGE_LEN


# --- round trips -----------------------------------------------------------------------------


@pytest.mark.parametrize("mtype", list(MsgType))
def test_round_trip_every_type(codec: ControlCodec, mtype: MsgType) -> None:
    for msg in (full_message(mtype), minimal_message(mtype)):
        data = codec.encode(msg)
        out = decode_nr(codec, data)
        assert out == msg
        assert type(out.type) is MsgType and type(out.reason) is NackReason
        assert codec.encode(out) == data
        assert ControlCodec.peek_type(data) is mtype


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(msg=control_messages())
def test_round_trip_property(msg: ControlMessage) -> None:
    codec = ControlCodec(KEY)
    data = codec.encode(msg)
    assert codec.decode(data) == msg
    assert codec.encode(codec.decode(data, check_replay=False)) == data  # canonical
    n_tuples = sum(t is not None for t in (msg.subsession, msg.left_session, msg.right_session))
    assert len(data) == (
        HEADER_LEN
        + TUPLE_BLOCK_LEN * n_tuples
        + (HANDSHAKE_BLOCK_LEN if msg.handshake else 0)
        + (4 if msg.cutoff is not None else 0)
        + 4 * len(msg.hops)
        + HMAC_TAG_LEN
    )


@pytest.mark.parametrize("value", U16_BOUNDARIES)
def test_16bit_fields_survive_at_boundaries(codec: ControlCodec, value: int) -> None:
    """Regression: the prototype pushed 16-bit fields through 32-bit swaps (zeroing them)."""
    t = FiveTuple("1.2.3.4", value, "5.6.7.8", value)
    u = FiveTuple("1.2.3.4", value, "5.6.7.8", 0xFFFF - value)
    hs = Handshake(mss=value, wscale_host=14, wscale_peer=0, sack_ok=True, ts_ok=False)
    msg = minimal_message(subsession=t, left_session=u, right_session=t, handshake=hs)
    data = codec.encode(msg)
    out = decode_nr(codec, data)
    assert out == msg
    assert out.handshake is not None
    assert (out.handshake.mss, out.handshake.wscale_host, out.handshake.wscale_peer) == (
        value,
        14,
        0,
    )
    assert out.handshake.sack_ok is True
    # big-endian at the documented offsets
    sub = HEADER_LEN
    assert data[sub + 8 : sub + 10] == value.to_bytes(2, "big")
    assert data[sub + 10 : sub + 12] == value.to_bytes(2, "big")
    left = HEADER_LEN + TUPLE_BLOCK_LEN
    assert data[left + 10 : left + 12] == (0xFFFF - value).to_bytes(2, "big")
    hs_off = HEADER_LEN + 3 * TUPLE_BLOCK_LEN
    assert data[hs_off + 16 : hs_off + 18] == value.to_bytes(2, "big")


@pytest.mark.parametrize("wscale", [None, 0, 1, 7, 14])
@pytest.mark.parametrize("sack_ok", [False, True])
@pytest.mark.parametrize("ts_ok", [False, True])
@pytest.mark.parametrize("known", [False, True])
def test_handshake_wscale_and_flags(
    codec: ControlCodec, wscale: int | None, sack_ok: bool, ts_ok: bool, known: bool
) -> None:
    hs = Handshake(
        wscale_host=wscale,
        wscale_peer=wscale,
        sack_ok=sack_ok,
        ts_ok=ts_ok,
        mss=536,
        synack_known=known,
    )
    out = decode_nr(codec, codec.encode(minimal_message(handshake=hs)))
    assert out.handshake == hs


@pytest.mark.parametrize("value", U32_BOUNDARIES)
def test_32bit_fields_at_boundaries(codec: ControlCodec, value: int) -> None:
    msg = full_message(
        request=RequestId("0.0.0.0", value),
        delta_lr=Transform(value, value),
        delta_rl=Transform(value, 0xFFFF_FFFF - value),
        handshake=Handshake(value, value, value, value),
        cutoff=value,
        tag=value,
    )
    assert decode_nr(codec, codec.encode(msg)) == msg


@pytest.mark.parametrize("msg_id", [0, 1, 2**32, 2**63, 2**64 - 1])
def test_msg_id_range(codec: ControlCodec, msg_id: int) -> None:
    assert decode_nr(codec, codec.encode(minimal_message(msg_id=msg_id))).msg_id == msg_id


def test_addresses_edge_values(codec: ControlCodec) -> None:
    msg = minimal_message(
        sender="255.255.255.255",
        left_anchor="0.0.0.0",
        right_anchor="1.0.0.255",
        hops=("0.0.0.0", "255.255.255.255"),
    )
    assert decode_nr(codec, codec.encode(msg)) == msg


def test_decode_accepts_bytearray_and_memoryview(codec: ControlCodec) -> None:
    data = codec.encode(full_message())
    assert decode_nr(codec, bytearray(data)) == full_message()  # type: ignore[arg-type]
    assert decode_nr(codec, memoryview(data)) == full_message()  # type: ignore[arg-type]


# --- encode-side validation ------------------------------------------------------------------


@pytest.mark.parametrize(
    "addr",
    ["1.2.3", "01.2.3.4", "1.2.3.4 ", " 1.2.3.4", "256.1.1.1", "::1", "host", "", "1.2.3.4.5", 5],
)
def test_encode_rejects_bad_addresses(codec: ControlCodec, addr: object) -> None:
    for kw in (
        {"sender": addr},
        {"left_anchor": addr},
        {"right_anchor": addr},
        {"request": RequestId(addr, 1)},  # type: ignore[arg-type]
        {"hops": ("1.1.1.1", addr)},
        {"subsession": FiveTuple(addr, 1, "1.1.1.1", 2)},  # type: ignore[arg-type]
        {"right_session": FiveTuple("1.1.1.1", 1, addr, 2)},  # type: ignore[arg-type]
    ):
        with pytest.raises(MalformedError) as exc:
            codec.encode(minimal_message(**kw))
        assert exc.value.code == "bad_address"


@pytest.mark.parametrize(
    "kw",
    [
        {"msg_id": -1},
        {"msg_id": 2**64},
        {"request": RequestId("1.1.1.1", 2**32)},
        {"request": RequestId("1.1.1.1", -1)},
        {"delta_lr": Transform(2**32, 0)},
        {"delta_lr": Transform(0, -1)},
        {"delta_rl": Transform(-5, 0)},
        {"delta_rl": Transform(0, 2**32)},
        {"cutoff": 2**32},
        {"cutoff": -1},
        {"tag": 2**32},
        {"tag": True},
        {"subsession": FiveTuple("1.1.1.1", 65536, "2.2.2.2", 1)},
        {"left_session": FiveTuple("1.1.1.1", 1, "2.2.2.2", -1)},
        {"left_session": FiveTuple("1.1.1.1", 1, "2.2.2.2", 2, 1)},
        {"left_session": FiveTuple("1.1.1.1", 1, "2.2.2.2", 2, 256)},
        {"handshake": Handshake(seq=2**32)},
        {"handshake": Handshake(mss=65536)},
        {"handshake": Handshake(wscale_host=15)},
        {"handshake": Handshake(wscale_peer=-1)},
        {"handshake": Handshake(wscale_peer=255)},
        {"handshake": Handshake(sack_ok=1)},  # type: ignore[arg-type]
        {"handshake": Handshake(synack_known=0)},  # type: ignore[arg-type]
        {"reason": 6},
        {"reason": [1]},
        {"type": 0},
        {"type": 12},
        {"type": "SYN"},
        {"request": ("1.1.1.1", 1)},
        {"delta_lr": (0, 0)},
        {"handshake": (1, 2)},
        {"subsession": ("1.1.1.1", 1, "2.2.2.2", 2, 6)},
        {"hops": "1.1.1.1"},
    ],
)
def test_encode_rejects_out_of_range(codec: ControlCodec, kw: dict[str, object]) -> None:
    with pytest.raises(MalformedError):
        codec.encode(minimal_message(**kw))


def test_encode_rejects_too_many_hops(codec: ControlCodec) -> None:
    codec.encode(minimal_message(hops=("1.1.1.1",) * MAX_HOPS))
    with pytest.raises(OversizedError) as exc:
        codec.encode(minimal_message(hops=("1.1.1.1",) * (MAX_HOPS + 1)))
    assert exc.value.code == "too_many_hops"


def test_encode_rejects_non_message(codec: ControlCodec) -> None:
    with pytest.raises(MalformedError):
        codec.encode("nope")  # type: ignore[arg-type]


def test_encode_accepts_plain_int_enums(codec: ControlCodec) -> None:
    msg = minimal_message(type=3, reason=1)
    out = decode_nr(codec, codec.encode(msg))
    assert out.type is MsgType.ACK_LOCK and out.reason is NackReason.LOCKED


# --- decode-side rejection -------------------------------------------------------------------


@pytest.mark.parametrize("which", ["full", "minimal", "hops_only"])
def test_truncation_at_every_length(codec: ControlCodec, which: str) -> None:
    msg = {
        "full": full_message(),
        "minimal": minimal_message(),
        "hops_only": minimal_message(hops=("1.1.1.1", "2.2.2.2", "3.3.3.3")),
    }[which]
    data = codec.encode(msg)
    for n in range(len(data)):
        with pytest.raises(TruncatedError):
            decode_nr(codec, data[:n])


def test_empty_and_non_bytes(codec: ControlCodec) -> None:
    with pytest.raises(TruncatedError):
        decode_nr(codec, b"")
    for junk in (None, "d15c", 1234, [0xD1, 0x5C]):
        with pytest.raises(MalformedError) as exc:
            decode_nr(codec, junk)  # type: ignore[arg-type]
        assert exc.value.code == "not_bytes"


@pytest.mark.parametrize("magic", [0x0000, 0x5CD1, 0xD15D, 0xFFFF, 0xC15C])
def test_bad_magic(codec: ControlCodec, magic: int) -> None:
    data = resign(patch(codec.encode(full_message()), 0, "!H", magic))
    with pytest.raises(BadMagicError):
        decode_nr(codec, data)
    with pytest.raises(BadMagicError):
        decode_nr(codec, data[:2])


@pytest.mark.parametrize("version", [0, 2, 0x10, 255])
def test_bad_version(codec: ControlCodec, version: int) -> None:
    data = resign(patch(codec.encode(full_message()), 2, "!B", version))
    with pytest.raises(UnsupportedVersionError):
        decode_nr(codec, data)


@pytest.mark.parametrize("mtype", [0, 12, 0x80, 255])
def test_unknown_type(codec: ControlCodec, mtype: int) -> None:
    data = resign(patch(codec.encode(full_message()), 3, "!B", mtype))
    with pytest.raises(MalformedError) as exc:
        decode_nr(codec, data)
    assert exc.value.code == "bad_type"
    assert ControlCodec.peek_type(data) is None


def test_bad_length_field(codec: ControlCodec) -> None:
    data = codec.encode(minimal_message(hops=("1.1.1.1",)))
    n = len(data)
    cases: dict[int, type[WireError]] = {
        0: MalformedError,
        MIN_MESSAGE_LEN - 1: MalformedError,
        n - 1: MalformedError,  # shorter than received: trailing bytes
        n + 1: TruncatedError,  # longer than received
        MAX_MESSAGE_LEN: TruncatedError,
        MAX_MESSAGE_LEN + 1: MalformedError,
        0xFFFF: MalformedError,
    }
    for value, err in cases.items():
        with pytest.raises(err):
            decode_nr(codec, resign(patch(data, 4, "!H", value)))


def test_trailing_bytes(codec: ControlCodec) -> None:
    data = codec.encode(minimal_message())
    with pytest.raises(MalformedError) as exc:
        decode_nr(codec, data + b"\x00")
    assert exc.value.code == "trailing_bytes"


def test_oversized_datagram(codec: ControlCodec) -> None:
    data = codec.encode(full_message())
    with pytest.raises(OversizedError):
        decode_nr(codec, data + bytes(MAX_DATAGRAM_LEN + 1 - len(data)))
    with pytest.raises(OversizedError):
        decode_nr(codec, bytes(100_000))
    with pytest.raises(MalformedError):  # at the limit: parsed, rejected as trailing bytes
        decode_nr(codec, data + bytes(MAX_DATAGRAM_LEN - len(data)))


def test_reserved_header_bits(codec: ControlCodec) -> None:
    data = codec.encode(full_message())
    for value in (1, 0x8000, 0xFFFF):
        with pytest.raises(MalformedError) as exc:
            decode_nr(codec, resign(patch(data, 58, "!H", value)))
        assert exc.value.code == "reserved_bits"
    for bit in range(5, 16):
        flags = int.from_bytes(data[6:8], "big") | (1 << bit)
        with pytest.raises(MalformedError) as exc:
            decode_nr(codec, resign(patch(data, 6, "!H", flags)))
        assert exc.value.code == "reserved_bits"


def test_reserved_block_bytes(codec: ControlCodec) -> None:
    data = codec.encode(full_message())
    for block in range(3):
        for off in (13, 14, 15):
            pos = HEADER_LEN + block * TUPLE_BLOCK_LEN + off
            with pytest.raises(MalformedError) as exc:
                decode_nr(codec, resign(patch(data, pos, "!B", 0x01)))
            assert exc.value.code == "reserved_bits"
    hs = HEADER_LEN + 3 * TUPLE_BLOCK_LEN
    for off, value in ((20, 0x08), (20, 0x0F), (20, 0x80), (21, 1), (22, 1), (23, 0xFF)):
        with pytest.raises(MalformedError) as exc:
            decode_nr(codec, resign(patch(data, hs + off, "!B", value)))
        assert exc.value.code == "reserved_bits"


@pytest.mark.parametrize("proto", [0, 1, 5, 7, 16, 18, 255])
def test_bad_tuple_protocol(codec: ControlCodec, proto: int) -> None:
    data = codec.encode(full_message())
    with pytest.raises(MalformedError) as exc:
        decode_nr(codec, resign(patch(data, HEADER_LEN + 12, "!B", proto)))
    assert exc.value.code == "bad_tuple"


@pytest.mark.parametrize("wscale", [15, 16, 100, 254])
def test_bad_wscale(codec: ControlCodec, wscale: int) -> None:
    data = codec.encode(full_message())
    hs = HEADER_LEN + 3 * TUPLE_BLOCK_LEN
    for off in (18, 19):
        with pytest.raises(MalformedError) as exc:
            decode_nr(codec, resign(patch(data, hs + off, "!B", wscale)))
        assert exc.value.code == "bad_wscale"


@pytest.mark.parametrize("reason", [6, 7, 128, 255])
def test_bad_reason(codec: ControlCodec, reason: int) -> None:
    data = codec.encode(full_message())
    with pytest.raises(MalformedError) as exc:
        decode_nr(codec, resign(patch(data, 56, "!B", reason)))
    assert exc.value.code == "bad_reason"


def test_too_many_hops(codec: ControlCodec) -> None:
    data = codec.encode(minimal_message(hops=("1.1.1.1",)))
    for count in (MAX_HOPS + 1, 100, 255):
        with pytest.raises(OversizedError) as exc:
            decode_nr(codec, resign(patch(data, 57, "!B", count)))
        assert exc.value.code == "too_many_hops"


@pytest.mark.parametrize("present", [0, 1, 2, 15])
def test_hop_count_claiming_more_hops_than_bytes(codec: ControlCodec, present: int) -> None:
    """Regression: the prototype read the chain past the end of its buffer."""
    data = codec.encode(full_message(hops=tuple(f"1.1.1.{i}" for i in range(present))))
    for claimed in range(present + 1, MAX_HOPS + 1):
        with pytest.raises(TruncatedError):
            decode_nr(codec, resign(patch(data, 57, "!B", claimed)))
        # even with the length field agreeing with the claim, the bytes are not there
        bigger = patch(patch(data, 57, "!B", claimed), 4, "!H", len(data) + 4 * (claimed - present))
        with pytest.raises(TruncatedError):
            decode_nr(codec, resign(bigger))


def test_hop_count_claiming_fewer_hops(codec: ControlCodec) -> None:
    data = codec.encode(minimal_message(hops=("1.1.1.1", "2.2.2.2")))
    with pytest.raises(MalformedError) as exc:
        decode_nr(codec, resign(patch(data, 57, "!B", 1)))
    assert exc.value.code == "bad_length"


def test_presence_bits_inconsistent_with_length(codec: ControlCodec) -> None:
    data = codec.encode(minimal_message(cutoff=5))
    with pytest.raises(MalformedError):  # cutoff bit cleared: 4 bytes too many
        decode_nr(codec, resign(patch(data, 6, "!H", 0)))
    with pytest.raises(TruncatedError):  # handshake bit set: 24 bytes missing
        decode_nr(codec, resign(patch(data, 6, "!H", int(Presence.CUTOFF | Presence.HANDSHAKE))))


# --- authentication --------------------------------------------------------------------------


def test_wrong_key(codec: ControlCodec) -> None:
    data = codec.encode(full_message())
    with pytest.raises(AuthError):
        ControlCodec(OTHER_KEY).decode(data)
    with pytest.raises(AuthError):
        ControlCodec(KEY[:-1] + b"\xff").decode(data)


def test_missing_or_zero_tag(codec: ControlCodec) -> None:
    data = codec.encode(minimal_message())
    with pytest.raises(AuthError):
        decode_nr(codec, data[:-HMAC_TAG_LEN] + bytes(HMAC_TAG_LEN))


# Fields in which every value is structurally valid: a change there can only be caught by the MAC.
_FREE_HEADER_BYTES = set(range(8, 56))


@pytest.mark.parametrize("mask", [0x01, 0x80, 0xFF])
@pytest.mark.parametrize("which", ["full", "minimal"])
def test_tampered_byte_at_every_position(codec: ControlCodec, mask: int, which: str) -> None:
    msg = full_message() if which == "full" else minimal_message(hops=("9.9.9.9",))
    data = codec.encode(msg)
    n = len(data)
    free = _FREE_HEADER_BYTES | set(range(n - HMAC_TAG_LEN - 4 * len(msg.hops), n))
    for pos in range(n):
        b = bytearray(data)
        b[pos] ^= mask
        with pytest.raises(WireError) as exc:
            decode_nr(codec, bytes(b))
        if pos in free:
            assert isinstance(exc.value, AuthError), pos
    assert decode_nr(codec, data) == msg


def test_key_validation() -> None:
    ControlCodec(b"k" * 16)
    ControlCodec(bytearray(b"k" * 32))
    for short in (b"", b"k", b"k" * 15):
        with pytest.raises(ValueError):
            ControlCodec(short)
    with pytest.raises(TypeError):
        ControlCodec("k" * 32)  # type: ignore[arg-type]


def test_mac_is_truncated_hmac_sha256(codec: ControlCodec) -> None:
    assert codec.mac(b"abc") == hmac.new(KEY, b"abc", hashlib.sha256).digest()[:16]


# --- replay ----------------------------------------------------------------------------------


def test_replayed_message_rejected(codec: ControlCodec) -> None:
    data = codec.encode(full_message())
    codec.decode(data)
    with pytest.raises(ReplayError) as exc:
        codec.decode(data)
    assert exc.value.code == "replay"
    assert codec.decode(data, check_replay=False) == full_message()


def test_retransmission_with_new_msg_id_accepted(codec: ControlCodec) -> None:
    seq = MsgIdSequence(1000)
    for _ in range(3):  # same request id, fresh msg_id per transmission
        msg = full_message(msg_id=seq.next())
        assert codec.decode(codec.encode(msg)).request == msg.request


def test_out_of_window_rejected_inside_accepted(codec: ControlCodec) -> None:
    def send(msg_id: int, sender: str = "10.0.0.2") -> ControlMessage:
        return codec.decode(codec.encode(minimal_message(msg_id=msg_id, sender=sender)))

    send(5000)
    with pytest.raises(ReplayError) as exc:
        send(5000 - 1024)
    assert exc.value.code == "too_old"
    with pytest.raises(ReplayError):
        send(0)
    send(5000 - 1023)  # oldest id still inside the window
    with pytest.raises(ReplayError):
        send(5000 - 1023)
    send(4000, sender="10.0.0.3")  # windows are per sender


def test_out_of_order_within_window_accepted(codec: ControlCodec) -> None:
    order = [10, 5, 7, 6, 9, 8, 1, 12, 11, 3]
    for i in order:
        codec.decode(codec.encode(minimal_message(msg_id=i)))
    for i in order:
        with pytest.raises(ReplayError):
            codec.decode(codec.encode(minimal_message(msg_id=i)))
    codec.decode(codec.encode(minimal_message(msg_id=4)))


def test_rejected_messages_do_not_touch_the_window(codec: ControlCodec) -> None:
    data = codec.encode(minimal_message(msg_id=77))
    forged = data[:-1] + bytes([data[-1] ^ 1])
    with pytest.raises(AuthError):
        codec.decode(forged)
    bigger = codec.encode(minimal_message(msg_id=10_000))
    with pytest.raises(AuthError):
        ControlCodec(OTHER_KEY).decode(bigger)
    codec.decode(data)  # neither the forgery nor the foreign message advanced the window
    assert len(codec.replay) == 1


def test_replay_window_unit() -> None:
    w = ReplayWindow(size=8)
    w.check_and_update("a", 100)
    for i in (99, 93, 101, 200):
        w.check_and_update("a", i)
    for i in (100, 99, 93, 101, 200, 192, 0):
        with pytest.raises(ReplayError):
            w.check_and_update("a", i)
    w.check_and_update("a", 193)  # inside the window after the jump
    w.check_and_update("a", 2**64 - 1)
    with pytest.raises(ReplayError):
        w.check_and_update("a", 2**64 - 9)
    w.check_and_update("a", 2**64 - 8)
    for bad in (-1, 2**64, True, "1"):
        with pytest.raises(MalformedError):
            w.check_and_update("b", bad)  # type: ignore[arg-type]
    assert len(w) == 1
    w.forget("a")
    w.check_and_update("a", 0)
    with pytest.raises(ValueError):
        ReplayWindow(size=0)
    with pytest.raises(ValueError):
        ReplayWindow(max_senders=0)


def test_replay_window_bitmap_shift_exactly_size() -> None:
    w = ReplayWindow(size=4)
    for i in (10, 9, 8, 7):
        w.check_and_update("s", i)
    w.check_and_update("s", 14)  # shift == size: all history falls out of the window
    for i in (10, 11, 12, 13):
        if i <= 10:
            with pytest.raises(ReplayError):
                w.check_and_update("s", i)
        else:
            w.check_and_update("s", i)


def test_replay_window_sender_limit() -> None:
    w = ReplayWindow(size=16, max_senders=2)
    w.check_and_update("a", 1)
    w.check_and_update("b", 1)
    w.check_and_update("a", 2)  # a is now the most recent
    w.check_and_update("c", 1)  # evicts b
    assert len(w) == 2
    with pytest.raises(ReplayError):
        w.check_and_update("a", 1)
    w.check_and_update("b", 1)  # forgotten sender starts afresh


# --- misc API ---------------------------------------------------------------------------------


def test_error_hierarchy() -> None:
    classes = [
        TruncatedError,
        MalformedError,
        OversizedError,
        BadMagicError,
        UnsupportedVersionError,
        AuthError,
        ReplayError,
        OptionSpaceError,
    ]
    codes = set()
    for cls in classes:
        assert issubclass(cls, WireError) and issubclass(cls, ValueError)
        err = cls("x")
        assert isinstance(err.code, str) and err.code
        codes.add(err.code)
    assert len(codes) == len(classes)
    assert MalformedError("x", code="bad_type").code == "bad_type"


def test_peek_type_never_raises(codec: ControlCodec) -> None:
    data = codec.encode(minimal_message(MsgType.CHAIN))
    assert ControlCodec.peek_type(data) is MsgType.CHAIN
    assert ControlCodec.peek_type(data[:4]) is MsgType.CHAIN
    for junk in (b"", b"\xd1\x5c\x01", b"\x00" * 80, data[:2] + b"\x02" + data[3:], None, "x", 5):
        assert ControlCodec.peek_type(junk) is None  # type: ignore[arg-type]


def test_transform_arithmetic() -> None:
    a = Transform(0xFFFF_FFFF, 1)
    b = Transform(2, 0xFFFF_FFFF)
    assert a + b == Transform(1, 0)
    assert (a + b) - b == a
    assert a + (-a) == Transform()
    assert Transform.wrap(-1, 2**32 + 5) == Transform(0xFFFF_FFFF, 5)


def test_msg_id_sequence() -> None:
    s = MsgIdSequence(2**64 - 2)
    assert [s.next(), s.next(), s.next()] == [2**64 - 2, 2**64 - 1, 0]
    with pytest.raises(MalformedError):
        MsgIdSequence(-1)
