"""A killed daemon's successor knows the session's whole handshake (issue 12, restored left
anchor): the SYN-ACK mirror is the only event that records what the host received in the
handshake (the peer's ISN, timestamp and window scale), and it makes no action, so nothing
that leaves the process used to commit it. A controller killed after it then restored a side
without the peer's window scale, and its next new-path handshake told the right anchor to send
a SYN-ACK without one: conntrack at a new firewall then disabled window scaling for the
connection and called the session's data INVALID (the client stalled). Now an event that
changed durable state without sending anything is committed right after it."""

from __future__ import annotations

import asyncio
from pathlib import Path

from controller.config import load_config
from controller.daemon import Daemon
from dysco_proto.entries import Direction, EntryKey
from dysco_proto.events import PacketIn, PuntReason
from dysco_proto.packet import FiveTuple, Segment, TcpFlags, TcpOptions
from tests.controller_support import offline_daemon_yaml

SESSION = FiveTuple("10.0.0.1", 40000, "10.0.0.9", 80)


def _config(tmp: Path) -> Path:
    return offline_daemon_yaml(tmp)


def _daemon(cfg_path: Path) -> Daemon:
    d = Daemon(load_config(cfg_path), management=False)
    d._load_checkpoint()
    return d


def test_handshake_recorded_by_a_mirror_survives_a_kill(tmp_path: Path) -> None:
    cfg_path = _config(tmp_path)

    async def main() -> None:
        d = _daemon(cfg_path)
        syn = Segment(
            SESSION, 1000, 0, TcpFlags.SYN,
            options=TcpOptions(mss=1460, wscale=7, sack_permitted=True, timestamp=(111, 0)),
        )  # fmt: skip
        d.dispatch(PacketIn(PuntReason.SYN, Direction.OUT, syn))
        d.flush_store()  # the chain SYN's packet-out leaves: its state is committed first
        side = d.agent.right_by_stuple[SESSION]
        # the server's SYN-ACK, forwarded by the device rewritten, and its mirror (host view)
        synack = Segment(
            SESSION.reversed(), 5000, 1001, TcpFlags.SYN | TcpFlags.ACK,
            options=TcpOptions(mss=1400, wscale=9, sack_permitted=True, timestamp=(222, 111)),
        )  # fmt: skip
        key = EntryKey(Direction.IN, side.sub.reversed())
        actions = d.dispatch(PacketIn(PuntReason.SYNACK_MIRROR, Direction.IN, synack, key))
        assert not actions  # nothing leaves the process for it ...
        live = side.hs
        assert (live.isn_in, live.ts_in, live.wscale_peer) == (5000, 222, 9)
        await asyncio.sleep(0)  # ... the loop runs on (data flows without packet-ins)
        await asyncio.sleep(0)
        # kill -9: no stop; the successor opens the same store
        d2 = _daemon(cfg_path)
        restored = d2.agent.right_by_stuple[SESSION].hs
        assert restored == live, f"restored {restored}, live {live}"

    asyncio.run(main())
