"""The held prefix store (controller.held_prefix): kept per entry while the hold lasts,
released in sequence order through the entry as the ending Write makes it, without the
timestamp option, forgotten with the entry."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from controller.daemon import Daemon
from controller.held_prefix import MAX_SEGMENTS, SEND_SEGMENTS, HeldPrefix, is_held
from dysco_pipeline.frames import build_frame, parse_frame
from dysco_proto.actions import ModifyEntry, Probe
from dysco_proto.agent import HOLD
from dysco_proto.entries import Deltas, Direction, EntryKey, MappingEntry
from dysco_proto.packet import FiveTuple, Segment, TcpFlags, TcpOptions
from tests.controller_support import (
    refmodel_device,
    run_daemon,
    syn_frame,
    until,
)

SESSION = FiveTuple("10.0.0.1", 5000, "10.0.0.9", 80)
OLD = FiveTuple("10.0.0.1", 40001, "10.0.0.5", 80)
NEW = FiveTuple("10.0.0.1", 40002, "10.0.0.6", 80)
KEY = EntryKey(Direction.OUT, SESSION)
CUT = 0xFFFFF000  # the prefix wraps past 2**32


def _entry(new: FiveTuple | None) -> MappingEntry:
    nd = Deltas(seq=0x100) if new is not None else None
    return MappingEntry(KEY, OLD, Deltas(), slot=3, new_rewrite=new, new_deltas=nd)


def _seg(seq: int, tsval: int = 77) -> Segment:
    opts = TcpOptions(timestamp=(tsval, 5))
    return Segment(SESSION, seq & 0xFFFFFFFF, 9001, TcpFlags.ACK, 500, opts, b"d" * 1000)


def _md(seq: int) -> dict[str, int]:
    # the registers a HOLD punt reports: cut valid, old_ack_hi = the ack (no old-path ack due)
    return {"reg_valid": 0x3F, "sent_hi": (seq + 1000) & 0xFFFFFFFF, "ack_hi": 9001,
            "rcvd_ack_hi": 0, "new_rcvd_lo": 0, "cut": CUT, "old_ack_hi": 9001,
            "epoch": 1, "slot": 3}  # fmt: skip


def test_is_held_only_for_the_hold_tuple() -> None:
    assert is_held(_entry(HOLD)) and not is_held(_entry(NEW)) and not is_held(_entry(None))


def test_kept_until_the_hold_ends_then_released_in_sequence_order_across_the_wrap() -> None:
    h = HeldPrefix()
    seqs = [CUT + 3000, CUT, CUT + 1000, CUT + 2000]  # the last two wrap past 2**32
    for s in seqs:
        assert h.keep(1, KEY, _seg(s), _md(s))
    assert h.release(1, _entry(HOLD)) == [] and len(h) == 4  # still held: they stay
    out = h.release(1, _entry(NEW))  # the commit gave the new path
    assert [p.seq for p in out] == [(CUT + i * 1000 + 0x100) & 0xFFFFFFFF for i in range(4)]
    assert all(p.tuple == NEW and p.payload == b"d" * 1000 for p in out)
    assert all(p.options.timestamp is None for p in out)  # PAWS: the old TSval is dropped
    assert len(h) == 0 and h.sent == 4 and h.release(1, _entry(NEW)) == []


def test_a_cancel_sends_them_on_the_old_path() -> None:
    h = HeldPrefix()
    h.keep(1, KEY, _seg(CUT), _md(CUT))
    (p,) = h.release(1, _entry(None))  # single path again: the old rewrite
    assert p.tuple == OLD and p.seq == CUT


def test_retransmission_replaces_its_copy_and_the_store_is_bounded() -> None:
    h = HeldPrefix()
    h.keep(1, KEY, _seg(CUT, tsval=1), _md(CUT))
    h.keep(1, KEY, _seg(CUT, tsval=2), _md(CUT))
    assert len(h) == 1
    for i in range(1, MAX_SEGMENTS + 5):
        h.keep(1, KEY, _seg(CUT + 10 * i), _md(CUT + 10 * i))
    assert len(h) == MAX_SEGMENTS and h.discarded == 5
    assert h.keep(1, KEY, _seg(CUT, tsval=3), _md(CUT))  # a kept seq is still replaced


def test_forget_and_other_keys_are_apart() -> None:
    h = HeldPrefix()
    other = EntryKey(Direction.OUT, replace(SESSION, src_port=5001))
    h.keep(1, KEY, _seg(CUT), _md(CUT))
    h.keep(2, KEY, _seg(CUT), _md(CUT))
    h.keep(1, other, _seg(CUT), _md(CUT))
    h.forget(1, KEY)
    assert not h.holds(1, KEY) and h.holds(2, KEY) and h.holds(1, other) and h.discarded == 1


def test_released_segments_carry_the_newest_ack_the_controller_saw() -> None:
    """RFC 5961 5.2: an ack more than a window below the receiver's snd_una is dropped with a
    challenge ACK; the host's acks moved on during the hold, and a probe reply or latch of the
    slot (note_ack_hi) or a later punt tells the controller how far."""
    h = HeldPrefix()
    h.keep(1, KEY, _seg(CUT), _md(CUT))
    h.note_ack_hi(3, 150_000)
    h.note_ack_hi(4, 999_999)  # another slot: not this entry's
    h.note_ack_hi(3, 120_000)  # older than what was seen: ignored
    (p,) = h.release(1, _entry(NEW))
    assert p.ack == 150_000 and p.tuple == NEW  # one piece: no old-path ack is due for it
    h.keep(1, KEY, _seg(CUT), _md(CUT))
    (p,) = h.release(1, _entry(NEW))
    assert p.ack == 9001  # the note went with the release


def test_only_the_lowest_send_segments_go() -> None:
    h = HeldPrefix()
    for i in reversed(range(SEND_SEGMENTS + 3)):
        h.keep(1, KEY, _seg(CUT + 1000 * i), _md(CUT + 1000 * i))
    out = h.release(1, _entry(NEW))
    assert [(p.seq - 0x100 - CUT) % (1 << 32) for p in out] == [
        1000 * i for i in range(SEND_SEGMENTS)
    ]
    assert h.discarded == 3 and len(h) == 0


def test_daemon_keeps_a_hold_punt_and_sends_it_when_the_hold_ends(tmp_path: Path) -> None:
    """The glue on the reference pipeline behind real gRPC: an entry's new path held and its
    cutoff frozen, the host's data at the cutoff is punted HOLD and kept (nothing leaves);
    the Write that gives the new path sends it on that path, without its timestamp option."""
    backend, srv, cfg = refmodel_device(
        tmp_path, "{rto: 0.05, idle_scan: 0.2, idle_timeout: 30, reconcile: 30}"
    )
    session = FiveTuple("10.0.0.1", 40000, "10.0.0.9", 80)
    new_sub = FiveTuple("10.0.0.1", 41000, "10.0.0.6", 80)

    def data(seq: int) -> bytes:
        seg = Segment(session, seq, 1, TcpFlags.ACK, 500, TcpOptions(timestamp=(70, 5)),
                      b"p" * 100)  # fmt: skip
        return build_frame(seg, "02:00:00:00:00:01", "02:d5:c0:00:00:01")

    async def main(d: Daemon) -> None:
        await until(lambda: d.status()["ready"], timeout=20)
        backend.inject(syn_frame(40000), 1)
        key = EntryKey(Direction.OUT, session)
        await until(lambda: key in d.shadow, timeout=20)
        await d.writer.drain()
        entry = d.shadow[key]
        held = replace(entry, new_rewrite=HOLD, new_deltas=Deltas())
        d.execute([ModifyEntry(held)])
        await d.writer.drain()
        assert backend.inject(data(1001), 1)  # old path: sent_hi = 1101
        d.execute([Probe(entry.slot, 78, freeze=True, epoch=entry.epoch)])  # cut = 1101
        await until(lambda: backend.state.registers[entry.slot].cut == 1101, timeout=10)
        assert backend.inject(data(1101), 1) == []  # the held prefix: punted
        await until(lambda: d.held.kept == 1, timeout=10)
        n = len(backend.outputs)
        d.execute([ModifyEntry(replace(held, new_rewrite=new_sub))])  # the commit
        await until(lambda: len(backend.outputs) > n, timeout=10)
        (port, frame), *_ = backend.outputs[n:]
        seg = parse_frame(frame).segment  # type: ignore[union-attr]
        assert port == 2  # the network port (the host's is 1)
        assert seg is not None and seg.tuple == new_sub and seg.seq == 1101
        assert seg.payload == b"p" * 100 and seg.options.timestamp is None
        assert d.counter_dict()["held_prefix"] == {"kept": 1, "sent": 1, "discarded": 0,
                                                   "pending": 0}  # fmt: skip

    run_daemon(cfg, srv, main)
