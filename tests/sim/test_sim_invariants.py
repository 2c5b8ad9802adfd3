"""The simulator's invariant checkers catch what they are meant to catch."""

from __future__ import annotations

from typing import Any

import pytest

from dysco_proto.packet import FiveTuple
from dysco_proto.sim.invariants import (
    LockCheck,
    OutcomeCheck,
    RequestRecord,
    StreamCheck,
    Violations,
)

A, B, C, D = "198.18.1.1", "198.18.3.1", "198.18.3.2", "198.18.2.1"
SESSION = FiveTuple(A, 10000, D, 2000)
S_AB = FiveTuple(A, 30000, B, 2000)
S_BC = FiveTuple(B, 30001, C, 2000)
S_CD = FiveTuple(C, 30002, D, 2000)


def test_stream_check() -> None:
    v = Violations()
    ok = StreamCheck("ok", b"abcdef", v)
    ok.feed(b"abc")
    ok.feed(b"def")
    assert ok.complete and not v
    bad = StreamCheck("bad", b"abcdef", v)
    bad.feed(b"abX")
    assert bad.broken and "differs from the sent stream at byte 2" in v.items[0]
    long = StreamCheck("long", b"ab", v)
    long.feed(b"abc")
    assert "more than the 2 sent" in v.items[1]
    assert not StreamCheck("short", b"ab", v).complete


def _rec(tag: int, **kw: Any) -> RequestRecord:
    base: dict[str, Any] = {
        "tag": tag,
        "session": 0,
        "op": "insert",
        "left": A,
        "right": D,
        "new_boxes": (),
        "issued_at": 0.0,
    }
    base.update(kw)
    return RequestRecord(**base)


def test_outcome_check() -> None:
    v = Violations()
    oc = OutcomeCheck(v)
    oc.issued(_rec(1))
    oc.issued(_rec(2, dead_box=True))
    oc.issued(_rec(3))
    oc.observe(A, "reconfig.started", {"tag": 1, "request": "r1"}, 0.1)
    assert oc.requests[1].anchor == A and oc.by_request["r1"].tag == 1
    assert oc.observe(A, "reconfig.completed", {"tag": 1}, 0.2) is not None
    assert not v
    oc.observe(A, "reconfig.refused", {"tag": 1, "reason": "x"}, 0.3)
    assert "second terminal outcome" in v.items[-1]
    oc.observe(A, "reconfig.cancelled", {"tag": 99}, 0.3)
    assert "unknown tag 99" in v.items[-1]
    oc.observe(A, "reconfig.completed", {"tag": 2}, 0.4)
    assert "through a failed box completed" in v.items[-1]
    oc.finish()
    assert "request tag 3" in v.items[-1] and "no terminal outcome" in v.items[-1]
    assert set(oc.live) == {3}


class Env:
    """A three-hop old path A -> B -> C -> D with transparent boxes."""

    def __init__(self) -> None:
        self.out = {(A, SESSION): S_AB, (B, SESSION): S_BC, (C, SESSION): S_CD}
        self.inn = {(B, S_AB): SESSION, (C, S_BC): SESSION, (D, S_CD): SESSION}

    def out_rewrite(self, ip: str, session: FiveTuple) -> FiveTuple | None:
        return self.out.get((ip, session))

    def in_rewrite(self, ip: str, sub: FiveTuple) -> FiveTuple | None:
        return self.inn.get((ip, sub))

    def box_emits(self, ip: str, received: FiveTuple) -> FiveTuple | None:
        return received


def _live(req: str, left: str = A, right: str = D, tag: int = 1) -> dict[int, RequestRecord]:
    rec = _rec(tag, left=left, right=right, request=req, anchor=left, anchor_session=SESSION)
    return {tag: rec}


def test_lock_check_accepts_a_fully_locked_segment() -> None:
    v = Violations()
    lc = LockCheck(v)
    env = Env()
    lc.update(C, {S_CD: ("pending", "r")})
    lc.update(B, {S_BC: ("pending", "r")})
    lc.update(A, {S_AB: ("pending", "r")})
    lc.check(_live("r"), env, 0.0)
    for ip, sub in ((C, S_CD), (B, S_BC), (A, S_AB)):
        lc.update(ip, {sub: ("locked", "r")})
        lc.check(_live("r"), env, 0.0)
    # released left to right (cancel), then another request may take the subsessions
    for ip, sub in ((A, S_AB), (B, S_BC), (C, S_CD)):
        lc.update(ip, {sub: ("unlocked", None)})
        lc.check(_live("r"), env, 0.0)
    lc.update(B, {S_BC: ("pending", "q")})
    lc.check(_live("r") | _live("q", left=B, tag=2), env, 0.0)
    assert not v


def test_lock_check_finds_a_hole_in_a_locked_segment() -> None:
    v = Violations()
    lc = LockCheck(v)
    lc.update(C, {S_CD: ("locked", "r")})
    lc.update(B, {S_BC: ("pending", "q")})  # another request got in the way
    lc.update(A, {S_AB: ("locked", "r")})
    lc.check(_live("r"), Env(), 1.5)
    assert any("is locked at its left anchor but subsession" in m for m in v.items)


def test_lock_check_finds_takeovers_and_double_holders() -> None:
    v = Violations()
    lc = LockCheck(v)
    lc.update(B, {S_BC: ("locked", "r")})
    lc.update(B, {S_BC: ("pending", "q")})
    assert "went from locked by r to pending by q" in v.items[-1]
    lc.update(C, {S_CD: ("pending", "r")})
    lc.update(C, {S_CD: ("locked", "q")})
    assert "went from pending by r to locked by q" in v.items[-1]
    lc.update(D, {S_CD: ("pending", "z")})  # the same subsession held at a second agent
    assert "held by different requests" in v.items[-1]


@pytest.mark.slow
def test_lock_check_catches_a_broken_agent(monkeypatch: pytest.MonkeyPatch) -> None:
    """Mutation test: an agent whose locks can be stolen must be caught by the simulator."""
    import dysco_proto.agent.relay as relay_mod  # the lock relay of the middle hops
    from dysco_proto.lock import LockStatus, Verdict, on_request
    from dysco_proto.sim.runner import run
    from dysco_proto.sim.scenario import SimParams

    def steal(lock: Any, r: Any) -> Verdict:
        if lock.status is not LockStatus.UNLOCKED and lock.request != r:
            lock.status, lock.request = LockStatus.PENDING, r
            return Verdict.FORWARD
        return on_request(lock, r)

    def grant_any(lock: Any, r: Any) -> tuple[Verdict, list[Any]]:
        lock.status, lock.request = LockStatus.LOCKED, r
        refused, lock.held = lock.held, []
        return Verdict.FORWARD, refused

    monkeypatch.setattr(relay_mod, "on_request", steal)
    monkeypatch.setattr(relay_mod, "on_ack", grant_any)
    r = run(SimParams(sessions=20, reconfigs=100, seed=1))
    assert any("went from" in m for m in r.violations), r.violations[:3]
