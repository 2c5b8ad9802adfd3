"""dysco_testbed.loopback_ports.free_ports: ports for processes that bind them later."""

from __future__ import annotations

import socket

import pytest

from dysco_testbed.loopback_ports import ephemeral_range, free_ports


@pytest.mark.parametrize("kind", ["tcp", "udp"])
def test_free_ports_are_distinct_bindable_and_outside_the_ephemeral_range(kind: str) -> None:
    lo, hi = ephemeral_range()
    ports = free_ports(20, kind)  # type: ignore[arg-type]
    assert len(set(ports)) == 20
    assert all(not lo <= p <= hi for p in ports)
    stype = socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM
    held = []
    try:
        for p in ports:
            s = socket.socket(socket.AF_INET, stype)
            held.append(s)
            s.bind(("127.0.0.1", p))
    finally:
        for s in held:
            s.close()


def test_a_port_in_use_is_never_handed_out() -> None:
    lo, _ = ephemeral_range()
    taken = []
    try:
        for p in range(20000, min(lo, 20400)):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                s.bind(("127.0.0.1", p))
            except OSError:
                s.close()
                continue
            taken.append(s)
        busy = {s.getsockname()[1] for s in taken}
        assert not busy & set(free_ports(50, "udp"))
    finally:
        for s in taken:
            s.close()
