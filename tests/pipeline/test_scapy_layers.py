"""Scapy layers agree with the codec, survive pcaps, and never raise on dissection."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from scapy.layers.inet import IP, TCP, UDP
from scapy.packet import Padding, Raw
from scapy.utils import rdpcap, wrpcap

from dysco_pipeline.scapy_layers import (
    DyscoControl,
    chain_from_tcp,
    get_tag,
    set_tag,
    sign,
    strip_tag,
    tag_option,
)
from dysco_proto.packet import FiveTuple, TcpOptions
from dysco_proto.wire import (
    CONTROL_PORT,
    HMAC_TAG_LEN,
    MAGIC,
    MAX_HOPS,
    VERSION,
    AuthError,
    ControlCodec,
    ControlMessage,
    Handshake,
    MsgType,
    NackReason,
    RequestId,
    Transform,
    decode_tcp_options,
    encode_tcp_options,
)
from tests.proto.test_wire import control_messages

KEY = b"deployment-key-0123456789abcdef!"


def expected_fields(msg: ControlMessage, data: bytes) -> dict[str, Any]:
    """The scapy field values a ControlMessage must dissect to."""
    flags = 0
    out: dict[str, Any] = {
        "magic": MAGIC,
        "version": VERSION,
        "type": int(msg.type),
        "length": len(data),
        "msg_id": msg.msg_id,
        "sender": msg.sender,
        "req_anchor": msg.request.anchor,
        "req_number": msg.request.number,
        "left_anchor": msg.left_anchor,
        "right_anchor": msg.right_anchor,
        "lr_seq": msg.delta_lr.seq,
        "lr_ts": msg.delta_lr.ts,
        "rl_seq": msg.delta_rl.seq,
        "rl_ts": msg.delta_rl.ts,
        "tag": msg.tag,
        "reason": int(msg.reason),
        "hop_count": len(msg.hops),
        "reserved": 0,
        "hops": list(msg.hops),
        "hmac": data[-HMAC_TAG_LEN:],
    }
    for bit, prefix, t in (
        (1, "sub", msg.subsession),
        (2, "ls", msg.left_session),
        (4, "rs", msg.right_session),
    ):
        if t is not None:
            flags |= bit
            out.update(
                {
                    f"{prefix}_src": t.src_ip,
                    f"{prefix}_dst": t.dst_ip,
                    f"{prefix}_sport": t.src_port,
                    f"{prefix}_dport": t.dst_port,
                    f"{prefix}_proto": t.proto,
                    f"{prefix}_reserved": 0,
                }
            )
    if msg.handshake is not None:
        flags |= 8
        hs = msg.handshake
        out.update(
            {
                "hs_seq": hs.seq,
                "hs_ack": hs.ack,
                "hs_tsval": hs.tsval,
                "hs_tsecr": hs.tsecr,
                "hs_mss": hs.mss,
                "hs_wscale_host": 255 if hs.wscale_host is None else hs.wscale_host,
                "hs_wscale_peer": 255 if hs.wscale_peer is None else hs.wscale_peer,
                "hs_flags": int(hs.sack_ok)
                | (int(hs.ts_ok) << 1)
                | (int(not hs.synack_known) << 2),
                "hs_reserved": 0,
            }
        )
    if msg.cutoff is not None:
        flags |= 16
        out["cutoff"] = msg.cutoff
    out["flags"] = flags
    return out


def actual_fields(pkt: DyscoControl) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for name, value in pkt.fields.items():
        if name in ("flags", "hs_flags"):
            value = int(value)
        values[name] = value
    return values


def sample_messages() -> list[ControlMessage]:
    full = ControlMessage(
        type=MsgType.SYN,
        request=RequestId("10.0.0.1", 42),
        sender="10.0.0.1",
        msg_id=2**64 - 1,
        left_anchor="10.0.0.1",
        right_anchor="10.0.0.9",
        subsession=FiveTuple("10.0.0.1", 0xFF00, "10.0.0.5", 0x00FF),
        left_session=FiveTuple("192.168.0.1", 0xFFFF, "198.51.100.7", 1),
        right_session=FiveTuple("192.168.0.1", 0, "198.51.100.7", 443, 17),
        delta_lr=Transform(0xFFFF_FFFF, 1),
        delta_rl=Transform(0x8000_0000, 0xFFFF),
        handshake=Handshake(1, 2, 3, 4, 14, None, True, False, 0xFFFF),
        cutoff=0xDEADBEEF,
        hops=tuple(f"10.9.0.{i}" for i in range(MAX_HOPS)),
        reason=NackReason.BUSY,
        tag=0xFFFF_FFFF,
    )
    msgs = [full]
    for i, mtype in enumerate(MsgType):
        msgs.append(ControlMessage(mtype, RequestId("10.0.0.1", i), "10.0.0.2", msg_id=i + 1))
    return msgs


@pytest.mark.parametrize("index", range(len(sample_messages())))
def test_codec_bytes_dissect_to_same_fields(index: int) -> None:
    msg = sample_messages()[index]
    data = ControlCodec(KEY).encode(msg)
    pkt = DyscoControl(data)
    assert actual_fields(pkt) == expected_fields(msg, data)
    assert bytes(pkt) == data
    assert Raw not in pkt and Padding not in pkt


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(msg=control_messages())
def test_codec_bytes_dissect_property(msg: ControlMessage) -> None:
    data = ControlCodec(KEY).encode(msg)
    pkt = DyscoControl(data)
    assert actual_fields(pkt) == expected_fields(msg, data)
    assert bytes(pkt) == data


def test_udp_binding_both_ports() -> None:
    data = ControlCodec(KEY).encode(sample_messages()[0])
    for sport, dport in ((12345, CONTROL_PORT), (CONTROL_PORT, 12345)):
        wire = bytes(IP(src="10.0.0.1", dst="10.0.0.9") / UDP(sport=sport, dport=dport) / data)
        pkt = IP(wire)
        assert DyscoControl in pkt
        assert bytes(pkt[DyscoControl]) == data
    built = IP() / UDP() / DyscoControl()
    assert built[UDP].sport == CONTROL_PORT and built[UDP].dport == CONTROL_PORT
    other = IP(bytes(IP() / UDP(sport=1, dport=2) / data))
    assert DyscoControl not in other


def test_pcap_round_trip(tmp_path: Path) -> None:
    codec = ControlCodec(KEY)
    msgs = sample_messages()
    frames = [
        IP(src=m.sender, dst="10.0.0.9")
        / UDP(sport=CONTROL_PORT, dport=CONTROL_PORT)
        / codec.encode(m)
        for m in msgs
    ]
    path = tmp_path / "dysco.pcap"
    wrpcap(str(path), frames)
    back = rdpcap(str(path))
    assert len(back) == len(msgs)
    reader = ControlCodec(KEY)
    for msg, pkt in zip(msgs, back, strict=True):
        ctl = pkt[DyscoControl]
        data = bytes(ctl)
        assert actual_fields(ctl) == expected_fields(msg, data)
        assert reader.decode(data) == msg


def test_sign_builds_valid_messages() -> None:
    pkt = DyscoControl(
        type="ACK_LOCK",
        flags="SUBSESSION+CUTOFF",
        msg_id=5,
        sender="10.0.0.3",
        req_anchor="10.0.0.1",
        req_number=7,
        sub_src="10.0.0.1",
        sub_dst="10.0.0.3",
        sub_sport=40000,
        sub_dport=80,
        cutoff=1234,
        hops=["10.0.0.4", "10.0.0.5"],
    )
    data = sign(pkt, KEY)
    msg = ControlCodec(KEY).decode(data)
    assert msg.type is MsgType.ACK_LOCK
    assert msg.subsession == FiveTuple("10.0.0.1", 40000, "10.0.0.3", 80)
    assert msg.cutoff == 1234 and msg.hops == ("10.0.0.4", "10.0.0.5")
    assert DyscoControl(data).length == len(data)
    with pytest.raises(AuthError):
        ControlCodec(b"x" * 16).decode(data)


def test_truncated_dissection_keeps_what_fits() -> None:
    data = ControlCodec(KEY).encode(sample_messages()[0])
    for n in (1, 3, 7, 59, 60, 61, 75, 100, len(data) - 17, len(data) - 1):
        pkt = DyscoControl(data[:n])  # must not raise
        assert bytes(pkt) == data[:n]
    pkt = DyscoControl(data[:70])
    assert pkt.fields["sender"] == "10.0.0.1"
    assert "ls_src" not in pkt.fields


def test_garbage_after_message_is_padding() -> None:
    data = ControlCodec(KEY).encode(sample_messages()[1])
    pkt = DyscoControl(data + b"junk")
    assert pkt[Padding].load == b"junk"


def test_chain_from_tcp() -> None:
    chain = ControlMessage(
        MsgType.CHAIN,
        RequestId("0.0.0.0", 0),
        "10.0.0.1",
        msg_id=3,
        left_session=FiveTuple("192.168.1.10", 51000, "203.0.113.5", 443),
        hops=("10.0.0.20", "203.0.113.5"),
        tag=77,
    )
    data = ControlCodec(KEY).encode(chain)
    syn = IP(bytes(IP() / TCP(flags="S", sport=1000, dport=80) / data))
    ctl = chain_from_tcp(syn)
    assert ctl is not None and ctl.hops == ["10.0.0.20", "203.0.113.5"] and ctl.tag == 77
    assert chain_from_tcp(IP() / TCP() / b"GET / HTTP/1.1\r\n") is None
    assert chain_from_tcp(IP() / UDP()) is None


def test_tag_option_helpers() -> None:
    opts = [("MSS", 1460), ("SAckOK", b""), ("Timestamp", (5, 0)), ("NOP", None), ("WScale", 7)]
    tagged = set_tag(opts, 0xCAFEBABE)
    assert tagged[-1] == tag_option(0xCAFEBABE) == (253, b"\x44\x59\xca\xfe\xba\xbe")
    assert get_tag(tagged) == 0xCAFEBABE
    assert get_tag(set_tag(tagged, 1)) == 1 and len(set_tag(tagged, 1)) == len(tagged)
    assert strip_tag(tagged) == opts and get_tag(opts) is None
    assert get_tag([(253, b"\x12\x34\x00\x00\x00\x01")]) is None  # another experiment
    with pytest.raises(ValueError):
        tag_option(2**32)

    # scapy-built options decode with our decoder, and ours dissect in scapy
    seg = TCP(bytes(TCP(flags="S", options=tagged)))
    raw_opts = bytes(seg)[20 : seg.dataofs * 4]
    assert decode_tcp_options(raw_opts) == TcpOptions(
        mss=1460, wscale=7, sack_permitted=True, timestamp=(5, 0), dysco_tag=0xCAFEBABE
    )
    ours = encode_tcp_options(TcpOptions(mss=1400, sack_permitted=True, dysco_tag=9))
    hdr = TCP(flags="S", dataofs=5 + len(ours) // 4)
    dissected = TCP(bytes(hdr)[:20] + ours)
    assert get_tag(dissected.options) == 9
    assert ("MSS", 1400) in dissected.options
