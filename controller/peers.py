"""The peer channel: UDP datagrams between controllers carrying agents' control messages.

Each controller binds one UDP endpoint (``control.listen``). A datagram is a small envelope
followed by the agent's control message exactly as ``dysco_proto`` encoded it (HMAC-signed,
with a per-sender message id for the replay window: authentication and replay protection are
the codec's job, the envelope only routes)::

    magic 'DP' (2) | version 1 (1) | reserved (1) | src IPv4 (4) | dst IPv4 (4) | message

``src``/``dst`` are the agent addresses of the ``SendControl`` action; the receiver turns the
datagram into ``ControlIn(src, dst, message)`` for its agent. Retransmission is the protocol's
own (the agent's timers): the channel is allowed to lose, duplicate and reorder, and tests
inject exactly that with :class:`Impairments`.
"""

from __future__ import annotations

import asyncio
import logging
import random
import socket
import struct
from collections.abc import Callable, Mapping
from dataclasses import dataclass

log = logging.getLogger(__name__)

ENVELOPE = struct.Struct("!2sBB4s4s")
MAGIC = b"DP"
VERSION = 1
MAX_DATAGRAM = 2048


@dataclass
class Impairments:
    """Fault injection on the sending side (tests only): probabilities in [0, 1]."""

    loss: float = 0.0
    dup: float = 0.0
    reorder: float = 0.0
    reorder_delay: float = 0.01
    seed: int = 0


@dataclass
class PeerStats:
    """Counters of the peer channel."""

    sent: int = 0
    received: int = 0
    local: int = 0
    no_route: int = 0
    malformed: int = 0
    send_errors: int = 0
    dropped_injected: int = 0
    duplicated_injected: int = 0
    delayed_injected: int = 0


def encode_envelope(src_ip: str, dst_ip: str, data: bytes) -> bytes:
    """Wrap one control message for the peer channel."""
    return (
        ENVELOPE.pack(MAGIC, VERSION, 0, socket.inet_aton(src_ip), socket.inet_aton(dst_ip)) + data
    )


def decode_envelope(datagram: bytes) -> tuple[str, str, bytes] | None:
    """``(src_ip, dst_ip, message)`` or ``None`` if the datagram is not a peer envelope."""
    if len(datagram) < ENVELOPE.size or len(datagram) > MAX_DATAGRAM:
        return None
    magic, version, _res, src, dst = ENVELOPE.unpack_from(datagram)
    if magic != MAGIC or version != VERSION:
        return None
    return socket.inet_ntoa(src), socket.inet_ntoa(dst), datagram[ENVELOPE.size :]


Deliver = Callable[[str, str, bytes], None]


class PeerChannel(asyncio.DatagramProtocol):
    """One controller's UDP endpoint towards its peers.

    ``routes`` maps an agent address to the ``(host, port)`` of the controller serving it;
    ``local`` is the set of addresses served by this controller (delivered without a socket);
    ``deliver(src_ip, dst_ip, data)`` receives every inbound message.
    """

    def __init__(
        self,
        routes: Mapping[str, tuple[str, int]],
        local: frozenset[str],
        deliver: Deliver,
        impairments: Impairments | None = None,
    ) -> None:
        self.routes = dict(routes)
        self.local = local
        self.deliver = deliver
        self.imp = impairments or Impairments()
        self._rng = random.Random(self.imp.seed)
        self.stats = PeerStats()
        self.transport: asyncio.DatagramTransport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def start(self, host: str, port: int) -> tuple[str, int]:
        """Bind the UDP endpoint; returns the bound address (port 0 picks a free one)."""
        self._loop = asyncio.get_running_loop()
        transport, _ = await self._loop.create_datagram_endpoint(
            lambda: self, local_addr=(host, port)
        )
        self.transport = transport
        sockname = transport.get_extra_info("sockname")
        return str(sockname[0]), int(sockname[1])

    def close(self) -> None:
        """Close the endpoint."""
        if self.transport is not None:
            self.transport.close()
            self.transport = None

    # -- asyncio.DatagramProtocol ---------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        parsed = decode_envelope(data)
        if parsed is None:
            self.stats.malformed += 1
            return
        self.stats.received += 1
        src, dst, msg = parsed
        try:
            self.deliver(src, dst, msg)
        except Exception:  # never let one message kill the endpoint
            log.exception("peer channel: delivering a message from %s failed", src)

    def error_received(self, exc: Exception) -> None:
        self.stats.send_errors += 1
        log.debug("peer channel: %s", exc)

    # -- sending ----------------------------------------------------------------------------

    def send(self, src_ip: str, dst_ip: str, data: bytes) -> bool:
        """Send one control message; ``False`` if there is no route to ``dst_ip``."""
        loop = self._loop or asyncio.get_running_loop()
        if dst_ip in self.local:
            self.stats.local += 1
            loop.call_soon(self.deliver, src_ip, dst_ip, data)
            return True
        endpoint = self.routes.get(dst_ip)
        if endpoint is None or self.transport is None:
            self.stats.no_route += 1
            return False
        datagram = encode_envelope(src_ip, dst_ip, data)
        imp = self.imp
        copies = 1
        if imp.loss and self._rng.random() < imp.loss:
            self.stats.dropped_injected += 1
            return True
        if imp.dup and self._rng.random() < imp.dup:
            self.stats.duplicated_injected += 1
            copies = 2
        for _ in range(copies):
            if imp.reorder and self._rng.random() < imp.reorder:
                self.stats.delayed_injected += 1
                loop.call_later(
                    self._rng.uniform(0, imp.reorder_delay), self._sendto, datagram, endpoint
                )
            else:
                self._sendto(datagram, endpoint)
        return True

    def _sendto(self, datagram: bytes, endpoint: tuple[str, int]) -> None:
        if self.transport is None:
            return
        try:
            self.transport.sendto(datagram, endpoint)
            self.stats.sent += 1
        except OSError as e:
            self.stats.send_errors += 1
            log.debug("peer channel: send to %s failed: %s", endpoint, e)
