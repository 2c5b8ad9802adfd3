"""A small TCP byte-stream endpoint model for the simulator.

What it models: three-way handshake (SYN options: MSS, window scale, SACK-permitted and
timestamps), a byte stream written by the application and sent in MSS-sized segments within
a fixed window of ``window_segments`` segments, cumulative acknowledgments (every segment
carrying data or FIN is acknowledged at once, with SACK blocks for out-of-order data),
reassembly of out-of-order and overlapping segments, a retransmission timer with exponential
backoff (go-back-N from the oldest unacknowledged byte), and FIN in each direction
independently (half-close).

What it checks (reported through ``violation``): an acknowledgment or SACK edge above the
highest sequence number this endpoint ever sent. Acks below ``snd_una`` are ignored, as TCP
does. Weaker properties are counted and reported as warnings by the simulator: timestamp
echoes newer than anything this endpoint sent (``ts_echo_errors``) and, when the peer's
window is known, a scaled window far from it (``window_errors``: a wrong window-scale
translation).

The advertised window is fixed: ``4 * window_segments * mss`` bytes, scaled by the
endpoint's own window scale.

Internally all sequence numbers are unbounded offsets from the ISN (send side) or from the
peer's ISN (receive side); the wire carries them modulo 2**32 and incoming values are
unwrapped relative to a nearby reference.
"""

from __future__ import annotations

import enum
from collections.abc import Callable

from dysco_proto.packet import FiveTuple, Segment, TcpFlags, TcpOptions
from dysco_proto.seqnum import MASK, seq_diff
from dysco_proto.sim.engine import Engine

# Flag tests use plain ints (IntFlag operators are slow); segments get prebuilt TcpFlags.
_F_FIN = int(TcpFlags.FIN)
_F_SYN = int(TcpFlags.SYN)
_F_RST = int(TcpFlags.RST)
_F_ACK = int(TcpFlags.ACK)
_ACK = TcpFlags.ACK
_SYN = TcpFlags.SYN
_SYN_ACK = TcpFlags.SYN | TcpFlags.ACK
_DATA = TcpFlags.ACK | TcpFlags.PSH
_DATA_FIN = TcpFlags.ACK | TcpFlags.PSH | TcpFlags.FIN
_FIN_ACK = TcpFlags.FIN | TcpFlags.ACK


class TcpState(enum.Enum):
    """Connection state (teardown progress is tracked by separate flags)."""

    CLOSED = "closed"
    SYN_SENT = "syn_sent"
    SYN_RCVD = "syn_rcvd"
    ESTABLISHED = "established"
    ABORTED = "aborted"


class TcpEndpoint:
    """One end of a simulated TCP connection.

    ``emit`` is called with every segment the endpoint sends (tuple oriented from this
    endpoint to the peer). ``violation`` is called with a description when the peer
    acknowledges data this endpoint never sent. The application hooks ``on_data`` (in-order
    bytes), ``on_fin`` (the peer closed its direction) and ``on_established`` may be set after
    construction.
    """

    def __init__(
        self,
        engine: Engine,
        *,
        local: tuple[str, int],
        remote: tuple[str, int],
        isn: int,
        emit: Callable[[Segment], None],
        violation: Callable[[str], None],
        name: str = "",
        mss: int = 1000,
        window_segments: int = 8,
        rto: float = 0.1,
        rto_max: float = 1.6,
        max_retries: int = 12,
        wscale: int = 7,
        ts_offset: int = 0,
        sack: bool = True,
        peer_window: int | None = None,
    ) -> None:
        self.engine = engine
        self.tuple_out = FiveTuple(local[0], local[1], remote[0], remote[1])
        self.tuple_in = self.tuple_out.reversed()
        self.name = name or str(self.tuple_out)
        self.isn = isn & MASK
        self._emit = emit
        self._violation = violation
        self.mss = mss
        self.window_bytes = window_segments * mss
        self.rto_initial = rto
        self.rto_max = rto_max
        self.max_retries = max_retries
        self.wscale = wscale
        self.ts_offset = ts_offset & MASK
        self.sack = sack
        self.peer_window = peer_window  # the window (bytes) the peer advertises, if known

        self.on_data: Callable[[bytes], None] | None = None
        self.on_fin: Callable[[], None] | None = None
        self.on_established: Callable[[], None] | None = None

        self.state = TcpState.CLOSED
        # send side (offsets from isn; the SYN is offset 0, data byte i is offset 1 + i)
        self._sbuf = bytearray()
        self.snd_una = 0
        self.snd_nxt = 0
        self.snd_max = 0
        self.closing = False  # the application closed its direction
        self.fin_sent = False
        # receive side (offsets from the peer's isn)
        self.irs = 0
        self.rcv_nxt = 0
        self._ooo: dict[int, bytes] = {}
        self._fin_at: int | None = None
        self.fin_rcvd = False
        self.received = bytearray()
        # options agreed in the handshake
        self.peer_wscale: int | None = None
        self.ts_ok = False
        self.sack_ok = False
        self._ts_recent = 0
        self._ts_sent_hi = self.ts_offset
        # retransmission timer (lazy: one scheduled firing, checked against the deadline)
        self._rto = rto
        self._retries = 0
        self._deadline: float | None = None
        self._timer_at: float | None = None
        # statistics
        self.segments_sent = 0
        self.retransmissions = 0
        self.acks_beyond = 0
        self.ts_echo_errors = 0
        self.rst_seen = 0
        self.invalid = 0
        self.abort_reason = ""
        self.ts_echo_detail = ""
        self.window_errors = 0
        self.ts_missing = 0  # segments without timestamps although both sides offered them
        self.window_detail = ""

    # --- application interface -------------------------------------------------------------

    @property
    def established(self) -> bool:
        return self.state is TcpState.ESTABLISHED

    @property
    def done(self) -> bool:
        """Both directions closed and our FIN acknowledged."""
        return (
            self.state is TcpState.ESTABLISHED
            and self.fin_sent
            and self.fin_rcvd
            and self.snd_una == self.snd_max
        )

    @property
    def outstanding(self) -> int:
        """Sequence space sent but not yet acknowledged."""
        return self.snd_max - self.snd_una

    @property
    def bytes_written(self) -> int:
        return len(self._sbuf)

    def connect(self) -> None:
        """Active open: send a SYN."""
        assert self.state is TcpState.CLOSED
        self.state = TcpState.SYN_SENT
        self.snd_nxt = self.snd_max = 1
        self._send_syn()
        self._arm()

    def accept(self, syn: Segment) -> None:
        """Passive open from the peer's SYN: answer SYN-ACK."""
        assert self.state is TcpState.CLOSED
        self.state = TcpState.SYN_RCVD
        self._take_syn_options(syn)
        self.irs = syn.seq
        self.rcv_nxt = 1
        self.snd_nxt = self.snd_max = 1
        self._send_syn()
        self._arm()

    def write(self, data: bytes) -> None:
        """Append application bytes to the send stream."""
        if self.closing or self.state is TcpState.ABORTED:
            return
        self._sbuf += data
        if self.state is TcpState.ESTABLISHED:
            self._output()

    def close(self) -> None:
        """Close the sending direction (a FIN follows the buffered data)."""
        if self.closing:
            return
        self.closing = True
        if self.state is TcpState.ESTABLISHED:
            self._output()

    # --- segment input ---------------------------------------------------------------------

    def receive(self, seg: Segment) -> None:
        """Process one segment from the peer (tuple oriented peer -> us)."""
        flags = int(seg.flags)
        if flags & _F_RST:
            self.rst_seen += 1
            if self.state is not TcpState.CLOSED:
                self._abort("rst received")
            return
        state = self.state
        if state is TcpState.ABORTED or state is TcpState.CLOSED:
            self.invalid += 1
            return
        if flags & _F_SYN:
            self._receive_syn(seg)
            return
        if state is TcpState.SYN_SENT:
            self.invalid += 1
            return
        if flags & _F_ACK:
            if self.peer_window is not None and self.peer_wscale is not None:
                self._check_window(seg)
            if state is TcpState.SYN_RCVD:
                ack = self._unwrap_ack(seg.ack)
                if ack > self.snd_max:
                    self._ack_violation(ack, seg)
                    return
                if ack < 1:
                    self.invalid += 1
                    return
                self.snd_una = 1
                self._become_established()
            self._process_ack(seg)
        if self.ts_ok:
            if seg.options.timestamp is not None:
                self._ts_input(seg.options.timestamp)
            else:
                self.ts_missing += 1
        if seg.payload or flags & _F_FIN:
            self._process_data(seg)
            self._send_ack()
        if self.state is TcpState.ESTABLISHED:
            self._output()

    def _receive_syn(self, seg: Segment) -> None:
        if int(seg.flags) & _F_ACK:  # SYN-ACK
            if self.state is TcpState.SYN_SENT:
                ack = self._unwrap_ack(seg.ack)
                if ack != 1:
                    if ack > self.snd_max:
                        self._ack_violation(ack, seg)
                    self.invalid += 1
                    return
                self._take_syn_options(seg)
                if seg.options.timestamp is not None and self.ts_ok:
                    self._ts_input(seg.options.timestamp)
                self.irs = seg.seq
                self.rcv_nxt = 1
                self.snd_una = 1
                self._become_established()
                self._send_ack()
                self._output()
            elif self.state is TcpState.ESTABLISHED:
                self._send_ack()  # our ACK of the handshake was lost: repeat it
            else:
                self.invalid += 1
            return
        # a plain SYN: the peer retransmitted its connection request
        if self.state is TcpState.SYN_RCVD:
            self._send_syn()
        elif self.state is TcpState.ESTABLISHED:
            self._send_ack()
        else:
            self.invalid += 1

    def _become_established(self) -> None:
        self.state = TcpState.ESTABLISHED
        self._retries = 0
        self._rto = self.rto_initial
        if self.snd_una == self.snd_max:
            self._deadline = None
        if self.on_established is not None:
            self.on_established()

    def _take_syn_options(self, seg: Segment) -> None:
        opts = seg.options
        self.peer_wscale = opts.wscale
        self.ts_ok = opts.timestamp is not None
        self.sack_ok = self.sack and opts.sack_permitted
        if opts.timestamp is not None:
            self._ts_recent = opts.timestamp[0]

    def _ts_input(self, ts: tuple[int, int]) -> None:
        tsval, tsecr = ts
        if seq_diff(tsval, self._ts_recent) > 0:
            self._ts_recent = tsval
        if seq_diff(tsecr, self._ts_sent_hi) > 0 or seq_diff(tsecr, self.ts_offset) < 0:
            self.ts_echo_errors += 1
            if not self.ts_echo_detail:
                self.ts_echo_detail = (
                    f"t={self.engine.now:.6f} TSecr={tsecr} newest TSval sent="
                    f"{self._ts_sent_hi} (first {self.ts_offset})"
                )

    def _check_window(self, seg: Segment) -> None:
        """The scaled window must be close to what the peer advertises: a wrong window-scale
        translation shows up as a factor of two or more."""
        assert self.peer_window is not None and self.peer_wscale is not None
        real = seg.window << self.peer_wscale
        if not self.peer_window / 1.6 <= real <= self.peer_window * 1.6:
            self.window_errors += 1
            if not self.window_detail:
                self.window_detail = (
                    f"t={self.engine.now:.6f} window field {seg.window} << peer wscale "
                    f"{self.peer_wscale} = {real}, peer advertises {self.peer_window}: {seg}"
                )

    def _unwrap_ack(self, ack: int) -> int:
        return self.snd_una + seq_diff(ack, (self.isn + self.snd_una) & MASK)

    def _ack_violation(self, ack: int, seg: Segment) -> None:
        self.acks_beyond += 1
        self._violation(
            f"{self.name}: ack beyond sent: ack offset {ack} > snd_max {self.snd_max} "
            f"(ack={seg.ack} isn={self.isn} flags={seg.flags!r})"
        )

    def _process_ack(self, seg: Segment) -> None:
        ack = self._unwrap_ack(seg.ack)
        if ack > self.snd_max:
            self._ack_violation(ack, seg)
            return
        for _left, right in seg.options.sack_blocks:
            r = self._unwrap_ack(right)
            if r > self.snd_max:
                self.acks_beyond += 1
                self._violation(
                    f"{self.name}: SACK edge beyond sent: offset {r} > snd_max {self.snd_max}"
                )
                break
        if ack <= self.snd_una:
            return
        self.snd_una = ack
        if self.snd_nxt < ack:
            self.snd_nxt = ack
        self._retries = 0
        self._rto = self.rto_initial
        if self.snd_una == self.snd_max:
            self._deadline = None
        else:
            self._arm()

    def _process_data(self, seg: Segment) -> None:
        start = self.rcv_nxt + seq_diff(seg.seq, (self.irs + self.rcv_nxt) & MASK)
        payload = seg.payload
        if int(seg.flags) & _F_FIN:
            self._fin_at = start + len(payload)
        if payload and start + len(payload) > self.rcv_nxt:
            old = self._ooo.get(start)
            if old is None or len(old) < len(payload):
                self._ooo[start] = payload
            self._drain()
        if self._fin_at is not None and self.rcv_nxt == self._fin_at and not self.fin_rcvd:
            self.rcv_nxt += 1
            self.fin_rcvd = True
            if self.on_fin is not None:
                self.on_fin()

    def _drain(self) -> None:
        ooo = self._ooo
        progress = True
        while progress and ooo:
            progress = False
            for start in sorted(ooo):
                data = ooo[start]
                end = start + len(data)
                if end <= self.rcv_nxt:
                    del ooo[start]
                    continue
                if start > self.rcv_nxt:
                    break
                del ooo[start]
                chunk = data[self.rcv_nxt - start :]
                self.rcv_nxt = end
                self.received += chunk
                if self.on_data is not None:
                    self.on_data(chunk)
                progress = True
                break

    # --- output ----------------------------------------------------------------------------

    def _options(self) -> TcpOptions:
        if not self.ts_ok:
            return TcpOptions()
        tsval = (self.ts_offset + int(self.engine.now * 1000)) & MASK
        self._ts_sent_hi = tsval
        return TcpOptions(timestamp=(tsval, self._ts_recent), sack_blocks=self._sack_blocks())

    def _sack_blocks(self) -> tuple[tuple[int, int], ...]:
        if not self.sack_ok or not self._ooo:
            return ()
        blocks: list[tuple[int, int]] = []
        for start in sorted(self._ooo):
            end = start + len(self._ooo[start])
            if start <= self.rcv_nxt:
                continue
            if blocks and start <= blocks[-1][1]:
                blocks[-1] = (blocks[-1][0], max(blocks[-1][1], end))
            else:
                blocks.append((start, end))
        base = self.irs
        return tuple(((base + a) & MASK, (base + b) & MASK) for a, b in blocks[:3])

    def _window(self) -> int:
        return min(0xFFFF, (4 * self.window_bytes) >> self.wscale)

    def _send(self, seq_off: int, flags: TcpFlags, payload: bytes = b"") -> None:
        self.segments_sent += 1
        self._emit(
            Segment(
                self.tuple_out,
                (self.isn + seq_off) & MASK,
                (self.irs + self.rcv_nxt) & MASK if int(flags) & _F_ACK else 0,
                flags,
                self._window(),
                self._options(),
                payload,
            )
        )

    def _send_syn(self) -> None:
        tsval = (self.ts_offset + int(self.engine.now * 1000)) & MASK
        self._ts_sent_hi = tsval
        syn_ack = self.state is TcpState.SYN_RCVD
        # a SYN always offers timestamps; a SYN-ACK only answers an offer
        ts = None if syn_ack and not self.ts_ok else (tsval, self._ts_recent if syn_ack else 0)
        opts = TcpOptions(
            mss=self.mss,
            wscale=self.wscale,
            sack_permitted=self.sack if not syn_ack else self.sack_ok,
            timestamp=ts,
        )
        self.segments_sent += 1
        self._emit(
            Segment(
                self.tuple_out,
                self.isn,
                (self.irs + 1) & MASK if syn_ack else 0,
                _SYN_ACK if syn_ack else _SYN,
                0xFFFF,
                opts,
            )
        )

    def send_ack(self) -> None:
        """Send a pure ack now, as a real stack does for a window update or a keepalive probe
        (same ack as the last one: nothing new received)."""
        self._send_ack()

    def _send_ack(self) -> None:
        if self.state is TcpState.ESTABLISHED:
            self._send(self.snd_nxt, _ACK)

    def _output(self) -> None:
        """Send whatever the window allows: new data, then the FIN."""
        buf_end = 1 + len(self._sbuf)
        while True:
            nxt = self.snd_nxt
            limit = self.snd_una + self.window_bytes
            if nxt < buf_end and nxt < limit:
                n = min(self.mss, buf_end - nxt, limit - nxt)
                fin = self.closing and nxt + n == buf_end
                payload = bytes(self._sbuf[nxt - 1 : nxt - 1 + n])
                self._send(nxt, _DATA_FIN if fin else _DATA, payload)
                self.snd_nxt = nxt + n + (1 if fin else 0)
                if fin:
                    self.fin_sent = True
            elif self.closing and nxt == buf_end:
                self._send(nxt, _FIN_ACK)
                self.snd_nxt = nxt + 1
                self.fin_sent = True
            else:
                break
            if self.snd_nxt > self.snd_max:
                self.snd_max = self.snd_nxt
            if self._deadline is None:
                self._arm()

    # --- retransmission --------------------------------------------------------------------

    def _arm(self) -> None:
        deadline = self.engine.now + self._rto
        self._deadline = deadline
        if self._timer_at is None or self._timer_at > deadline:
            self._timer_at = deadline
            self.engine.at(deadline, self._on_timer, deadline)

    def _on_timer(self, scheduled: float) -> None:
        if scheduled != self._timer_at:
            return  # superseded by an earlier firing
        self._timer_at = None
        deadline = self._deadline
        if deadline is None or self.state is TcpState.ABORTED:
            return
        if self.engine.now < deadline:
            self._timer_at = deadline
            self.engine.at(deadline, self._on_timer, deadline)
            return
        self._deadline = None
        if self.snd_una >= self.snd_max:
            return
        self._retries += 1
        if self._retries > self.max_retries:
            self._abort("retransmission limit")
            return
        self.retransmissions += 1
        self._rto = min(self._rto * 2, self.rto_max)
        self.snd_nxt = self.snd_una
        if self.state is TcpState.SYN_SENT or self.state is TcpState.SYN_RCVD:
            self._send_syn()
            self.snd_nxt = 1
        else:
            self._output()
        self._arm()

    def _abort(self, why: str) -> None:
        self.state = TcpState.ABORTED
        self._deadline = None
        self.abort_reason = why


EndpointFactory = Callable[[Segment], "TcpEndpoint | None"]


class EndpointStack:
    """The TCP stack of an endpoint host: demultiplexes segments to endpoints.

    Segments are matched by their five-tuple (peer -> local). A SYN for a port with a
    listener creates a passive endpoint through the listener's factory. Anything else is a
    stray (counted; the model sends no RSTs).
    """

    def __init__(self) -> None:
        self.endpoints: dict[FiveTuple, TcpEndpoint] = {}
        self.listeners: dict[int, EndpointFactory] = {}
        self.strays = 0
        self.rst_seen = 0

    def add(self, ep: TcpEndpoint) -> None:
        """Register an endpoint (active opens) so it receives its segments."""
        self.endpoints[ep.tuple_in] = ep

    def listen(self, port: int, factory: EndpointFactory) -> None:
        """Accept connections to ``port``; ``factory`` builds the endpoint (or refuses)."""
        self.listeners[port] = factory

    def deliver(self, seg: Segment) -> None:
        """A segment for this host."""
        ep = self.endpoints.get(seg.tuple)
        if ep is not None:
            ep.receive(seg)
            return
        if seg.is_syn:
            factory = self.listeners.get(seg.tuple.dst_port)
            if factory is not None:
                new = factory(seg)
                if new is not None:
                    self.endpoints[seg.tuple] = new
                    new.accept(seg)
                    return
        if int(seg.flags) & _F_RST:
            self.rst_seen += 1
        self.strays += 1
