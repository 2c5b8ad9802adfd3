"""TCP connection tracking as strict as Linux conntrack, for the simulator's boxes.

A stateful middlebox (an nftables firewall with ``ct state invalid drop``, a NAT) only lets a
connection start with a SYN and then checks every segment against the windows it learnt:
Linux's ``tcp_in_window`` (``net/netfilter/nf_conntrack_proto_tcp.c``, 6.x, default sysctls:
``nf_conntrack_tcp_be_liberal=0``). This module is that check, so that a new path which does not
look like a real handshake of its session, or data whose sequence or acknowledgment numbers
the box has no reason to expect, is caught in the simulator as it is by a real box.

Per direction it keeps ``td_end`` (highest seq + len seen), ``td_maxend`` (highest seq the
receiver's window allows: ack + scaled window of the other side), ``td_maxwin`` (largest
window seen) and the window scale from the SYN options. A segment is:

- ``INVALID`` if its seq is above ``td_maxend`` (more than the "overshot" tolerance of one
  receiver window), or it acknowledges (cumulative ack or SACK right edge) data the box has not
  seen (above the other side's ``td_end``); a data segment without a connection, a non-SYN
  opening one, a non-SYN-ACK reply to a SYN, and data from the initiator before the SYN-ACK;
- ``IGNORE`` (let through, state unchanged) below the lower bounds (an old retransmission or
  an overly delayed ack), and an initiator SYN or a responder ACK in states where Linux does;
- ``ACCEPT`` otherwise, updating the windows.

States are reduced to what the window check needs: ``SYN_SENT``, ``SYN_RECV``,
``ESTABLISHED`` (FIN states keep the window checks of ``ESTABLISHED``); an accepted RST ends
the connection.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from dysco_proto.packet import FiveTuple, Segment, TcpFlags
from dysco_proto.seqnum import seq_add, seq_gt, seq_lt

MAXACKWINCONST = 66000


class Verdict(enum.Enum):
    ACCEPT = "accept"
    IGNORE = "ignore"
    INVALID = "invalid"


class State(enum.Enum):
    SYN_SENT = "syn_sent"
    SYN_RECV = "syn_recv"
    ESTABLISHED = "established"


@dataclass(slots=True)
class _Dir:
    td_end: int = 0
    td_maxend: int = 0
    td_maxwin: int = 0
    td_scale: int = 0
    wscale_seen: bool = False
    sack_perm: bool = False


@dataclass(slots=True)
class Conn:
    """One tracked connection; ``orig`` is the tuple of its first SYN."""

    orig: FiveTuple
    state: State = State.SYN_SENT
    seen: tuple[_Dir, _Dir] = field(default_factory=lambda: (_Dir(), _Dir()))


def _end(seg: Segment) -> int:
    return seq_add(seg.seq, seg.seq_len)


def _maxackwindow(d: _Dir) -> int:
    return d.td_maxwin if d.td_maxwin > MAXACKWINCONST else MAXACKWINCONST


class Conntrack:
    """The connection table of one box. :meth:`check` classifies each segment."""

    def __init__(self) -> None:
        self.conns: dict[FiveTuple, Conn] = {}
        self.invalid = 0
        self.ignored = 0
        self.detail = ""  # the first invalid segment and why

    def _lookup(self, t: FiveTuple) -> tuple[Conn | None, int]:
        c = self.conns.get(t)
        if c is not None:
            return c, 0
        c = self.conns.get(t.reversed())
        if c is not None:
            return c, 1
        return None, 0

    def _invalid(self, seg: Segment, why: str) -> Verdict:
        self.invalid += 1
        if not self.detail:
            self.detail = f"{why}: {seg}"
        return Verdict.INVALID

    def check(self, seg: Segment) -> Verdict:
        """Classify ``seg`` (and update the connection), as conntrack would."""
        flags = seg.flags
        syn, ack, rst = (
            bool(flags & TcpFlags.SYN),
            bool(flags & TcpFlags.ACK),
            bool(flags & TcpFlags.RST),
        )
        conn, d = self._lookup(seg.tuple)
        if conn is None:
            if not syn or ack:
                return self._invalid(seg, "no connection and not a SYN")
            conn = Conn(seg.tuple)
            self.conns[seg.tuple] = conn
            self._init_sender(conn.seen[0], conn.seen[1], seg)
            return Verdict.ACCEPT
        sender, receiver = conn.seen[d], conn.seen[1 - d]
        if rst:
            verdict = self._window(conn, d, seg)
            if verdict is Verdict.ACCEPT:
                del self.conns[conn.orig]
            return verdict
        if syn and not ack:
            if d == 1:
                return self._invalid(seg, "SYN from the responder")
            if conn.state is State.SYN_SENT and seq_gt(_end(seg), sender.td_end):
                self._init_sender(sender, receiver, seg)  # a SYN retransmitted, re-initialised
                return Verdict.ACCEPT
            self.ignored += 1
            return Verdict.IGNORE
        if syn and ack:
            if d == 0:
                return self._invalid(seg, "SYN-ACK from the initiator")
            if conn.state is State.SYN_SENT:
                self._init_sender(sender, receiver, seg)
                verdict = self._window(conn, d, seg)
                if verdict is Verdict.ACCEPT:
                    conn.state = State.SYN_RECV
                return verdict
            if conn.state is State.SYN_RECV and seq_gt(_end(seg), sender.td_end):
                self._init_sender(sender, receiver, seg)
                return Verdict.ACCEPT
            self.ignored += 1
            return Verdict.IGNORE
        # no SYN
        if conn.state is State.SYN_SENT:
            if d == 0:
                return self._invalid(seg, "initiator data or ACK before the SYN-ACK")
            self.ignored += 1
            return Verdict.IGNORE
        verdict = self._window(conn, d, seg)
        if verdict is Verdict.ACCEPT and conn.state is State.SYN_RECV and d == 0 and ack:
            conn.state = State.ESTABLISHED
        return verdict

    @staticmethod
    def _init_sender(sender: _Dir, receiver: _Dir, seg: Segment) -> None:
        end = _end(seg)
        sender.td_end = sender.td_maxend = end
        sender.td_maxwin = seg.window or 1
        sender.wscale_seen = seg.options.wscale is not None
        sender.td_scale = min(14, seg.options.wscale or 0)
        sender.sack_perm = seg.options.sack_permitted
        if seg.flags & TcpFlags.ACK and not (sender.wscale_seen and receiver.wscale_seen):
            sender.td_scale = receiver.td_scale = 0  # RFC 7323: both or neither

    def _window(self, conn: Conn, d: int, seg: Segment) -> Verdict:
        sender, receiver = conn.seen[d], conn.seen[1 - d]
        seq = seg.seq
        end = _end(seg)
        win = seg.window
        if seg.flags & TcpFlags.ACK:
            ack_v = sack = seg.ack
            if receiver.sack_perm:
                for _left, right in seg.options.sack_blocks:
                    if seq_gt(right, sack):
                        sack = right
        else:
            ack_v = sack = receiver.td_end
        if seq == end and not seg.flags & TcpFlags.RST:
            seq = end = sender.td_end
        if not seq_lt(seq, seq_add(sender.td_maxend, 1)):
            overshot = (end - sender.td_maxend + 1) & 0xFFFFFFFF
            ack_ok = seq_gt(sack, seq_add(receiver.td_end, -_maxackwindow(sender) - 1))
            in_win = receiver.td_maxwin != 0 and seq_gt(
                end, seq_add(sender.td_end, -receiver.td_maxwin - 1)
            )
            if (
                in_win
                and ack_ok
                and overshot <= receiver.td_maxwin
                and seq_lt(sack, seq_add(receiver.td_end, 1))
            ):
                sender.td_end = end
                return Verdict.ACCEPT
            return self._invalid(seg, f"SEQ over the upper bound {sender.td_maxend + 1}")
        if not seq_lt(sack, seq_add(receiver.td_end, 1)):
            return self._invalid(seg, f"ACK over the upper bound {receiver.td_end + 1}")
        in_win = receiver.td_maxwin == 0 or seq_gt(
            end, seq_add(sender.td_end, -receiver.td_maxwin - 1)
        )
        if not in_win or not seq_gt(sack, seq_add(receiver.td_end, -_maxackwindow(sender) - 1)):
            self.ignored += 1
            return Verdict.IGNORE
        if not seg.flags & TcpFlags.SYN:
            win <<= sender.td_scale
        swin = win + ((sack - ack_v) & 0xFFFFFFFF)
        if sender.td_maxwin < swin:
            sender.td_maxwin = swin
        if seq_gt(end, sender.td_end):
            sender.td_end = end
        if receiver.td_maxwin != 0 and seq_gt(end, sender.td_maxend):
            receiver.td_maxwin += (end - sender.td_maxend) & 0xFFFFFFFF
        if seq_gt(seq_add(sack, win), seq_add(receiver.td_maxend, -1)):
            receiver.td_maxend = seq_add(sack, win + (1 if win == 0 else 0))
        return Verdict.ACCEPT
