"""``dysco bench soak-e2e``: many reconfigurations of live sessions, every byte checked.

Rounds on the default testbed, until ``--reconfigs`` requests have been made. A round is

- one session through [fw, mon] (port 9100) while bytes flow both ways, reconfigured every
  ``STEP_S`` seconds in a cycle: replace fw by fw2, remove mon, insert mon, replace fw2 by fw,
  remove mon, insert mon (every firewall stock: conntrack at Linux's defaults);
- then one session through [fw, nat, proxy] (port 9000) whose proxy (haproxy: two TCP
  connections spliced) is removed while bytes flow.

A session is *lost* if either direction did not arrive complete and identical (SHA-256), or
its client or server failed. A request is completed if it completed for the round's live
session (the same port selects the earlier rounds' closed sessions too, which their agents
refuse: counted under ``outcomes`` only). One JSON object: ``reconfigs_completed``,
``sessions_lost``, ``rst_seen``, ``bytes_sent``, ``bytes_verified`` and the rest (outcomes,
rounds, rate, the requests that did not complete).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from dysco_testbed.bed import Testbed, load_topology
from dysco_testbed.scenarios import Result, Spec, Step, run

STEP_S = 1.0
CYCLE: list[tuple[str, str, str, str, list[str]]] = [
    ("replace-fw-by-fw2", "client", "replace", "mon", ["fw2"]),
    ("remove-mon", "fw2", "remove", "server", []),
    ("insert-mon", "fw2", "insert", "server", ["mon"]),
    ("replace-fw2-by-fw", "client", "replace", "mon", ["fw"]),
    ("remove-mon", "fw", "remove", "server", []),
    ("insert-mon", "fw", "insert", "server", ["mon"]),
]
RATE = {"dpdk": 1e6, "bmv2": 1e5}  # bytes/s each way (bmv2: a few thousand packets/s)


def cycle_spec(round_no: int, steps: int, rate: float) -> Spec:
    """``steps`` reconfigurations of one [fw, mon] session (a multiple of the cycle keeps the
    chain the same at the end of every round)."""
    plan = []
    for i in range(steps):
        name, anchor, kind, right, boxes = CYCLE[i % len(CYCLE)]
        plan.append(Step(1.5 + i * STEP_S, f"{name}-{round_no}", anchor, kind, right, list(boxes)))
    return Spec(f"soak-{round_no}", port=9100, seconds=2.5 + steps * STEP_S, rate=rate, steps=plan)


def proxy_spec(round_no: int, rate: float) -> Spec:
    step = Step(2.0, f"remove-proxy-{round_no}", "nat", "remove", "server", [])
    return Spec(f"soak-proxy-{round_no}", port=9000, seconds=4.0, rate=rate, steps=[step])


def run_soak(args: argparse.Namespace) -> int:
    target = args.target_plane
    rate = RATE[target]
    want = max(1, args.reconfigs)
    per_round = 12  # two cycles, then a proxy removal
    totals: dict[str, Any] = {
        "reconfigs_requested": 0, "reconfigs_completed": 0, "outcomes": {},
        "sessions": 0, "sessions_lost": 0, "rst_seen": 0, "rst_after_close": 0, "bytes_sent": 0,
        "bytes_verified": 0, "rounds": 0, "failures": [], "incomplete": [],
    }  # fmt: skip
    t0 = time.monotonic()

    def add(r: Result) -> None:
        d = r.to_dict()
        totals["sessions"] += d["sessions"]
        totals["sessions_lost"] += d["sessions"] - d["sessions_ok"]
        totals["rst_seen"] += d["rst_seen"]
        totals["rst_after_close"] += d["rst_after_close"]  # reported apart (scenarios.after_close)
        totals["bytes_sent"] += d["bytes_sent"]
        totals["bytes_verified"] += d["bytes_verified"]
        for x in r.reconfigs:
            totals["reconfigs_requested"] += 1
            for k, v in x.outcomes.items():
                totals["outcomes"][k] = totals["outcomes"].get(k, 0) + v
            totals["reconfigs_completed"] += min(1, x.outcomes.get("completed", 0))
            if not x.outcomes.get("completed") and len(totals["incomplete"]) < 10:
                totals["incomplete"].append({"name": x.name, "outcomes": x.outcomes,
                                             "detail": str(x.detail)[:400]})  # fmt: skip
        lost = d["sessions"] - d["sessions_ok"] or d["rst_seen"] or d["problems"]
        if lost and len(totals["failures"]) < 5:
            totals["failures"].append({"name": d["name"], "problems": d["problems"][:3],
                                       "steps": [(x.name, x.outcomes) for x in r.reconfigs
                                                 if not x.ok]})  # fmt: skip

    with Testbed(load_topology(None), target=target) as tb:
        n = 0
        while totals["reconfigs_requested"] < want:
            n += 1
            steps = min(per_round, want - totals["reconfigs_requested"])
            add(run(tb, cycle_spec(n, steps, rate), log=lambda m: None))
            if totals["reconfigs_requested"] < want:
                add(run(tb, proxy_spec(n, rate), log=lambda m: None))
            totals["rounds"] = n
            if not args.json:
                print(f"round {n}: {totals['reconfigs_completed']}/"
                      f"{totals['reconfigs_requested']} completed, "
                      f"{totals['sessions_lost']} sessions lost", file=sys.stderr)  # fmt: skip
    totals.update(target=target, rate_bytes_per_s_each_way=rate,
                  elapsed_s=round(time.monotonic() - t0, 1))  # fmt: skip
    ok = (
        totals["sessions_lost"] == 0
        and totals["rst_seen"] == 0
        and totals["bytes_verified"] == totals["bytes_sent"]
        and totals["reconfigs_completed"] == totals["reconfigs_requested"]
    )
    totals["passed"] = ok
    print(json.dumps(totals) if args.json else json.dumps(totals, indent=2))
    return 0 if ok else 1
