"""The peer channel authenticates whole datagrams (envelope included) and reports rejected
datagrams and control messages in rate-limited summary lines (docs/controller.md, Security)."""

from __future__ import annotations

import asyncio
import logging
import secrets
from pathlib import Path

import pytest

from controller.config import load_config
from controller.daemon import Daemon
from controller.peers import PeerChannel, decode_envelope, encode_envelope, envelope_key
from dysco_proto.events import ControlIn
from dysco_proto.packet import FiveTuple
from dysco_proto.wire import ControlCodec, ControlMessage, MsgType, RequestId
from tests.controller_support import WEB_POLICY, daemon_yaml, write_p4info


def _messages(key: bytes, n: int) -> list[bytes]:
    codec = ControlCodec(key)
    return [
        codec.encode(
            ControlMessage(
                MsgType.REQUEST_LOCK,
                RequestId("10.0.0.5", i),
                "10.0.0.5",
                msg_id=1000 + i,
                subsession=FiveTuple("10.0.0.5", 30000 + i, "10.0.0.1", 80),
            )
        )
        for i in range(n)
    ]


def test_every_single_bit_flip_of_a_datagram_is_rejected() -> None:
    key = secrets.token_bytes(32)
    delivered: list[tuple[str, str, bytes]] = []
    ch = PeerChannel({}, frozenset({"10.0.0.1"}), lambda *a: delivered.append(a), key=key)
    ekey = envelope_key(key)
    tried = 0
    for msg in _messages(key, 3):
        good = encode_envelope("10.0.0.5", "10.0.0.1", msg, ekey)
        assert decode_envelope(good, ekey) == ("10.0.0.5", "10.0.0.1", msg)
        for i in range(len(good)):
            for bit in range(8):
                bad = bytearray(good)
                bad[i] ^= 1 << bit
                ch.datagram_received(bytes(bad), ("127.0.0.1", 1))
                tried += 1
    assert tried > 3 * 8 * 90
    assert delivered == []
    assert ch.stats.auth_failed + ch.stats.malformed == tried
    # and the genuine datagram still passes
    ch.datagram_received(good, ("127.0.0.1", 1))
    assert len(delivered) == 1
    # another deployment's key: rejected too
    other = encode_envelope("10.0.0.5", "10.0.0.1", msg, envelope_key(secrets.token_bytes(32)))
    assert decode_envelope(other, ekey) is None


def test_rejected_datagrams_are_logged_in_summary_lines(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="controller.peers")
    key = secrets.token_bytes(32)
    ch = PeerChannel({}, frozenset({"10.0.0.1"}), lambda *a: None, key=key)
    for i in range(2000):
        ch.datagram_received(b"DP\x02\x00" + bytes(8) + i.to_bytes(4, "big") * 10, ("10.9.9.9", i))
    ch.close()
    lines = [r for r in caplog.records if r.name == "controller.peers"]
    assert 1 <= len(lines) <= 2, [r.getMessage() for r in lines]
    assert ch.rejects.total == 2000
    assert "2000" in lines[-1].getMessage() or "1999" in lines[-1].getMessage()


def test_rejected_control_messages_are_logged_in_summary_lines(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    p4info = write_p4info(tmp_path / "dysco.p4info.txtpb")
    cfg_path = daemon_yaml(
        tmp_path, "sw1", "127.0.0.1:9", p4info, ("10.0.0.1", 1), 0,
        [("c5", 39999, ["10.0.0.5"])], WEB_POLICY,
    )  # fmt: skip
    caplog.set_level(logging.INFO, logger="controller.daemon")

    async def main() -> None:
        d = Daemon(load_config(cfg_path), management=False)
        for msg in _messages(secrets.token_bytes(16), 1000):  # wrong key: all rejected
            d.dispatch(ControlIn("10.0.0.5", "10.0.0.1", msg))
        assert d.agent.counters.get("control.rejected") == 1000

    asyncio.run(main())
    lines = [r for r in caplog.records if "reject" in r.getMessage()]
    assert 1 <= len(lines) <= 2, len(lines)
