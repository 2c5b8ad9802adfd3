"""A controller killed (SIGKILL) and restarted 0.3 s later at several moments around a live
reconfiguration ("remove fw" from client -> fw -> mon -> server, anchored at the client's
controller) leaves the TCP session intact: every byte arrives, no reset (docs/controller.md). Real
namespaces, DPDK agents and controllers (docs/testbed.md); needs root, skips with one line
otherwise."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from dysco_testbed.bed import missing_for

_SKIP = missing_for("dpdk")
pytestmark = [pytest.mark.root, pytest.mark.skipif(_SKIP is not None, reason=_SKIP or "")]

HOST = "client"  # the first device: the left anchor of the reconfiguration


def _kill_restart(tb: Any, res: Any, delay: float = 0.3) -> None:
    """SIGKILL the client's controller, wait ``delay`` s, start it again, wait until ready."""
    d = tb.device_of(HOST)
    d.controller.kill()
    d.controller.wait()
    res.extra.setdefault("killed_at", []).append(round(time.monotonic() - res.extra["t0"], 3))
    time.sleep(delay)
    tb._spawn_controller(d)
    tb._wait_controller(d)
    # the sessions of this module's earlier runs (same port) are closed but still linger
    # (close_linger, TCP's TIME_WAIT): restored too, in state "closing"; this run's is live
    listed = tb.mgmt(HOST, "sessions", {"dport": 9100})
    live = [s for s in listed if s["state"] != "closing"]
    closed = len(listed) - len(live)
    res.extra["restored"] = tb.mgmt(HOST, "counters").get("restored_sessions") - closed
    # the path the restarted controller believes the session takes (its right neighbour)
    res.extra.setdefault("next_hop_after_restart", []).extend(s["right_peer"] for s in live)


def _completed(tb: Any) -> int:
    try:
        c = tb.mgmt(HOST, "counters", timeout=2)
    except Exception:
        return 0
    return int(c.get("reconfig_outcomes", {}).get("completed", 0))


def _spec(when: str) -> Any:
    from dysco_testbed.scenarios import Spec, Step

    step_at = 2.0
    before: Callable[[Any], None] | None = None
    during: Callable[[Any, float, Any], None]
    if when == "before":
        step_at = 6.0  # the restarted controller (restored from its store) reconfigures

        def during(tb: Any, t0: float, res: Any) -> None:
            res.extra["t0"] = t0
            time.sleep(max(0.0, t0 + 1.5 - time.monotonic()))
            _kill_restart(tb, res)

    elif when.startswith("during"):
        box: dict[str, Any] = {}
        delay = int(when.split("-")[1]) / 1000

        def during(tb: Any, t0: float, res: Any) -> None:
            res.extra["t0"] = t0
            box["res"] = res

        def before(tb: Any) -> None:  # the kill lands while the request is in flight
            threading.Timer(delay, _kill_restart, args=(tb, box["res"])).start()

    else:  # right after the reconfiguration completed

        def during(tb: Any, t0: float, res: Any) -> None:
            res.extra["t0"] = t0
            base = _completed(tb)  # earlier scenarios on this testbed count too
            end = time.monotonic() + 20
            while _completed(tb) <= base and time.monotonic() < end:
                time.sleep(0.005)
            _kill_restart(tb, res)

    step = Step(step_at, f"remove-fw-{when}", HOST, "remove", "mon", expect="any", before=before)
    return Spec(f"kill-{when}", port=9100, seconds=12.0, rate=1e6, steps=[step], during=during)


# "during-N": the kill lands N ms after the request is sent: locking, new-path handshake,
# commit (about 40-50 ms here: a kill at 40 ms broke the session before committed
# reconfigurations were resumed from the store instead of dropped)
WHEN = ["before", "during-10", "during-25", "during-40", "during-55", "after"]


@pytest.mark.parametrize("when", WHEN)
def test_controller_killed_around_a_reconfiguration_keeps_the_session(
    tb: object, when: str
) -> None:
    from dysco_testbed.scenarios import run
    from dysco_testbed.suite import restore

    r = run(tb, _spec(when), log=lambda m: None)  # type: ignore[arg-type]
    restore(tb)  # type: ignore[arg-type]
    d = r.to_dict()  # type: ignore[attr-defined]
    why = {k: d.get(k) for k in ("sessions", "sessions_ok", "rst_seen", "bytes_sent",
                                 "bytes_verified", "problems")}  # fmt: skip
    why["extra"] = {k: v for k, v in r.extra.items() if k != "t0"}  # type: ignore[attr-defined]
    why["steps"] = [(x.name, x.outcomes) for x in r.reconfigs]  # type: ignore[attr-defined]
    assert r.extra.get("killed_at"), why  # type: ignore[attr-defined]
    assert d["sessions"] == 1 and d["sessions_ok"] == 1, why
    assert d["rst_seen"] == 0 and not d["problems"], why
    assert d["bytes_verified"] == d["bytes_sent"] > 0, why
    assert r.extra.get("restored") == 1, why  # type: ignore[attr-defined]
    hops = r.extra["next_hop_after_restart"]  # type: ignore[attr-defined]
    fw, mon = tb.addr("fw"), tb.addr("mon")  # type: ignore[attr-defined]
    if when == "before":
        assert hops == [fw], why  # and the removal then completes from the restored state
        assert r.reconfigs[0].outcomes == {"completed": 1}, why  # type: ignore[attr-defined]
    elif when == "after":
        # the completed removal survived the kill: no reconciling back towards the old path
        assert hops == [mon], why
    else:
        assert hops in ([fw], [mon]), why
