"""The link between the Spin model and the Python agent (dysco_proto/model).

- the lock table is total and ``lock_gen.pml`` (what the model includes) is generated from it;
- :mod:`dysco_proto.lock` and the real :class:`~dysco_proto.agent.Agent` (through
  ``Agent.handle`` with encoded control messages) follow every row of the table;
- multi-agent runs with contention, loss, duplication and reordering replay step by step
  against the table;
- an injected bug in the lock logic (a request that finds PENDING(r') is forwarded instead of
  held) is caught by both checks;
- finding orphan-lock (see dysco_proto/model/MODEL.md): its trail on the real agents, which
  the fix (a lock nacks late copies of requests that ended at it) now passes.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import replace

import pytest

import dysco_proto.agent as agent_mod
import dysco_proto.agent.relay as relay_mod
import dysco_proto.lock as lock_mod
from dysco_proto.actions import SendControl
from dysco_proto.events import ControlIn, Reconfigure, TimerFired
from dysco_proto.lock import LockState, LockStatus, on_ack, on_cancel, on_nack, on_request
from dysco_proto.model import gen
from dysco_proto.model.driver import KEY, ChainSession, Channel, chain_session, contention
from dysco_proto.model.link import LockRecorder, check_all, check_step, view
from dysco_proto.model.lock_table import (
    STATES,
    TABLE,
    Lock,
    LockMsg,
    Owner,
    Status,
    Verdict,
    check_table,
    row_for,
    step,
)
from dysco_proto.packet import Segment, TcpFlags
from dysco_proto.timers import TimerKey, TimerKind
from dysco_proto.wire import ControlCodec, ControlMessage, MsgType, RequestId

R = RequestId("198.18.0.1", 7)  # the message's request
OTHER = RequestId("198.18.9.9", 8)  # another request owning the lock
H = RequestId("198.18.0.1", 9)  # a held request


def _held_variants(status: Status, owner: Owner) -> list[tuple[RequestId, ...]]:
    variants: list[tuple[RequestId, ...]] = [(), (H,)]
    if status is Status.PENDING and owner is Owner.OTHER:
        variants += [(R,), (H, R)]
    if status is Status.UNLOCKED:
        variants += [(R,)]  # possible after a release left others behind
    return variants


def _cases() -> Iterator[tuple[LockMsg, Status, Owner, tuple[RequestId, ...]]]:
    # FINISH is not a dysco_proto.lock function but Agent._left_finish: the agent traces
    # check it (test_traces_of_the_real_agent_follow_the_table)
    for msg in (m for m in LockMsg if m is not LockMsg.FINISH):
        for status, owner in STATES:
            for held in _held_variants(status, owner):
                yield msg, status, owner, held


def _abstract(status: Status, owner: Owner, held: tuple[RequestId, ...]) -> Lock[RequestId]:
    if status is Status.UNLOCKED:  # the relation: whether R already ended at the lock
        return Lock(status, None, held, frozenset({R} if owner is Owner.SAME else {OTHER}))
    return Lock(status, R if owner is Owner.SAME else OTHER, held)


def _concrete(lock: Lock[RequestId]) -> LockState:
    return LockState(
        LockStatus(lock.status.value), lock.owner, list(lock.held), sorted(lock.ended, key=str)
    )


# ------------------------------------------------------------------------------------------
# the table and the generated Promela


def test_table_is_total_and_consistent() -> None:
    check_table()
    assert len(TABLE) == len(LockMsg) * len(STATES)


def test_generated_promela_is_fresh() -> None:
    assert gen.GENERATED.read_text() == gen.render(), (
        "dysco_proto/model/lock_gen.pml is stale: run python -m dysco_proto.model.gen"
    )
    assert gen.main(["--check"]) == 0


def test_generated_promela_has_every_row() -> None:
    text = gen.render()
    for row in TABLE:
        assert f"/* {row.note} */" in text
    for msg in LockMsg:
        assert f"inline LOCK_{msg.name}(n, r)" in text


def test_mutated_table_changes_the_promela() -> None:
    rows = [
        replace(r, verdict=Verdict.FORWARD, held=r.held.KEEP)  # type: ignore[attr-defined]
        if r.msg is LockMsg.REQUEST and r.status is Status.PENDING and r.owner is Owner.OTHER
        else r
        for r in TABLE
    ]
    assert gen.render(rows) != gen.render()


# ------------------------------------------------------------------------------------------
# dysco_proto.lock against the table


@pytest.mark.parametrize(("msg", "status", "owner", "held"), list(_cases()))
def test_lock_functions_follow_the_table(
    msg: LockMsg, status: Status, owner: Owner, held: tuple[RequestId, ...]
) -> None:
    before = _abstract(status, owner, held)
    want = step(before, msg, R)
    lock = _concrete(before)
    refused: tuple[RequestId, ...] = ()
    released: RequestId | None = None
    if msg is LockMsg.REQUEST:
        verdict = on_request(lock, R)
    elif msg is LockMsg.ACK:
        verdict, ref = on_ack(lock, R)
        refused = tuple(ref)
    elif msg is LockMsg.NACK:
        verdict, released = on_nack(lock, R)
    else:
        verdict, released = on_cancel(lock, R)
    assert verdict.value == want.verdict.value
    assert view(lock) == want.lock
    assert refused == want.refused
    assert released == want.released


# ------------------------------------------------------------------------------------------
# the real agent against the table, row by row


class _Rig:
    """C - M - S with an established session; lock messages are injected at M."""

    def __init__(self) -> None:
        self.rec = LockRecorder(KEY)
        self.cs: ChainSession = chain_session(1, seed=3, observer=self.rec)
        self.m = self.cs.boxes[0]
        hop = next(iter(self.m.agent.records.values()))
        assert hop.left is not None and hop.right is not None
        self.lside, self.rside = hop.left, hop.right
        self.codec = ControlCodec(KEY)
        self.msg_id = 1_000_000

    def encode(self, msg: ControlMessage) -> bytes:
        self.msg_id += 1
        return self.codec.encode(replace(msg, msg_id=self.msg_id))

    def request(self, r: RequestId) -> ControlMessage:
        return ControlMessage(
            MsgType.REQUEST_LOCK,
            r,
            self.lside.peer,
            left_anchor=r.anchor,
            right_anchor=self.cs.server.ip,
            subsession=self.lside.sub,
        )

    def inject(
        self, msg: LockMsg, lock: Lock[RequestId]
    ) -> tuple[list[object], Verdict | None, object]:
        agent = self.m.agent
        self.rside.lock = _concrete(lock)
        agent.held_msgs.clear()
        for h in lock.held:
            agent.held_msgs[(self.rside.sub, h)] = (self.request(h), self.lside)
        if msg is LockMsg.REQUEST:
            cm, src = self.request(R), self.lside.peer
        elif msg is LockMsg.CANCEL:
            cm = replace(self.request(R), type=MsgType.CANCEL_LOCK)
            src = self.lside.peer
        else:
            mtype = MsgType.ACK_LOCK if msg is LockMsg.ACK else MsgType.NACK_LOCK
            cm = ControlMessage(
                mtype,
                R,
                self.rside.peer,
                left_anchor=R.anchor,
                right_anchor=self.cs.server.ip,
                subsession=self.rside.sub,
            )
            src = self.rside.peer
        self.rec.steps.clear()
        self.cs.driver.handle(self.m, ControlIn(src, self.m.ip, self.encode(cm)))
        assert len(self.rec.steps) == 1
        record = self.rec.steps[0]
        return check_step(record), None, record  # type: ignore[return-value]


@pytest.fixture(scope="module")
def rig() -> _Rig:
    return _Rig()


@pytest.mark.parametrize(("msg", "status", "owner", "held"), list(_cases()))
def test_agent_follows_every_row(
    rig: _Rig, msg: LockMsg, status: Status, owner: Owner, held: tuple[RequestId, ...]
) -> None:
    lock = _abstract(status, owner, held)
    divergences, _v, record = rig.inject(msg, lock)
    assert record.involved is rig.rside  # type: ignore[attr-defined]
    assert divergences == []
    want = step(lock, msg, R)
    expected = want.lock
    if want.released is not None:  # the agent re-processes the released held request
        expected = step(expected, LockMsg.REQUEST, want.released).lock
    assert view(rig.rside.lock) == expected


# ------------------------------------------------------------------------------------------
# traces of multi-agent runs


CHANNELS = (
    Channel(),
    Channel(loss=0.1, dup=0.05, jitter=0.003),
    Channel(loss=0.2, jitter=0.01),
    Channel(dup=0.2, jitter=0.02),
)


def _verdicts(rec: LockRecorder) -> Counter[str]:
    seen: Counter[str] = Counter()
    for s in rec.steps:
        if (
            s.msg is not None
            and s.involved is not None
            and s.msg.type
            in (
                MsgType.REQUEST_LOCK,
                MsgType.ACK_LOCK,
                MsgType.NACK_LOCK,
                MsgType.CANCEL_LOCK,
            )
        ):
            before = s.before[id(s.involved)]
            lm = {
                MsgType.REQUEST_LOCK: LockMsg.REQUEST,
                MsgType.ACK_LOCK: LockMsg.ACK,
                MsgType.NACK_LOCK: LockMsg.NACK,
                MsgType.CANCEL_LOCK: LockMsg.CANCEL,
            }[s.msg.type]
            seen[f"{lm.value}:{step(before, lm, s.msg.request).verdict.value}"] += 1
    return seen


def test_traces_of_the_real_agent_follow_the_table() -> None:
    verdicts: Counter[str] = Counter()
    steps = 0
    for seed in range(12):
        for channel in CHANNELS:
            rec = LockRecorder(KEY)
            cs = contention(seed, channel, rec)
            divergences = check_all(rec.steps)
            assert divergences == [], (seed, channel, [str(d) for d in divergences[:5]])
            assert not cs.driver.violations
            verdicts += _verdicts(rec)
            steps += len(rec.steps)
    # the runs exercise contention: holds, refusals, drops of stale messages, releases
    for key in ("request:forward", "request:hold", "request:nack", "ack:forward", "nack:forward"):
        assert verdicts[key] > 0, (key, verdicts)
    assert verdicts["ack:drop"] + verdicts["nack:drop"] > 0, verdicts
    assert steps > 500


def _forget_to_hold(lock: LockState, r: RequestId) -> lock_mod.Verdict:
    """The injected bug: a request that finds PENDING(r') is forwarded instead of held."""
    if lock.status is LockStatus.PENDING and lock.request != r:
        return lock_mod.Verdict.FORWARD
    return on_request(lock, r)


def test_injected_bug_is_caught_by_the_trace_check(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(relay_mod, "on_request", _forget_to_hold)
    monkeypatch.setattr(lock_mod, "on_request", _forget_to_hold)
    caught = []
    for seed in range(6):
        rec = LockRecorder(KEY)
        contention(seed, Channel(), rec)
        caught += check_all(rec.steps)
    assert caught, "the link check missed the injected bug"
    assert any("table: hold" in d.what for d in caught)


def test_injected_bug_is_caught_by_the_row_check(
    rig: _Rig, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(relay_mod, "on_request", _forget_to_hold)
    lock = _abstract(Status.PENDING, Owner.OTHER, ())
    divergences, _v, _record = rig.inject(LockMsg.REQUEST, lock)
    assert divergences
    assert "verdict forward, table: hold" in str(divergences)
    assert row_for(LockMsg.REQUEST, Status.PENDING, Owner.OTHER).verdict is Verdict.HOLD


# ------------------------------------------------------------------------------------------
# finding orphan-lock, on the real agents


def test_no_orphan_lock_after_a_retransmitted_request() -> None:
    """Finding orphan-lock (MODEL.md), fixed: a lock remembers the requests that ended at it
    (released it, or were refused by it) and nacks their late copies instead of re-locking."""
    cs = chain_session(1, seed=11)
    drv, c, m, s = cs.driver, cs.client, cs.boxes[0], cs.server
    queue: list[SendControl] = []
    drv._send_control = queue.append  # type: ignore[method-assign]
    codec = ControlCodec(KEY)

    def deliver(src: str, dst: str, mtype: MsgType) -> None:
        for i, a in enumerate(queue):
            if (a.src_ip, a.dst_ip) == (src, dst) and codec.decode(
                a.data, check_replay=False
            ).type is mtype:
                queue.pop(i)
                drv.handle(drv.hosts[dst], ControlIn(src, dst, a.data))
                return
        raise AssertionError(f"no {mtype.name} {src} -> {dst} in flight")

    # S is the right anchor of another reconfiguration: it will refuse (nack busy)
    s_side = next(iter(s.agent.records.values())).left
    assert s_side is not None
    s_side.busy = RequestId("198.18.7.7", 1)
    drv.handle(c, Reconfigure(cs.session, s.ip, ()))
    (r,) = c.agent.lefts
    deliver(c.ip, m.ip, MsgType.REQUEST_LOCK)  # #1 reaches M: PENDING(r), forwarded to S
    drv.handle(c, TimerFired(TimerKey.for_request(TimerKind.LOCK, r)))  # C retransmits (#2)
    deliver(m.ip, s.ip, MsgType.REQUEST_LOCK)  # S refuses #1
    deliver(s.ip, m.ip, MsgType.NACK_LOCK)  # the nack releases M's lock, goes on to C
    deliver(c.ip, m.ip, MsgType.REQUEST_LOCK)  # #2 reaches M: UNLOCKED -> PENDING(r) again
    deliver(m.ip, c.ip, MsgType.NACK_LOCK)  # C: the request is refused and forgotten
    assert r not in c.agent.lefts
    queue.clear()  # #2's forward to S is lost; nobody will ever retransmit it
    drv.run(drv.now + 5.0)
    m_lock = next(iter(m.agent.records.values())).right
    assert m_lock is not None
    assert m_lock.lock.status is LockStatus.UNLOCKED, f"M keeps {m_lock.lock} for refused {r}"


# ------------------------------------------------------------------------------------------
# finding lost-ack-after-fold, on the real agents


UPDATE_WINDOWS = {agent_mod.THIRD_ACK_WINDOW >> w for w in range(15)}  # the update's, any scale


def _fold_with_a_lost_ack(retire: bool) -> tuple[ChainSession, list[Segment]]:
    """C-M-S, C deletes M while the client's last old-path bytes are unacknowledged: every
    segment S sends on the old path (S -> M) is lost, so S folds once its host has *sent* the
    ack, and the client's retransmission below its cutoff takes the old path after S's fold.
    Returns the session and the segments S's host received with a tuple other than the
    session's (a real stack answers those with a RST)."""
    cs = chain_session(1, seed=5)
    drv, c, m, s = cs.driver, cs.client, cs.boxes[0], cs.server
    send_data = drv._send_data

    def lossy(seg: Segment) -> None:
        # also lost: S's window update behind its new-path SYN-ACK (protocol-design.md 4.2),
        # which would otherwise bring the client the same ack on the new path
        update = (seg.tuple.src_ip == s.ip and seg.flags == TcpFlags.ACK and not seg.payload
                  and seg.window in UPDATE_WINDOWS)  # fmt: skip
        if (seg.tuple.src_ip, seg.tuple.dst_ip) != (s.ip, m.ip) and not update:
            send_data(seg)

    drv._send_data = lossy  # type: ignore[method-assign]
    foreign: list[Segment] = []
    server_app = s.app
    assert server_app is not None

    def app(seg: Segment) -> None:
        if seg.tuple != cs.session:
            foreign.append(seg)
        server_app(seg)

    s.app = app
    if not retire:
        right_fold = s.agent._right_fold

        def fold_and_forget(ra: agent_mod.RightAnchor) -> None:
            old = ra.side.in_key
            right_fold(ra)
            s.agent._remove_entry(ra.side, old)  # the model's mutant MUT_NO_RETIRE

        s.agent._right_fold = fold_and_forget  # type: ignore[method-assign]
    drv.handle(c, Reconfigure(cs.session, s.ip, ()))
    cs.sent.extend(b"x" * 100)
    cs.c_ep.write(b"x" * 100)
    drv.run(drv.now + 1.0)
    return cs, foreign


def test_retransmission_after_the_fold_reaches_the_host_through_the_retired_entry() -> None:
    """Finding lost-ack-after-fold (MODEL.md), closed: S folds on an ack its host sent but the
    network lost; the client's retransmission below its cutoff goes on the old path after
    S's fold and reaches S's host through the retired old IN entry (rewritten to the session
    tuple); its ack comes back on the new path and the client completes too."""
    cs, foreign = _fold_with_a_lost_ack(retire=True)
    assert [(h, k) for h, k, _t in cs.outcomes()] == [(cs.client.ip, "reconfig.completed")]
    assert cs.c_ep.retransmissions > 0
    assert cs.c_ep.outstanding == 0 and bytes(cs.received) == bytes(cs.sent)
    assert foreign == [] and cs.server.dp.counters.get("miss", 0) == 0
    assert not cs.driver.violations


def test_without_retired_entries_the_retransmission_reaches_the_host_unrewritten() -> None:
    """The same run with S removing its old IN entry at the fold (the model's mutant
    MUT_NO_RETIRE): the retransmission finds no entry and reaches S's host with the old
    subsession's tuple, which a real stack answers with a RST (the session is lost)."""
    cs, foreign = _fold_with_a_lost_ack(retire=False)
    assert cs.server.dp.counters.get("miss", 0) > 0
    assert foreign and all(seg.tuple.src_ip == cs.boxes[0].ip for seg in foreign)
