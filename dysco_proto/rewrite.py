"""Applying a mapping's header translation to a segment (pure functions).

This is the reference semantics of the rewrite step every data plane performs (see
``docs/protocol-design.md`` section 2): replace the five-tuple, then add the deltas.

Offsets in :class:`~dysco_proto.entries.Deltas` are interpreted modulo 2**32; the functions
here that build deltas (:func:`invert`, :func:`compose`) return them normalised to
``[0, 2**32)`` so that equal translations compare equal. Window shifts are plain integers.
"""

from __future__ import annotations

from dataclasses import replace

from dysco_proto.entries import Deltas
from dysco_proto.packet import FiveTuple, Segment, TcpFlags, TcpOptions
from dysco_proto.seqnum import MOD, seq_add

MAX_WINDOW = 0xFFFF


def rescale_window(window: int, shift: int) -> int:
    """Rescale a 16-bit window field: ``min(0xFFFF, w << s)`` for ``s > 0``, ``w >> -s`` else."""
    if shift > 0:
        return min(MAX_WINDOW, window << shift)
    if shift < 0:
        return window >> -shift
    return window


def _rewrite_options(opts: TcpOptions, deltas: Deltas, *, is_syn: bool) -> TcpOptions:
    sack_blocks = opts.sack_blocks
    if sack_blocks and deltas.ack:
        sack_blocks = tuple(
            (seq_add(left, deltas.ack), seq_add(right, deltas.ack)) for left, right in sack_blocks
        )
    timestamp = opts.timestamp
    if timestamp is not None and (deltas.tsval or deltas.tsecr):
        tsval, tsecr = timestamp
        # A SYN's TSecr carries no echoed value (RFC 7323 sets it to zero): leave it alone.
        new_tsecr = tsecr if is_syn and tsecr == 0 else seq_add(tsecr, deltas.tsecr)
        timestamp = (seq_add(tsval, deltas.tsval), new_tsecr)
    if sack_blocks is opts.sack_blocks and timestamp is opts.timestamp:
        return opts
    return replace(opts, sack_blocks=sack_blocks, timestamp=timestamp)


def apply_deltas(seg: Segment, deltas: Deltas) -> Segment:
    """Translate ``seg``'s header fields by ``deltas`` and return the new segment.

    - ``seq += deltas.seq``;
    - ``ack += deltas.ack`` only when the ACK flag is set (an ACK-less segment's ack field is
      meaningless and is left untouched);
    - every SACK block edge ``+= deltas.ack``;
    - timestamp option: ``TSval += deltas.tsval``, ``TSecr += deltas.tsecr``, except that a
      zero TSecr on a SYN (without ACK) is left as is;
    - window rescaled by ``deltas.win_shift`` (see :func:`rescale_window`), except on SYN and
      SYN-ACK segments, whose window is never scaled (RFC 7323 section 2.2).

    All additions are modulo 2**32. A zero ``deltas`` returns ``seg`` itself.
    """
    if deltas.is_zero:
        return seg
    has_syn = bool(seg.flags & TcpFlags.SYN)
    seq = seq_add(seg.seq, deltas.seq)
    ack = seq_add(seg.ack, deltas.ack) if seg.flags & TcpFlags.ACK else seg.ack
    window = seg.window if has_syn else rescale_window(seg.window, deltas.win_shift)
    options = _rewrite_options(seg.options, deltas, is_syn=seg.is_syn)
    return replace(seg, seq=seq, ack=ack, window=window, options=options)


def rewrite(seg: Segment, tuple: FiveTuple, deltas: Deltas) -> Segment:
    """Replace ``seg``'s five-tuple with ``tuple``, then apply ``deltas`` (:func:`apply_deltas`)."""
    return apply_deltas(seg.with_tuple(tuple), deltas)


def _norm(x: int) -> int:
    return x % MOD


def normalize(deltas: Deltas) -> Deltas:
    """The same translation with every offset reduced into ``[0, 2**32)``."""
    return Deltas(
        seq=_norm(deltas.seq),
        ack=_norm(deltas.ack),
        tsval=_norm(deltas.tsval),
        tsecr=_norm(deltas.tsecr),
        win_shift=deltas.win_shift,
    )


def invert(deltas: Deltas) -> Deltas:
    """The translation back: offsets negated (mod 2**32) and the window shift negated.

    ``apply_deltas(apply_deltas(s, d), invert(d))`` restores ``s``'s seq, ack, SACK and
    timestamp fields exactly; the window is restored exactly only when the forward rescale lost
    no bits (no clamping at 0xFFFF on a left shift, no low bits dropped on a right shift).
    """
    return Deltas(
        seq=_norm(-deltas.seq),
        ack=_norm(-deltas.ack),
        tsval=_norm(-deltas.tsval),
        tsecr=_norm(-deltas.tsecr),
        win_shift=-deltas.win_shift,
    )


def compose(first: Deltas, then: Deltas) -> Deltas:
    """The single translation equal to applying ``first`` and then ``then``.

    Offsets add modulo 2**32 and window shifts add. (For the window this is exact except when
    an intermediate rescale clamps or drops bits.)
    """
    return Deltas(
        seq=_norm(first.seq + then.seq),
        ack=_norm(first.ack + then.ack),
        tsval=_norm(first.tsval + then.tsval),
        tsecr=_norm(first.tsecr + then.tsecr),
        win_shift=first.win_shift + then.win_shift,
    )
