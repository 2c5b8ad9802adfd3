"""Scapy layers for the Dysco wire formats (pcaps, debugging, crafting test packets).

Importing this module binds :class:`DyscoControl` to UDP source and destination port
:data:`~dysco_proto.wire.CONTROL_PORT`. The layout is the one of :mod:`dysco_proto.wire`
(``docs/wire-format.md``): fixed header, optional blocks as conditional fields (present
according to the ``flags`` presence bits), the hop list and the raw HMAC tag.

Dissection never raises: a truncated or inconsistent message keeps the fields that fit and
leaves the rest as ``Padding``. Scapy does not verify the HMAC; use
:class:`~dysco_proto.wire.ControlCodec` for that, or :func:`sign` to produce a valid tag.

The Dysco tag TCP option (kind 253, ExID 0x4459) appears in scapy's TCP ``options`` list as
``(253, b"\\x44\\x59" + tag.to_bytes(4, "big"))``; see :func:`tag_option`, :func:`get_tag`,
:func:`set_tag` and :func:`strip_tag`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from scapy.fields import (
    ByteEnumField,
    ByteField,
    ConditionalField,
    FieldLenField,
    FieldListField,
    FlagsField,
    IntField,
    IPField,
    LongField,
    ShortField,
    X3BytesField,
    XIntField,
    XShortField,
    XStrFixedLenField,
)
from scapy.layers.inet import TCP, UDP
from scapy.packet import Packet, bind_layers, bind_top_down

from dysco_proto.wire import (
    CONTROL_PORT,
    HMAC_TAG_LEN,
    MAGIC,
    NO_WSCALE,
    TAG_EXID,
    TAG_OPTION_KIND,
    VERSION,
    ControlCodec,
    MsgType,
    NackReason,
    Presence,
)

__all__ = [
    "DyscoControl",
    "chain_from_tcp",
    "get_tag",
    "set_tag",
    "sign",
    "strip_tag",
    "tag_option",
]

_TYPE_NAMES = {t.value: t.name for t in MsgType}
_REASON_NAMES = {r.value: r.name for r in NackReason}
_PROTO_NAMES = {6: "tcp", 17: "udp"}
_PRESENCE_NAMES = ["SUBSESSION", "LEFT_SESSION", "RIGHT_SESSION", "HANDSHAKE", "CUTOFF"]
_EXID_BYTES = TAG_EXID.to_bytes(2, "big")


def _present(bit: Presence) -> Callable[[Packet], bool]:
    def cond(pkt: Packet) -> bool:
        return bool(int(pkt.flags) & int(bit))

    return cond


def _tuple_fields(prefix: str, bit: Presence) -> list[ConditionalField]:
    cond = _present(bit)
    return [
        ConditionalField(IPField(f"{prefix}_src", "0.0.0.0"), cond),
        ConditionalField(IPField(f"{prefix}_dst", "0.0.0.0"), cond),
        ConditionalField(ShortField(f"{prefix}_sport", 0), cond),
        ConditionalField(ShortField(f"{prefix}_dport", 0), cond),
        ConditionalField(ByteEnumField(f"{prefix}_proto", 6, _PROTO_NAMES), cond),
        ConditionalField(X3BytesField(f"{prefix}_reserved", 0), cond),
    ]


_HS = _present(Presence.HANDSHAKE)


class DyscoControl(Packet):
    """A Dysco control message (UDP to port 35000, or the payload of a setup SYN).

    Field names: header ``magic version type length flags msg_id sender req_anchor req_number
    left_anchor right_anchor lr_seq lr_ts rl_seq rl_ts tag reason hop_count reserved``; blocks
    ``sub_*`` / ``ls_*`` / ``rs_*`` (``src dst sport dport proto reserved``), ``hs_*``
    (``seq ack tsval tsecr mss wscale_host wscale_peer flags reserved``; window scale 255 means
    none), ``cutoff``; then ``hops`` and ``hmac``. ``length`` and ``hop_count`` are computed
    when left unset.
    """

    name = "DyscoControl"
    fields_desc = [
        XShortField("magic", MAGIC),
        ByteField("version", VERSION),
        ByteEnumField("type", int(MsgType.CHAIN), _TYPE_NAMES),
        ShortField("length", None),
        FlagsField("flags", 0, 16, _PRESENCE_NAMES),
        LongField("msg_id", 0),
        IPField("sender", "0.0.0.0"),
        IPField("req_anchor", "0.0.0.0"),
        IntField("req_number", 0),
        IPField("left_anchor", "0.0.0.0"),
        IPField("right_anchor", "0.0.0.0"),
        XIntField("lr_seq", 0),
        XIntField("lr_ts", 0),
        XIntField("rl_seq", 0),
        XIntField("rl_ts", 0),
        XIntField("tag", 0),
        ByteEnumField("reason", 0, _REASON_NAMES),
        FieldLenField("hop_count", None, fmt="B", count_of="hops"),
        ShortField("reserved", 0),
        *_tuple_fields("sub", Presence.SUBSESSION),
        *_tuple_fields("ls", Presence.LEFT_SESSION),
        *_tuple_fields("rs", Presence.RIGHT_SESSION),
        ConditionalField(IntField("hs_seq", 0), _HS),
        ConditionalField(IntField("hs_ack", 0), _HS),
        ConditionalField(IntField("hs_tsval", 0), _HS),
        ConditionalField(IntField("hs_tsecr", 0), _HS),
        ConditionalField(ShortField("hs_mss", 0), _HS),
        ConditionalField(ByteField("hs_wscale_host", NO_WSCALE), _HS),
        ConditionalField(ByteField("hs_wscale_peer", NO_WSCALE), _HS),
        ConditionalField(FlagsField("hs_flags", 0, 8, ["SACK_OK", "TS_OK", "SYNACK_UNKNOWN"]), _HS),
        ConditionalField(X3BytesField("hs_reserved", 0), _HS),
        ConditionalField(IntField("cutoff", 0), _present(Presence.CUTOFF)),
        FieldListField("hops", [], IPField("", "0.0.0.0"), count_from=lambda pkt: pkt.hop_count),
        XStrFixedLenField("hmac", b"", HMAC_TAG_LEN),
    ]

    def do_dissect(self, s: bytes) -> bytes:
        """Dissect; on truncated or inconsistent input keep the fields that fit.

        Scapy's own loop raises (struct.error, OSError...) when a field runs past the end of
        the data; here such a field and everything after it are left for the payload.
        """
        try:
            rest: bytes = super().do_dissect(s)
            return rest
        except Exception:
            pass
        self.fields = {}
        self.raw_packet_cache_fields = {}
        raw = s
        for f in self.fields_desc:
            try:
                s2, fval = f.getfield(self, s)
            except Exception:
                break
            s = s2
            if f.isconditional and fval is None:
                continue
            self.fields[f.name] = fval
        self.raw_packet_cache = raw[: len(raw) - len(s)]
        self.explicit = 1
        return s

    def post_build(self, pkt: bytes, pay: bytes) -> bytes:
        """Fill in ``length`` (this layer's bytes, HMAC included) when it was left unset."""
        if self.length is None:
            n = len(pkt)
            pkt = pkt[:4] + bytes(((n >> 8) & 0xFF, n & 0xFF)) + pkt[6:]
        return pkt + pay

    def extract_padding(self, s: bytes) -> tuple[bytes, bytes | None]:
        """The message is self-delimiting: whatever follows it is padding."""
        return b"", s or None

    def mysummary(self) -> str:
        return str(self.sprintf("Dysco %type% req=%req_anchor%/%req_number% id=%msg_id%"))


def sign(pkt: DyscoControl, key: bytes) -> bytes:
    """Build ``pkt`` (``length``/``hop_count`` computed if unset) with a valid HMAC tag."""
    copy = pkt.copy()
    copy.hmac = bytes(HMAC_TAG_LEN)
    copy.remove_payload()
    raw = bytes(copy)
    body = raw[:-HMAC_TAG_LEN]
    return body + ControlCodec(key).mac(body)


def chain_from_tcp(pkt: Packet) -> DyscoControl | None:
    """Dissect the TCP payload of ``pkt`` as a Dysco message if it starts like one."""
    if TCP not in pkt:
        return None
    data = bytes(pkt[TCP].payload)
    if ControlCodec.peek_type(data) is None:
        return None
    return DyscoControl(data)


def tag_option(tag: int) -> tuple[int, bytes]:
    """The Dysco tag as an entry of scapy's TCP ``options`` list."""
    if not 0 <= tag <= 0xFFFF_FFFF:
        raise ValueError(f"tag out of range: {tag}")
    return (TAG_OPTION_KIND, _EXID_BYTES + tag.to_bytes(4, "big"))


def _is_tag(opt: Any) -> bool:
    return (
        isinstance(opt, tuple)
        and len(opt) == 2
        and opt[0] == TAG_OPTION_KIND
        and isinstance(opt[1], bytes)
        and len(opt[1]) == 6
        and opt[1][:2] == _EXID_BYTES
    )


def get_tag(options: Iterable[Any]) -> int | None:
    """The Dysco tag in a scapy TCP ``options`` list, or None (the last one wins)."""
    tag: int | None = None
    for opt in options:
        if _is_tag(opt):
            tag = int.from_bytes(opt[1][2:], "big")
    return tag


def strip_tag(options: Iterable[Any]) -> list[Any]:
    """``options`` without any Dysco tag option."""
    return [opt for opt in options if not _is_tag(opt)]


def set_tag(options: Iterable[Any], tag: int) -> list[Any]:
    """``options`` with exactly one Dysco tag option, appended at the end."""
    return [*strip_tag(options), tag_option(tag)]


bind_layers(UDP, DyscoControl, sport=CONTROL_PORT)
bind_layers(UDP, DyscoControl, dport=CONTROL_PORT)
# building UDP()/DyscoControl() fills in both ports
bind_top_down(UDP, DyscoControl, sport=CONTROL_PORT, dport=CONTROL_PORT)
