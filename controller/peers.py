"""The peer channel: UDP datagrams between controllers carrying agents' control messages.

Each controller binds one UDP endpoint (``control.listen``). A datagram is a small envelope
around the agent's control message exactly as ``dysco_proto`` encoded it (itself HMAC-signed,
with a per-sender message id for the replay window), followed by a tag over the *whole*
datagram, so that the routing fields cannot be altered either (``docs/wire-format.md``)::

    magic 'DP' (2) | version 2 (1) | reserved 0 (1) | src IPv4 (4) | dst IPv4 (4) | message
    | tag (16): HMAC-SHA256(envelope key, every byte before it), truncated

The envelope key is derived from the deployment's control key (HMAC-SHA256 of a fixed label,
so the two tags never share a key). ``src``/``dst`` are the agent addresses of the
``SendControl`` action; the receiver checks the tag first (constant time) and only then
turns the datagram into ``ControlIn(src, dst, message)`` for its agent. Rejected datagrams are
counted and reported in at most one log line per :data:`REJECT_LOG_INTERVAL` seconds.
Retransmission is the protocol's own (the agent's timers): the channel is allowed to lose,
duplicate and reorder, and tests inject exactly that with :class:`Impairments`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import logging
import random
import socket
import struct
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass

log = logging.getLogger(__name__)

ENVELOPE = struct.Struct("!2sBB4s4s")
MAGIC = b"DP"
VERSION = 2
TAG_LEN = 16
MAX_DATAGRAM = 2048
#: seconds between two summary lines about rejected datagrams / control messages
REJECT_LOG_INTERVAL = 10.0
_LABEL = b"dysco peer envelope v2"


def envelope_key(control_key: bytes) -> bytes:
    """The key of the envelope tag, derived from the control key (domain separation)."""
    return hmac.new(control_key, _LABEL, hashlib.sha256).digest()


class RejectLog:
    """Counts rejections and logs them in at most one line per ``interval`` seconds: the
    first rejection at once, then one summary (counts per reason and per claimed source) when
    the interval has passed. A flood of bad datagrams costs a counter update, not a log line."""

    def __init__(self, logger: logging.Logger, what: str, interval: float = REJECT_LOG_INTERVAL):
        self.log = logger
        self.what = what
        self.interval = interval
        self.total = 0
        self._reasons: Counter[str] = Counter()
        self._sources: Counter[str] = Counter()
        self._last: float | None = None

    def note(self, reason: str, source: str) -> None:
        """Count one rejection (``source``: where it claims or seems to come from)."""
        self.total += 1
        self._reasons[reason] += 1
        self._sources[source] += 1
        now = time.monotonic()
        if self._last is None or now - self._last >= self.interval:
            self.flush(now)

    def flush(self, now: float | None = None) -> None:
        """Log what was counted since the last line (nothing if nothing was)."""
        if not self._reasons:
            return
        n = sum(self._reasons.values())
        reasons = ", ".join(f"{k} {v}" for k, v in self._reasons.most_common(5))
        sources = ", ".join(f"{k} {v}" for k, v in self._sources.most_common(3))
        self.log.warning(
            "%s: %d rejected in the last %.0f s (%s; from %s)",
            self.what,
            n,
            self.interval if self._last is not None else 0,
            reasons,
            sources,
        )
        self._reasons.clear()
        self._sources.clear()
        self._last = time.monotonic() if now is None else now


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
    auth_failed: int = 0
    send_errors: int = 0
    dropped_injected: int = 0
    duplicated_injected: int = 0
    delayed_injected: int = 0


def _tag(key: bytes, body: bytes) -> bytes:
    return hmac.new(key, body, hashlib.sha256).digest()[:TAG_LEN]


def encode_envelope(src_ip: str, dst_ip: str, data: bytes, key: bytes) -> bytes:
    """Wrap one control message for the peer channel (``key``: :func:`envelope_key`)."""
    body = (
        ENVELOPE.pack(MAGIC, VERSION, 0, socket.inet_aton(src_ip), socket.inet_aton(dst_ip)) + data
    )
    return body + _tag(key, body)


class EnvelopeError(ValueError):
    """A datagram that is not a valid peer envelope; ``reason`` is a short code."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def check_envelope(datagram: bytes, key: bytes) -> tuple[str, str, bytes]:
    """``(src_ip, dst_ip, message)`` of an authentic envelope; :class:`EnvelopeError`
    otherwise. The tag is checked (constant time) before any field is trusted."""
    if len(datagram) < ENVELOPE.size + TAG_LEN or len(datagram) > MAX_DATAGRAM:
        raise EnvelopeError("size")
    body, tag = datagram[:-TAG_LEN], datagram[-TAG_LEN:]
    if not hmac.compare_digest(_tag(key, body), tag):
        raise EnvelopeError("tag" if datagram[:2] == MAGIC else "not_envelope")
    magic, version, res, src, dst = ENVELOPE.unpack_from(body)
    if magic != MAGIC or version != VERSION or res != 0:  # authentic, but not this version
        raise EnvelopeError("version")
    return socket.inet_ntoa(src), socket.inet_ntoa(dst), body[ENVELOPE.size :]


def decode_envelope(datagram: bytes, key: bytes) -> tuple[str, str, bytes] | None:
    """``(src_ip, dst_ip, message)`` or ``None`` if the datagram is not an authentic envelope."""
    try:
        return check_envelope(datagram, key)
    except EnvelopeError:
        return None


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
        *,
        key: bytes,
    ) -> None:
        self.routes = dict(routes)
        self.key = envelope_key(key)
        self.rejects = RejectLog(log, "peer channel: datagrams")
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
        self.rejects.flush()
        if self.transport is not None:
            self.transport.close()
            self.transport = None

    # -- asyncio.DatagramProtocol ---------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def datagram_received(self, data: bytes, addr: tuple[str | object, int]) -> None:
        try:
            parsed = check_envelope(data, self.key)
        except EnvelopeError as e:
            if e.reason == "tag":
                self.stats.auth_failed += 1
            else:
                self.stats.malformed += 1
            # the UDP source address, not the envelope's claimed one (unauthenticated)
            self.rejects.note(e.reason, str(addr[0]))
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
        datagram = encode_envelope(src_ip, dst_ip, data, self.key)
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
