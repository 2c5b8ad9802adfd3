"""Deterministic fuzzing of every decoder: only WireError may come out, scapy never raises.

Seeded ``random.Random`` throughout, so a failure reproduces exactly. Counts (>= 100,000 inputs
in total) are asserted at the end of each test.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import socket
import struct
from collections.abc import Callable

import pytest

from dysco_pipeline.scapy_layers import DyscoControl
from dysco_proto.packet import TCP, UDP, FiveTuple, TcpOptions
from dysco_proto.wire import (
    HEADER_LEN,
    HMAC_TAG_LEN,
    MAGIC,
    MAX_HOPS,
    VERSION,
    ControlCodec,
    ControlMessage,
    Handshake,
    MsgType,
    NackReason,
    OptionSpaceError,
    RequestId,
    Transform,
    WireError,
    decode_tcp_options,
    encode_tcp_options,
    options_length,
)

KEY = b"fuzz-key-0123456789abcdef-fuzz!!"
SEED = 0xD15C_2017

N_CODEC_RANDOM = 15_000
N_CODEC_MUTATED = 40_000
N_CODEC_RESIGNED = 12_000
N_OPTIONS = 28_000
N_SCAPY = 8_000
TOTAL = N_CODEC_RANDOM + N_CODEC_MUTATED + N_CODEC_RESIGNED + N_OPTIONS + N_SCAPY
assert TOTAL >= 100_000

_U32_EDGES = [0, 1, 0xFF, 0xFF00, 0xFFFF, 0x1_0000, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF]
_U16_EDGES = [0, 1, 0xFF, 0xFF00, 0xFFFF]


# --- generators ------------------------------------------------------------------------------


def _u32(rng: random.Random) -> int:
    return rng.choice(_U32_EDGES) if rng.random() < 0.3 else rng.getrandbits(32)


def _u16(rng: random.Random) -> int:
    return rng.choice(_U16_EDGES) if rng.random() < 0.3 else rng.getrandbits(16)


def _ip(rng: random.Random) -> str:
    return socket.inet_ntoa(rng.getrandbits(32).to_bytes(4, "big"))


def _tuple(rng: random.Random) -> FiveTuple | None:
    if rng.random() < 0.5:
        return None
    return FiveTuple(_ip(rng), _u16(rng), _ip(rng), _u16(rng), rng.choice([TCP, UDP]))


def _wscale(rng: random.Random) -> int | None:
    return None if rng.random() < 0.3 else rng.randint(0, 14)


def random_message(rng: random.Random) -> ControlMessage:
    hs = None
    if rng.random() < 0.5:
        hs = Handshake(
            _u32(rng),
            _u32(rng),
            _u32(rng),
            _u32(rng),
            _wscale(rng),
            _wscale(rng),
            rng.random() < 0.5,
            rng.random() < 0.5,
            _u16(rng),
        )
    return ControlMessage(
        type=rng.choice(list(MsgType)),
        request=RequestId(_ip(rng), _u32(rng)),
        sender=_ip(rng),
        msg_id=rng.getrandbits(64),
        left_anchor=_ip(rng),
        right_anchor=_ip(rng),
        subsession=_tuple(rng),
        left_session=_tuple(rng),
        right_session=_tuple(rng),
        delta_lr=Transform(_u32(rng), _u32(rng)),
        delta_rl=Transform(_u32(rng), _u32(rng)),
        handshake=hs,
        cutoff=_u32(rng) if rng.random() < 0.5 else None,
        hops=tuple(_ip(rng) for _ in range(rng.randint(0, MAX_HOPS))),
        reason=rng.choice(list(NackReason)),
        tag=_u32(rng),
    )


def random_options(rng: random.Random) -> TcpOptions:
    while True:
        opts = TcpOptions(
            mss=_u16(rng) if rng.random() < 0.5 else None,
            wscale=_wscale(rng) if rng.random() < 0.5 else None,
            sack_permitted=rng.random() < 0.5,
            timestamp=(_u32(rng), _u32(rng)) if rng.random() < 0.5 else None,
            sack_blocks=tuple((_u32(rng), _u32(rng)) for _ in range(rng.randint(0, 4))),
            dysco_tag=_u32(rng) if rng.random() < 0.3 else None,
        )
        if options_length(opts) <= 40:
            return opts


def random_option_soup(rng: random.Random) -> bytes:
    """A sequence of plausible options (known and unknown kinds, right or wrong lengths)."""
    out = bytearray()
    while len(out) < rng.randint(0, 44):
        kind = rng.choice([0, 1, 1, 2, 3, 4, 5, 8, 253, 254, 30, 34, rng.getrandbits(8)])
        if kind in (0, 1):
            out.append(kind)
            continue
        good = {2: 4, 3: 3, 4: 2, 5: 2 + 8 * rng.randint(1, 4), 8: 10, 253: 8}.get(kind)
        olen = good if good is not None and rng.random() < 0.7 else rng.randint(0, 12)
        body = bytes(rng.getrandbits(8) for _ in range(max(0, olen - 2)))
        if kind == 253 and rng.random() < 0.7:
            body = b"\x44\x59" + body[2:]
        out += bytes([kind, olen]) + body
    return bytes(out)


def resign(data: bytes) -> bytes:
    if len(data) < HMAC_TAG_LEN:
        return data
    body = data[:-HMAC_TAG_LEN]
    return body + hmac.new(KEY, body, hashlib.sha256).digest()[:HMAC_TAG_LEN]


def _set(data: bytearray, offset: int, fmt: str, value: int) -> None:
    if offset + struct.calcsize(fmt) <= len(data):
        struct.pack_into(fmt, data, offset, value)


def mutate(rng: random.Random, data: bytes, pool: list[bytes]) -> bytes:
    """One to three structure-aware or blind mutations of ``data``."""
    b = bytearray(data)
    for _ in range(rng.randint(1, 3)):
        op = rng.randrange(12)
        n = len(b)
        if op == 0 and n:  # bit flips
            for _ in range(rng.randint(1, 4)):
                b[rng.randrange(n)] ^= 1 << rng.randrange(8)
        elif op == 1 and n:  # random byte
            b[rng.randrange(n)] = rng.getrandbits(8)
        elif op == 2:  # truncate
            del b[rng.randint(0, n) :]
        elif op == 3:  # extend
            b += bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 40)))
        elif op == 4:  # length field
            v = rng.choice([0, 1, n - 1, n + 1, n + 4, n - 4, 0xFFFF, rng.getrandbits(16)])
            _set(b, 4, "!H", v & 0xFFFF)
        elif op == 5:  # hop count
            v = rng.choice([0, 1, MAX_HOPS, MAX_HOPS + 1, 255, rng.getrandbits(8)])
            if n > 57:
                b[57] = v if rng.random() < 0.5 else min(255, max(0, b[57] + rng.choice([-1, 1])))
        elif op == 6:  # presence flags
            if n > 7:
                flags = int.from_bytes(b[6:8], "big") ^ (1 << rng.randrange(16))
                _set(b, 6, "!H", flags)
        elif op == 7:  # header enums / reserved
            pos = rng.choice([2, 3, 56, 58, 59])
            if pos < n:
                b[pos] = rng.choice([0, 1, 2, 11, 12, 255, rng.getrandbits(8)])
        elif op == 8 and pool:  # splice with another valid message
            other = rng.choice(pool)
            cut = rng.randint(0, min(n, len(other)))
            b = b[:cut] + bytearray(other[cut:])
        elif op == 9 and n:  # delete a slice
            i = rng.randrange(n)
            del b[i : i + rng.randint(1, 8)]
        elif op == 10 and n:  # insert bytes
            i = rng.randrange(n + 1)
            b[i:i] = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 8)))
        elif op == 11 and n > HEADER_LEN:  # block bytes (reserved, proto, wscale, ...)
            b[rng.randrange(HEADER_LEN, n)] = rng.choice([0, 6, 14, 15, 17, 0xFF])
    return bytes(b)


def random_blob(rng: random.Random) -> bytes:
    """Random bytes, sometimes behind a valid magic/version/type so deeper checks run."""
    kind = rng.randrange(4)
    size = rng.choice([0, 1, 2, 3, 4, 59, 60, 76, 100, 216, 512, 513]) if kind == 0 else None
    if size is None:
        size = rng.randint(0, 300)
    body = bytes(rng.getrandbits(8) for _ in range(size))
    if kind >= 2 and size >= 4:
        head = struct.pack("!HBB", MAGIC, VERSION, rng.randint(0, 12))
        body = head + body[4:]
        if kind == 3 and size >= 8:  # consistent length field and no reserved bits
            body = body[:4] + struct.pack("!HH", size, rng.getrandbits(5)) + body[8:]
    return body


# --- harness ---------------------------------------------------------------------------------


def _fail(what: str, data: bytes, exc: BaseException) -> None:
    pytest.fail(f"{what} raised {type(exc).__name__}: {exc!r} on input {data.hex()}")


def feed_codec(codec: ControlCodec, data: bytes, *, check_replay: bool = False) -> None:
    try:
        msg = codec.decode(data, check_replay=check_replay)
    except WireError:
        return
    except Exception as exc:
        _fail("ControlCodec.decode", data, exc)
        return
    # anything accepted is a canonical encoding
    assert codec.encode(msg) == data, data.hex()


def feed_options(data: bytes) -> None:
    try:
        opts = decode_tcp_options(data)
    except WireError:
        return
    except Exception as exc:
        _fail("decode_tcp_options", data, exc)
        return
    try:  # anything accepted can be written again, within the option space
        again = encode_tcp_options(opts)
    except OptionSpaceError as exc:
        _fail("encode_tcp_options(decoded)", data, exc)
        return
    assert decode_tcp_options(again) == opts


def feed_scapy(data: bytes) -> None:
    try:
        pkt = DyscoControl(data)
        _ = pkt.fields, len(pkt)
    except Exception as exc:
        _fail("DyscoControl dissection", data, exc)


@pytest.fixture(scope="module")
def pool() -> list[bytes]:
    rng = random.Random(SEED)
    codec = ControlCodec(KEY)
    return [codec.encode(random_message(rng)) for _ in range(300)]


def _run(n: int, gen: Callable[[int], bytes], feed: Callable[[bytes], None]) -> int:
    for i in range(n):
        feed(gen(i))
    return n


# --- tests -----------------------------------------------------------------------------------


def test_fuzz_codec_random_bytes() -> None:
    rng = random.Random(SEED + 1)
    codec = ControlCodec(KEY)
    done = _run(N_CODEC_RANDOM, lambda _i: random_blob(rng), lambda d: feed_codec(codec, d))
    assert done == N_CODEC_RANDOM


def test_fuzz_codec_mutated(pool: list[bytes]) -> None:
    rng = random.Random(SEED + 2)
    codec = ControlCodec(KEY)
    replaying = ControlCodec(KEY)

    def feed(data: bytes) -> None:
        feed_codec(codec, data)
        if rng.random() < 0.1:
            feed_codec(replaying, data, check_replay=True)

    done = _run(N_CODEC_MUTATED, lambda _i: mutate(rng, rng.choice(pool), pool), feed)
    assert done == N_CODEC_MUTATED


def test_fuzz_codec_mutated_and_resigned(pool: list[bytes]) -> None:
    """Mutations with a valid tag: only the structural checks stand between them and success."""
    rng = random.Random(SEED + 3)
    codec = ControlCodec(KEY)
    replaying = ControlCodec(KEY, replay_window=64)

    def feed(data: bytes) -> None:
        feed_codec(codec, data)
        feed_codec(replaying, data, check_replay=True)

    done = _run(N_CODEC_RESIGNED, lambda _i: resign(mutate(rng, rng.choice(pool), pool)), feed)
    assert done == N_CODEC_RESIGNED


def test_fuzz_tcp_options() -> None:
    rng = random.Random(SEED + 4)
    valid = [encode_tcp_options(random_options(rng)) for _ in range(200)]

    def gen(i: int) -> bytes:
        which = i % 3
        if which == 0:
            return bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 44)))
        if which == 1:
            return random_option_soup(rng)
        return mutate(rng, rng.choice(valid), valid)

    done = _run(N_OPTIONS, gen, feed_options)
    assert done == N_OPTIONS


def test_fuzz_scapy_dissection(pool: list[bytes]) -> None:
    rng = random.Random(SEED + 5)

    def gen(i: int) -> bytes:
        if i % 4 == 0:
            return random_blob(rng)
        data = mutate(rng, rng.choice(pool), pool)
        return resign(data) if i % 4 == 1 else data

    done = _run(N_SCAPY, gen, feed_scapy)
    assert done == N_SCAPY
