"""TCP options as Dysco reads and writes them (``docs/wire-format.md``).

:func:`encode_tcp_options` / :func:`decode_tcp_options` translate between bytes and
:class:`~dysco_proto.packet.TcpOptions`, including the Dysco tag option (RFC 6994 experimental
option, kind 253, ExID ``0x4459``). Pure functions; rejections are
:class:`~dysco_proto.wire_errors.WireError` subclasses.
"""

from __future__ import annotations

import struct
from dataclasses import replace

from dysco_proto.packet import TcpOptions
from dysco_proto.wire_errors import MalformedError, OptionSpaceError, OversizedError
from dysco_proto.wire_errors import uint_field as _uint

TAG_OPTION_KIND = 253  # RFC 6994 experimental option
TAG_EXID = 0x4459  # 'DY'
TAG_OPTION_LEN = 8  # kind, len, ExID(2), tag(4)
MAX_TCP_OPTION_SPACE = 40
MAX_WSCALE = 14  # RFC 7323
_U16 = 0xFFFF
_U32 = 0xFFFF_FFFF

_OPT_EOL = 0
_OPT_NOP = 1
_OPT_MSS = 2
_OPT_WSCALE = 3
_OPT_SACK_PERMITTED = 4
_OPT_SACK = 5
_OPT_TIMESTAMP = 8
_MAX_SACK_BLOCKS = 4  # (40 - 2) // 8
_TAG_OPTION = struct.Struct("!BBHI")
_TAG_EXID_BYTES = TAG_EXID.to_bytes(2, "big")


def _padded(n: int) -> int:
    return n + (-n) % 4


def _options_lengths(opts: TcpOptions) -> tuple[int, int]:
    """Unpadded lengths of the aligned form (NOPs before WS and SACK) and the compact form."""
    n = 0
    nops = 0
    if opts.mss is not None:
        n += 4
    if opts.sack_permitted:
        n += 2
    if opts.timestamp is not None:
        n += 10
    if opts.wscale is not None:
        n += 3
        nops += 1  # NOP + kind 3
    if opts.sack_blocks:
        n += 2 + 8 * len(opts.sack_blocks)
        nops += 2  # NOP NOP + kind 5
    if opts.dysco_tag is not None:
        n += TAG_OPTION_LEN
    return n + nops, n


def _use_compact(opts: TcpOptions) -> bool:
    aligned, _compact = _options_lengths(opts)
    return _padded(aligned) > MAX_TCP_OPTION_SPACE


def options_length(opts: TcpOptions) -> int:
    """Wire length of :func:`encode_tcp_options` output, padding included (may exceed 40)."""
    aligned, compact = _options_lengths(opts)
    if _padded(aligned) <= MAX_TCP_OPTION_SPACE:
        return _padded(aligned)
    return _padded(compact)


def can_add_tag(opts: TcpOptions) -> bool:
    """True iff ``opts`` with ``dysco_tag`` set still fit in the 40-byte option space."""
    return options_length(replace(opts, dysco_tag=0)) <= MAX_TCP_OPTION_SPACE


def encode_tcp_options(opts: TcpOptions) -> bytes:
    """Serialise ``opts`` in canonical order, padded with EOL to a multiple of 4 bytes.

    Order: MSS, SACK-permitted, timestamps, NOP + window scale, NOP NOP + SACK blocks, Dysco
    tag. If that does not fit in 40 bytes, the alignment NOPs are left out (compact form), so
    whatever :func:`decode_tcp_options` returned can always be encoded again. Raises
    :class:`OptionSpaceError` beyond 40 bytes (or more than 4 SACK blocks) and
    :class:`MalformedError` for out-of-range values.
    """
    if not isinstance(opts, TcpOptions):
        raise MalformedError(f"not TcpOptions: {opts!r}", code="bad_options")
    if not isinstance(opts.sack_blocks, tuple | list):
        raise MalformedError("sack_blocks must be a sequence of pairs", code="bad_options")
    if len(opts.sack_blocks) > _MAX_SACK_BLOCKS:
        raise OptionSpaceError(f"{len(opts.sack_blocks)} SACK blocks > {_MAX_SACK_BLOCKS}")
    total = options_length(opts)
    if total > MAX_TCP_OPTION_SPACE:
        raise OptionSpaceError(f"options need {total} bytes > {MAX_TCP_OPTION_SPACE}")
    compact = _use_compact(opts)
    out = bytearray()
    if opts.mss is not None:
        out += struct.pack("!BBH", _OPT_MSS, 4, _uint(opts.mss, _U16, "mss"))
    if opts.sack_permitted:
        out += b"\x04\x02"
    if opts.timestamp is not None:
        ts = opts.timestamp
        if not isinstance(ts, tuple | list) or len(ts) != 2:
            raise MalformedError("timestamp must be (TSval, TSecr)", code="bad_options")
        out += struct.pack(
            "!BBII",
            _OPT_TIMESTAMP,
            10,
            _uint(ts[0], _U32, "TSval"),
            _uint(ts[1], _U32, "TSecr"),
        )
    if opts.wscale is not None:
        if not compact:
            out.append(_OPT_NOP)
        out += struct.pack("!BBB", _OPT_WSCALE, 3, _uint(opts.wscale, MAX_WSCALE, "wscale"))
    if opts.sack_blocks:
        if not compact:
            out += b"\x01\x01"
        out += struct.pack("!BB", _OPT_SACK, 2 + 8 * len(opts.sack_blocks))
        for block in opts.sack_blocks:
            if not isinstance(block, tuple | list) or len(block) != 2:
                raise MalformedError("SACK block must be (left, right)", code="bad_options")
            out += struct.pack(
                "!II", _uint(block[0], _U32, "SACK left"), _uint(block[1], _U32, "SACK right")
            )
    if opts.dysco_tag is not None:
        out += _TAG_OPTION.pack(
            TAG_OPTION_KIND, TAG_OPTION_LEN, TAG_EXID, _uint(opts.dysco_tag, _U32, "dysco_tag")
        )
    out += bytes((-len(out)) % 4)  # EOL then zero padding
    return bytes(out)


def decode_tcp_options(data: bytes) -> TcpOptions:
    """Parse TCP option bytes (as they follow the fixed TCP header).

    NOP is skipped, EOL ends the list, unknown options (and kind 253 with another ExID) are
    skipped by their length. A window scale above 14 is read as 14 (RFC 7323). Repeated
    options: the last one wins. Raises :class:`OversizedError` for more than 40 bytes and
    :class:`MalformedError` for a missing or bad length byte, an option running past the end,
    or a known option with the wrong length.
    """
    if not isinstance(data, bytes | bytearray | memoryview):
        raise MalformedError(f"expected bytes, got {type(data).__name__}", code="not_bytes")
    data = bytes(data)
    n = len(data)
    if n > MAX_TCP_OPTION_SPACE:
        raise OversizedError(f"{n} bytes of options > {MAX_TCP_OPTION_SPACE}")
    mss: int | None = None
    wscale: int | None = None
    sack_permitted = False
    timestamp: tuple[int, int] | None = None
    sack_blocks: tuple[tuple[int, int], ...] = ()
    dysco_tag: int | None = None
    i = 0
    while i < n:
        kind = data[i]
        if kind == _OPT_EOL:
            break
        if kind == _OPT_NOP:
            i += 1
            continue
        if i + 1 >= n:
            raise MalformedError(f"option {kind} at {i} has no length byte", code="bad_option")
        olen = data[i + 1]
        if olen < 2:
            raise MalformedError(f"option {kind} at {i}: length {olen} < 2", code="bad_option")
        if i + olen > n:
            raise MalformedError(
                f"option {kind} at {i}: length {olen} runs past the end", code="bad_option"
            )
        body = data[i + 2 : i + olen]
        if kind == _OPT_MSS:
            if olen != 4:
                raise MalformedError(f"MSS option length {olen}", code="bad_option")
            mss = (body[0] << 8) | body[1]
        elif kind == _OPT_WSCALE:
            if olen != 3:
                raise MalformedError(f"window scale option length {olen}", code="bad_option")
            wscale = min(body[0], MAX_WSCALE)
        elif kind == _OPT_SACK_PERMITTED:
            if olen != 2:
                raise MalformedError(f"SACK-permitted option length {olen}", code="bad_option")
            sack_permitted = True
        elif kind == _OPT_SACK:
            if olen < 10 or (olen - 2) % 8:
                raise MalformedError(f"SACK option length {olen}", code="bad_option")
            edges = struct.unpack(f"!{(olen - 2) // 4}I", body)
            sack_blocks = tuple(zip(edges[0::2], edges[1::2], strict=True))
        elif kind == _OPT_TIMESTAMP:
            if olen != 10:
                raise MalformedError(f"timestamp option length {olen}", code="bad_option")
            tsval, tsecr = struct.unpack("!II", body)
            timestamp = (tsval, tsecr)
        elif kind == TAG_OPTION_KIND and olen >= 4 and body[:2] == _TAG_EXID_BYTES:
            if olen != TAG_OPTION_LEN:
                raise MalformedError(f"Dysco tag option length {olen}", code="bad_option")
            dysco_tag = int.from_bytes(body[2:6], "big")
        i += olen
    return TcpOptions(
        mss=mss,
        wscale=wscale,
        sack_permitted=sack_permitted,
        timestamp=timestamp,
        sack_blocks=sack_blocks,
        dysco_tag=dysco_tag,
    )
