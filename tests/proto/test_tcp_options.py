"""TCP option encoding/decoding and the Dysco tag option space rules."""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dysco_proto.packet import TcpOptions
from dysco_proto.wire import (
    MAX_TCP_OPTION_SPACE,
    TAG_EXID,
    TAG_OPTION_KIND,
    TAG_OPTION_LEN,
    MalformedError,
    OptionSpaceError,
    OversizedError,
    can_add_tag,
    decode_tcp_options,
    encode_tcp_options,
    options_length,
)

U16_BOUNDARIES = [0, 1, 0x00FF, 0xFF00, 0xFFFF]
LINUX_SYN = TcpOptions(mss=1460, wscale=7, sack_permitted=True, timestamp=(0x11223344, 0))
# what Linux puts on the wire for LINUX_SYN: mss, sackOK, TS, nop, wscale
LINUX_SYN_BYTES = bytes.fromhex("020405b4 0402 080a 11223344 00000000 01 030307")

u32 = st.integers(0, 0xFFFF_FFFF)
tcp_options = st.builds(
    TcpOptions,
    mss=st.none() | st.integers(0, 0xFFFF),
    wscale=st.none() | st.integers(0, 14),
    sack_permitted=st.booleans(),
    timestamp=st.none() | st.tuples(u32, u32),
    sack_blocks=st.lists(st.tuples(u32, u32), max_size=4).map(tuple),
    dysco_tag=st.none() | u32,
)


# --- encoding --------------------------------------------------------------------------------


def test_linux_syn_layout() -> None:
    data = encode_tcp_options(LINUX_SYN)
    assert data == LINUX_SYN_BYTES
    assert len(data) == options_length(LINUX_SYN) == 20
    assert decode_tcp_options(data) == LINUX_SYN


def test_linux_syn_with_tag() -> None:
    assert can_add_tag(LINUX_SYN)
    tagged = replace(LINUX_SYN, dysco_tag=0xCAFEBABE)
    data = encode_tcp_options(tagged)
    assert len(data) == options_length(tagged) == 28
    assert data[20:] == bytes([TAG_OPTION_KIND, TAG_OPTION_LEN]) + bytes.fromhex("4459 cafebabe")
    assert decode_tcp_options(data) == tagged


def test_empty() -> None:
    assert encode_tcp_options(TcpOptions()) == b""
    assert decode_tcp_options(b"") == TcpOptions()
    assert options_length(TcpOptions()) == 0


def test_padding_to_multiple_of_four() -> None:
    opts = TcpOptions(sack_permitted=True)
    data = encode_tcp_options(opts)
    assert data == b"\x04\x02\x00\x00"
    assert decode_tcp_options(data) == opts
    opts = TcpOptions(mss=536, sack_permitted=True, wscale=0)  # 4 + 2 + 4 = 10 -> 12
    data = encode_tcp_options(opts)
    assert len(data) == 12 and data[-2:] == b"\x00\x00"
    assert decode_tcp_options(data) == opts


@settings(max_examples=200, deadline=None)
@given(opts=tcp_options)
def test_round_trip_property(opts: TcpOptions) -> None:
    n = options_length(opts)
    assert n % 4 == 0
    if n > MAX_TCP_OPTION_SPACE:
        with pytest.raises(OptionSpaceError):
            encode_tcp_options(opts)
        return
    data = encode_tcp_options(opts)
    assert len(data) == n
    assert decode_tcp_options(data) == opts
    assert can_add_tag(opts) == (options_length(replace(opts, dysco_tag=1)) <= 40)


@pytest.mark.parametrize("mss", U16_BOUNDARIES)
@pytest.mark.parametrize("wscale", [0, 1, 14])
@pytest.mark.parametrize("sack", [False, True])
def test_16bit_and_flag_boundaries(mss: int, wscale: int, sack: bool) -> None:
    """Regression: 16-bit MSS and the WS/SACK state must survive (no 32-bit swaps)."""
    opts = TcpOptions(mss=mss, wscale=wscale, sack_permitted=sack, timestamp=(1, 2))
    data = encode_tcp_options(opts)
    assert data[:4] == bytes([2, 4]) + mss.to_bytes(2, "big")
    assert decode_tcp_options(data) == opts


def test_sack_blocks_and_timestamps_boundaries() -> None:
    blocks = ((0, 0xFFFF_FFFF), (0xFFFF, 0x1_0000), (0xFF00_0000, 1))
    opts = TcpOptions(timestamp=(0xFFFF_FFFF, 0), sack_blocks=blocks)
    data = encode_tcp_options(opts)
    assert len(data) == 10 + 4 + 24 + 2  # padded to 40
    assert decode_tcp_options(data) == opts


@pytest.mark.parametrize(
    "opts",
    [
        TcpOptions(mss=65536),
        TcpOptions(mss=-1),
        TcpOptions(wscale=15),
        TcpOptions(wscale=-1),
        TcpOptions(timestamp=(2**32, 0)),
        TcpOptions(timestamp=(0, -1)),
        TcpOptions(timestamp=(1, 2, 3)),  # type: ignore[arg-type]
        TcpOptions(sack_blocks=((0, 2**32),)),
        TcpOptions(sack_blocks=((1,),)),  # type: ignore[arg-type]
        TcpOptions(dysco_tag=2**32),
        TcpOptions(dysco_tag=-1),
    ],
)
def test_encode_rejects_out_of_range(opts: TcpOptions) -> None:
    with pytest.raises(MalformedError):
        encode_tcp_options(opts)


def test_encode_rejects_non_options() -> None:
    with pytest.raises(MalformedError):
        encode_tcp_options(b"\x01")  # type: ignore[arg-type]


# --- option space and the tag ----------------------------------------------------------------


FULL_SACK = TcpOptions(
    mss=1460,
    sack_permitted=True,
    timestamp=(1, 2),
    wscale=7,
    sack_blocks=((1, 2), (3, 4), (5, 6), (7, 8)),
)


def test_tag_does_not_fit_with_four_sack_blocks() -> None:
    """Regression: the prototype appended its tag without checking the 40-byte limit."""
    assert not can_add_tag(FULL_SACK)
    with pytest.raises(OptionSpaceError):
        encode_tcp_options(replace(FULL_SACK, dysco_tag=1))
    with pytest.raises(OptionSpaceError):  # does not fit even without the tag
        encode_tcp_options(FULL_SACK)


def test_tag_fits_without_but_not_with() -> None:
    opts = TcpOptions(timestamp=(1, 2), sack_blocks=((1, 2), (3, 4), (5, 6)))  # 38 -> 40
    assert options_length(opts) == 40
    assert len(encode_tcp_options(opts)) == 40
    assert not can_add_tag(opts)
    with pytest.raises(OptionSpaceError):
        encode_tcp_options(replace(opts, dysco_tag=5))


def test_tag_exactly_fills_option_space() -> None:
    opts = replace(LINUX_SYN, sack_blocks=((10, 20),))  # 20 + 12 = 32, + 8 = 40
    assert can_add_tag(opts)
    tagged = replace(opts, dysco_tag=0xFFFF_FFFF)
    data = encode_tcp_options(tagged)
    assert len(data) == MAX_TCP_OPTION_SPACE
    assert decode_tcp_options(data) == tagged
    assert not can_add_tag(replace(opts, sack_blocks=((10, 20), (30, 40))))


def test_can_add_tag_with_tag_already_present() -> None:
    assert can_add_tag(replace(LINUX_SYN, dysco_tag=3))


def test_compact_form_when_aligned_form_does_not_fit() -> None:
    """Whatever the decoder accepted can be encoded again: NOPs are dropped if needed."""
    packed = (
        b"\x08\x0a"
        + bytes(range(8))  # TS
        + b"\x03\x03\x05"  # WS without a NOP
        + b"\x05\x1a"
        + bytes(24)  # three SACK blocks without NOPs
        + b"\x00"
    )
    assert len(packed) == 40
    opts = decode_tcp_options(packed)
    assert opts.wscale == 5 and len(opts.sack_blocks) == 3
    assert options_length(opts) == 40  # aligned form would need 42
    data = encode_tcp_options(opts)
    assert data == packed
    assert decode_tcp_options(data) == opts


@settings(max_examples=200, deadline=None)
@given(opts=tcp_options, noise=st.lists(st.sampled_from([b"\x01", b"\x1e\x02"]), max_size=4))
def test_decoded_options_always_reencode(opts: TcpOptions, noise: list[bytes]) -> None:
    if options_length(opts) > MAX_TCP_OPTION_SPACE:
        return
    data = b"".join(noise) + encode_tcp_options(opts)
    if len(data) > MAX_TCP_OPTION_SPACE:
        return
    decoded = decode_tcp_options(data)
    assert decoded == opts
    assert decode_tcp_options(encode_tcp_options(decoded)) == opts


def test_too_many_sack_blocks() -> None:
    opts = TcpOptions(sack_blocks=tuple((i, i + 1) for i in range(5)))
    with pytest.raises(OptionSpaceError):
        encode_tcp_options(opts)


# --- tolerant decoding -----------------------------------------------------------------------


def test_nops_and_unknown_options_are_skipped() -> None:
    data = (
        b"\x01\x01"
        + b"\x1e\x06\x00\x00\x12\x34"  # MPTCP (30), unknown to us
        + b"\x02\x04\x05\xb4"
        + b"\x01"
        + b"\x22\x02"  # TFO cookie request (34), empty
        + b"\xfe\x06\xf9\x89\x00\x00"  # kind 254, TFO ExID
        + b"\xfd\x08\x12\x34\x00\x00\x00\x01"  # kind 253, someone else's ExID
        + b"\xfd\x02"  # kind 253 too short to hold an ExID
        + b"\x01\x03\x03\x09"
    )
    assert len(data) <= 40
    assert decode_tcp_options(data) == TcpOptions(mss=1460, wscale=9)


def test_eol_ends_the_list() -> None:
    data = b"\x02\x04\x05\xb4\x00\xff\xff\x02\x04\x00\x01"
    assert decode_tcp_options(data) == TcpOptions(mss=1460)


def test_wscale_above_14_is_read_as_14() -> None:
    assert decode_tcp_options(b"\x03\x03\x0f\x00").wscale == 14
    assert decode_tcp_options(b"\x03\x03\xff\x00").wscale == 14


def test_repeated_option_last_wins() -> None:
    data = b"\x02\x04\x00\x01\x02\x04\x00\x02"
    assert decode_tcp_options(data).mss == 2


def test_tag_anywhere_in_the_list() -> None:
    tag = bytes([TAG_OPTION_KIND, 8]) + TAG_EXID.to_bytes(2, "big") + (7).to_bytes(4, "big")
    data = tag + b"\x01\x01\x04\x02" + b"\x02\x04\x05\xb4"
    assert decode_tcp_options(data) == TcpOptions(mss=1460, sack_permitted=True, dysco_tag=7)


def test_real_linux_synack() -> None:
    # SYN-ACK options from a Linux 6.x capture: mss 1460, sackOK, TS val ecr, nop, wscale 7
    data = bytes.fromhex("020405b40402080a9d5c0a2ef1f0beb601030307")
    assert decode_tcp_options(data) == TcpOptions(
        mss=1460, sack_permitted=True, timestamp=(0x9D5C0A2E, 0xF1F0BEB6), wscale=7
    )
    # a data segment with TS and two SACK blocks: nop nop TS nop nop sack
    data = bytes.fromhex("0101080a0000000100000002 0101051200000064000000c8000001f4000003e8")
    assert decode_tcp_options(data) == TcpOptions(
        timestamp=(1, 2), sack_blocks=((100, 200), (500, 1000))
    )


# --- malformed -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "data",
    [
        b"\x02",  # kind without length
        b"\x01\x01\x01\x1e",  # unknown kind without length at the end
        b"\x1e\x00",  # length 0
        b"\x1e\x01",  # length 1
        b"\x1e\x05\x00\x00",  # runs past the end
        b"\x02\x03\x05",  # MSS length 3
        b"\x02\x05\x05\xb4\x00",  # MSS length 5
        b"\x02\x04\x05",  # MSS truncated
        b"\x03\x02",  # WS length 2
        b"\x03\x04\x07\x00",  # WS length 4
        b"\x04\x03\x00",  # SACK-permitted length 3
        b"\x05\x02",  # SACK with no blocks
        b"\x05\x09" + bytes(7),
        b"\x05\x0b" + bytes(9),
        b"\x05\x0a" + bytes(7),  # SACK truncated
        b"\x08\x09" + bytes(7),  # TS length 9
        b"\x08\x0a" + bytes(7),  # TS truncated
        b"\xfd\x07\x44\x59\x00\x00\x00",  # our tag, length 7
        b"\xfd\x09\x44\x59\x00\x00\x00\x00\x00",  # our tag, length 9
        b"\xfd\x08\x44\x59\x00\x00",  # our tag truncated
    ],
)
def test_malformed(data: bytes) -> None:
    with pytest.raises(MalformedError):
        decode_tcp_options(data)


def test_oversized() -> None:
    with pytest.raises(OversizedError):
        decode_tcp_options(b"\x01" * 41)
    with pytest.raises(OversizedError):
        decode_tcp_options(bytes(60))
    assert decode_tcp_options(b"\x01" * 40) == TcpOptions()


def test_non_bytes() -> None:
    for junk in (None, "x", 5):
        with pytest.raises(MalformedError):
            decode_tcp_options(junk)  # type: ignore[arg-type]
    assert decode_tcp_options(bytearray(LINUX_SYN_BYTES)) == LINUX_SYN  # type: ignore[arg-type]


def test_every_truncation_of_a_valid_encoding() -> None:
    data = encode_tcp_options(replace(LINUX_SYN, sack_blocks=((1, 2),), dysco_tag=9))
    # MSS 0-4, SACK-permitted 4-6, TS 6-16, NOP 16, WS 17-20, NOP NOP 20-22, SACK 22-32, tag 32-40
    boundaries = {0, 4, 6, 16, 17, 20, 21, 22, 32}
    assert len(data) == 40
    for n in range(len(data)):
        if n in boundaries:
            decode_tcp_options(data[:n])
        else:
            with pytest.raises(MalformedError):
                decode_tcp_options(data[:n])
