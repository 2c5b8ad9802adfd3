"""End to end (docs/testbed.md): unmodified boxes in their distribution default configuration (no
conntrack sysctl changed), each inserted into, removed from and swapped into a live session
while bytes flow: nftables ``masquerade random,fully-random``, a NAT behind a strict
ruleset, a box that delays, reorders and drops (nfqueue), a second TCP proxy (socat).
Every byte is checked, no RST may be seen, and the strict rulesets must count no INVALID
packet. Needs root, the DPDK agent, socat and NetfilterQueue; skips with one line otherwise."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from dysco_testbed.bed import missing_for

_SKIP = missing_for("dpdk")
for _tool in ("socat", "iptables"):
    if _SKIP is None and shutil.which(_tool) is None:
        _SKIP = f"{_tool} is not installed (Debian package {_tool})"
if _SKIP is None and importlib.util.find_spec("netfilterqueue") is None:
    _SKIP = "PyPI package NetfilterQueue is not installed"
pytestmark = [pytest.mark.root, pytest.mark.skipif(_SKIP is not None, reason=_SKIP or "")]

STOCK_YAML = Path(__file__).resolve().parents[2] / "dysco_testbed/scenarios/stock.yaml"


TOPOLOGY = STOCK_YAML


def _run(tb: object, name: str) -> dict[str, object]:
    from dysco_testbed import middleboxes
    from dysco_testbed.scenarios import failure_summary, run
    from dysco_testbed.suite import STOCK

    r = run(tb, STOCK[name](), log=lambda m: None)  # type: ignore[arg-type]
    d = r.to_dict()
    assert d["passed"], failure_summary(d)
    assert all(x.outcomes == {"completed": 1} for x in r.reconfigs), failure_summary(d)
    assert d["bytes_verified"] == d["bytes_sent"] > 0
    hosts = tb.hosts  # type: ignore[attr-defined]
    invalid = {h: middleboxes.invalid_count(hosts[h].ns) for h in ("fw", "natfw")}
    assert invalid == {"fw": 0, "natfw": 0}, invalid
    return d


def test_nat_random_fully_random_insert_remove_replace(tb: object) -> None:
    _run(tb, "natr")


def test_strict_nat_insert_remove_replace(tb: object) -> None:
    _run(tb, "natfw")


def test_delay_reorder_loss_insert_remove_replace(tb: object) -> None:
    _run(tb, "delay")


def test_socat_proxy_setup_and_removal(tb: object) -> None:
    _run(tb, "socat")
