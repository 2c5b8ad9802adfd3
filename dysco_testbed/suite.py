"""The e2e suite: the ten scenarios of ``tests/e2e/test_e2e.py`` on the default testbed."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from dysco_testbed.bed import Testbed
from dysco_testbed.demo import demo_spec
from dysco_testbed.net import sh
from dysco_testbed.scenarios import Result, Spec, Step


def spec_bytebox() -> Spec:
    """5: remove the byte-changing box (PROXY v2 header: +28 bytes client->server, a
    terminating proxy: ISN deltas too), then insert and remove a transparent box several
    times in the same session. A box that changes the byte stream cannot be inserted into a
    live session (new boxes must preserve sequence numbers, protocol-design.md 4.4), so the
    re-insertions exercise repeated reconfigurations on top of the non-zero deltas."""
    steps = [Step(2.0, "remove-bytebox", "client", "remove", "server")]
    # the box's old-path state from a removal is collected when idle (idle_timeout 2 s in
    # the testbed); re-inserting the same box into the same session before that is refused
    # by its agent (setup.conflict), so the steps are spaced accordingly
    t = 3.0
    for i in range(3):
        steps.append(Step(t, f"insert-monitor-{i + 1}", "client", "insert", "server", ["mon"]))
        steps.append(Step(t + 1.0, f"remove-monitor-{i + 1}", "client", "remove", "server"))
        t += 4.0
    return Spec("5-bytebox-remove-reinsert", port=9001, seconds=t + 1.0, rate=1e6, steps=steps)


def spec_overlap() -> Spec:
    a = Step(2.5, "replace-fw-by-fw2", "client", "replace", "mon", ["fw2"], expect="any")
    b = Step(2.5, "remove-mon", "fw", "remove", "server", [], expect="any")
    a.concurrent = b
    return Spec("6-overlapping-requests", port=9100, seconds=6.0, rate=1e6, steps=[a])


def _kill_fw2(tb: Testbed) -> None:
    # the new-path box dies: it stops forwarding (its namespace drops everything)
    sh("sysctl", "-qw", "net.ipv4.ip_forward=0", ns=tb.hosts["fw2"].ns)


def spec_box_dies() -> Spec:
    s = Step(2.5, "replace-fw-by-dead-fw2", "client", "replace", "mon", ["fw2"],
             expect="cancelled", before=_kill_fw2)  # fmt: skip
    return Spec("7-new-path-box-killed", port=9100, seconds=8.0, rate=1e6, steps=[s])


def spec_many() -> Spec:
    s = Step(4.0, "insert-monitor-into-100", "client", "insert", "server", ["mon"], timeout=25)
    return Spec("8-100-sessions-one-selector", port=9002, sessions=100, seconds=16.0, rate=2e4,
                stagger=0.02, steps=[s])  # fmt: skip


def spec_lossy() -> Spec:
    return Spec(
        "9-two-controllers-5pct-control-loss",
        port=9100,
        seconds=9.0,
        rate=1e6,
        steps=[
            Step(2.0, "replace-fw-by-fw2", "client", "replace", "mon", ["fw2"]),
            Step(4.5, "remove-mon", "fw2", "remove", "server"),
            Step(6.5, "insert-mon", "fw2", "insert", "server", ["mon"]),
        ],
    )


def _restart(host: str) -> Callable[[Testbed, float, Result], None]:
    def during(tb: Testbed, t0: float, res: Result) -> None:
        time.sleep(max(0.0, t0 + 2.0 - time.monotonic()))
        took = tb.restart_controller(tb.device_of(host))
        res.extra["controller_restart_s"] = round(took, 2)
        try:
            res.extra["sessions_after_restart"] = len(tb.mgmt(host, "sessions", {}))
        except Exception as e:
            res.extra["sessions_after_restart"] = f"error: {e}"

    return during


def spec_restart() -> Spec:
    return Spec(
        "10-controller-restart",
        port=9100,
        seconds=9.0,
        rate=1e6,
        during=_restart("mon"),
        steps=[Step(6.0, "replace-fw-after-restart", "client", "replace", "mon", ["fw2"])],
    )


SUITE: dict[str, Callable[[], Spec]] = {
    "demo": lambda: demo_spec(10.0),
    "bytebox": spec_bytebox,
    "overlap": spec_overlap,
    "box_dies": spec_box_dies,
    "many": spec_many,
    "restart": spec_restart,
}


def spec_stock(box: str, port: int, rate: float = 1e6) -> Spec:
    """Stock boxes: a live session through the firewall; ``box`` (an unmodified program in its
    default configuration) is inserted behind the firewall, removed, then replaces the
    firewall, while bytes flow both ways (``scenarios/stock.yaml``)."""
    return Spec(
        f"stock-{box}",
        port=port,  # one port per scenario: a request selects the sessions by port
        seconds=9.0,
        rate=rate,
        steps=[
            Step(2.0, f"insert-{box}", "fw", "insert", "server", [box]),
            Step(4.5, f"remove-{box}", "fw", "remove", "server", []),
            Step(7.0, f"replace-fw-by-{box}", "client", "replace", "server", [box]),
        ],
    )


def spec_socat() -> Spec:
    """Stock boxes: a second TCP proxy (socat): the session is set up through it and the proxy
    removed while bytes flow (its two TCP connections spliced, ISN deltas)."""
    return Spec(
        "stock-socat-remove",
        port=9301,
        seconds=6.0,
        rate=1e6,
        steps=[Step(2.5, "remove-socat", "client", "remove", "server", [])],
    )


STOCK: dict[str, Callable[[], Spec]] = {
    "natr": lambda: spec_stock("natr", 9300),
    "natfw": lambda: spec_stock("natfw", 9302),
    "delay": lambda: spec_stock("delay", 9303),
    "socat": spec_socat,
}
"""The stock-boxes scenarios (``scenarios/stock.yaml``)."""


def spec_shared_apart() -> Spec:
    """Client and server behind one device, the firewall behind another: the monitor (a
    third device) inserted before the firewall and removed again (``scenarios/shared.yaml``)."""
    return Spec(
        "shared-client-and-server",
        port=9100,
        seconds=7.0,
        rate=1e6,
        steps=[
            Step(2.0, "insert-monitor", "client", "insert", "fw", ["mon"]),
            Step(4.5, "remove-monitor", "client", "remove", "fw", []),
        ],
    )


def spec_shared_first_box() -> Spec:
    """The client and its first box (the proxy) behind one device, adjacent: the firewall
    inserted between them and removed again (the proxy host is the right anchor)."""
    return Spec(
        "shared-client-and-first-box",
        port=9200,
        seconds=7.0,
        rate=1e6,
        steps=[
            Step(2.0, "insert-firewall", "client", "insert", "proxy", ["fw"]),
            Step(4.5, "remove-firewall", "client", "remove", "proxy", []),
        ],
    )


def spec_shared_proxy() -> Spec:
    """The proxy and its server behind one device (its outbound connection adjacent to the
    server): the session set up through the monitor and the proxy, then the proxy removed."""
    return Spec(
        "shared-proxy-and-server",
        port=9000,
        seconds=6.0,
        rate=1e6,
        steps=[Step(2.5, "remove-proxy", "mon", "remove", "server", [])],
    )


def spec_rack_restart() -> Spec:
    """The rack (``scenarios/rack.yaml``): the controller of the second rack's switch (the
    agents of nat, proxy, fw2, bytebox, web2) restarted under the demo session, then the
    restored nat agent removes the proxy (left anchor after its restore)."""
    return Spec(
        "rack-controller-restart",
        port=9000,
        seconds=9.0,
        rate=1e6,
        during=_restart("nat"),
        steps=[Step(6.0, "remove-proxy-after-restart", "nat", "remove", "server", [])],
    )


SHARED: dict[str, Callable[[], Spec]] = {
    "apart": spec_shared_apart,
    "first_box": spec_shared_first_box,
    "proxy": spec_shared_proxy,
}
"""Hosts of one session behind one device (``scenarios/shared.yaml``)."""


def restore(tb: Testbed) -> None:
    """Undo what a scenario did to the boxes (between scenarios on one testbed)."""
    if "fw2" in tb.hosts:
        sh("sysctl", "-qw", "net.ipv4.ip_forward=1", ns=tb.hosts["fw2"].ns)


def summary(r: Result) -> dict[str, Any]:
    return r.to_dict()
