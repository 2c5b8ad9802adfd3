"""Tests for dysco_proto.ports: per-(local, peer) subsession port allocation."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dysco_proto.ports import PortPool, PortsExhausted

L, P, Q = "10.0.0.1", "10.0.0.2", "10.0.0.3"


@pytest.mark.parametrize(("low", "high"), [(0, 10), (10, 9), (1, 65536), (70000, 70001), (-1, 5)])
def test_invalid_range(low: int, high: int) -> None:
    with pytest.raises(ValueError):
        PortPool(low, high)


def test_defaults_and_bounds() -> None:
    pool = PortPool()
    assert (pool.low, pool.high, pool.size) == (20000, 60999, 41000)
    port = pool.allocate(L, P)
    assert 20000 <= port <= 60999
    single = PortPool(65535, 65535)
    assert single.allocate(L, P) == 65535
    with pytest.raises(PortsExhausted):
        single.allocate(L, P)


def test_deterministic_given_seed_and_calls() -> None:
    def run(seed: int) -> list[int]:
        pool = PortPool(1000, 1999, seed=seed)
        out = [pool.allocate(L, P) for _ in range(5)]
        pool.release(L, P, out[1])
        out += [pool.allocate(L, Q), pool.allocate(L, P)]
        return out

    assert run(1) == run(1)
    assert run(7) == run(7)
    starts = {PortPool(1000, 1999, seed=s).allocate(L, P) for s in range(20)}
    assert len(starts) > 1  # the seed moves the starting offset


def test_cursor_scans_upward_with_wraparound() -> None:
    pool = PortPool(100, 104, seed=3)
    first = pool.allocate(L, P)
    ports = [first] + [pool.allocate(L, P) for _ in range(4)]
    expected = [100 + (first - 100 + i) % 5 for i in range(5)]
    assert ports == expected
    assert sorted(ports) == [100, 101, 102, 103, 104]


def test_released_port_not_reused_immediately() -> None:
    pool = PortPool(100, 199)
    a = pool.allocate(L, P)
    pool.release(L, P, a)
    b = pool.allocate(L, P)
    assert b != a  # the cursor moved past a


def test_release_idempotent_and_counts() -> None:
    pool = PortPool(100, 109)
    ports = [pool.allocate(L, P) for _ in range(3)]
    assert pool.in_use(L, P) == 3
    assert all(pool.is_used(L, P, p) for p in ports)
    pool.release(L, P, ports[0])
    pool.release(L, P, ports[0])
    pool.release(L, P, 5)  # never used, out of range: no-op
    pool.release(Q, P, ports[1])  # unknown pair: no-op
    assert pool.in_use(L, P) == 2
    assert not pool.is_used(L, P, ports[0])
    assert pool.is_used(L, P, ports[1])
    assert pool.in_use(Q, P) == 0
    assert not pool.is_used(Q, P, ports[1])


def test_reserve() -> None:
    pool = PortPool(100, 102)
    assert pool.reserve(L, P, 101)
    assert not pool.reserve(L, P, 101)
    assert pool.is_used(L, P, 101)
    got = {pool.allocate(L, P), pool.allocate(L, P)}
    assert got == {100, 102}
    with pytest.raises(PortsExhausted):
        pool.allocate(L, P)
    pool.release(L, P, 101)
    assert pool.allocate(L, P) == 101


def test_reserve_outside_range_tracked_but_not_counted_for_exhaustion() -> None:
    pool = PortPool(100, 101)
    assert pool.reserve(L, P, 5000)
    assert pool.is_used(L, P, 5000)
    assert pool.in_use(L, P) == 1
    assert {pool.allocate(L, P), pool.allocate(L, P)} == {100, 101}
    with pytest.raises(PortsExhausted):
        pool.allocate(L, P)
    pool.release(L, P, 5000)
    assert pool.in_use(L, P) == 2


@pytest.mark.parametrize("port", [0, -1, 65536])
def test_reserve_invalid_port(port: int) -> None:
    with pytest.raises(ValueError):
        PortPool().reserve(L, P, port)


def test_pairs_are_directional_and_independent() -> None:
    pool = PortPool(100, 101)
    for pair in ((L, P), (P, L), (L, Q)):
        assert {pool.allocate(*pair), pool.allocate(*pair)} == {100, 101}
    with pytest.raises(PortsExhausted):
        pool.allocate(L, P)


ops = st.lists(
    st.tuples(
        st.sampled_from(["alloc", "release", "reserve"]),
        st.sampled_from([(L, P), (L, Q)]),
        st.integers(95, 125),
    ),
    max_size=120,
)


@settings(max_examples=200)
@given(ops, st.integers(0, 5))
def test_against_model(seq: list[tuple[str, tuple[str, str], int]], seed: int) -> None:
    low, high = 100, 119
    pool = PortPool(low, high, seed=seed)
    model: dict[tuple[str, str], set[int]] = {(L, P): set(), (L, Q): set()}
    for op, pair, port in seq:
        used = model[pair]
        if op == "alloc":
            if len({p for p in used if low <= p <= high}) == high - low + 1:
                with pytest.raises(PortsExhausted):
                    pool.allocate(*pair)
            else:
                got = pool.allocate(*pair)
                assert low <= got <= high
                assert got not in used
                used.add(got)
        elif op == "release":
            pool.release(*pair, port)
            used.discard(port)
        else:
            assert pool.reserve(*pair, port) == (port not in used)
            used.add(port)
        assert pool.in_use(*pair) == len(used)
    for pair, used in model.items():
        for p in range(90, 130):
            assert pool.is_used(*pair, p) == (p in used)
