"""The report of a simulation run (:class:`SimReport`, its JSON form) and how it is built."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from dysco_proto.sim.boxes import Proxy
from dysco_proto.sim.invariants import Leftover
from dysco_proto.sim.tcp import TcpEndpoint

if TYPE_CHECKING:
    from dysco_proto.sim.runner import Simulation


@dataclass
class SimReport:
    """Result of a run (``to_dict`` gives the JSON object)."""

    seed: int
    sessions: int
    reconfigs_requested: int
    reconfigs_completed: int
    reconfigs_refused: int
    reconfigs_cancelled: int
    violations: list[str]
    violation_count: int
    bytes_sent: int
    bytes_delivered: int
    leaked_entries: int
    leaks: list[str]
    warnings: list[str]
    sessions_completed: int
    sim_time: float
    events: int
    wall_seconds: float
    control_messages: dict[str, int]
    data_packets: int
    rst_seen: int
    retransmissions: int
    strays: int
    outcomes_by_kind: dict[str, dict[str, int]]
    refusal_reasons: dict[str, int]
    observations: dict[str, int]
    params: dict[str, Any]
    trace: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.violation_count == 0

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if not d["trace"]:
            del d["trace"]
        return d

    def to_json(self, **kwargs: Any) -> str:
        return json.dumps(self.to_dict(), **kwargs)


def build_report(sim: Simulation, leftovers: list[Leftover], leaked: int, wall: float) -> SimReport:
    """The report of a finished run."""
    p = sim.params
    endpoints: list[TcpEndpoint] = []
    for run in sim.sessions:
        endpoints += [ep for ep in (run.client, run.server) if ep is not None]
    for box in sim.boxes.values():
        if isinstance(box, Proxy):
            endpoints += box.endpoints
    sim._endpoint_warnings(endpoints)
    counts = {"completed": 0, "refused": 0, "cancelled": 0}
    for rec in sim.outcomes.requests.values():
        if rec.outcome:
            counts[rec.outcome] += 1
    prefix_len = {run.spec.index: len(run.c2s.expected) - len(run.spec.c2s) for run in sim.sessions}
    delivered = 0
    for run in sim.sessions:
        delivered += max(0, run.c2s.pos - prefix_len[run.spec.index]) + run.s2c.pos
    stats = sim.net.stats
    strays = sum(s.strays for s in sim.stacks.values()) + sum(
        b.strays for b in sim.boxes.values() if isinstance(b, Proxy)
    )
    return SimReport(
        seed=p.seed,
        sessions=p.sessions,
        reconfigs_requested=len(sim.outcomes.requests),
        reconfigs_completed=counts["completed"],
        reconfigs_refused=counts["refused"],
        reconfigs_cancelled=counts["cancelled"],
        violations=list(sim.violations.items),
        violation_count=sim.violations.count,
        bytes_sent=sum(len(r.spec.c2s) + len(r.spec.s2c) for r in sim.sessions),
        bytes_delivered=delivered,
        leaked_entries=leaked,
        leaks=[x.describe() for x in leftovers],
        warnings=list(sim.warnings.items),
        sessions_completed=sum(1 for r in sim.sessions if r.done),
        sim_time=round(sim.engine.now, 6),
        events=sim.engine.events,
        wall_seconds=round(wall, 3),
        control_messages={
            "sent": stats.control_sent,
            "lost": stats.control_lost,
            "duplicated": stats.control_duplicated,
            "reordered": stats.control_reordered,
            "delivered": stats.control_delivered,
        },
        data_packets=stats.data_packets,
        rst_seen=sum(ep.rst_seen for ep in endpoints)
        + sum(s.rst_seen for s in sim.stacks.values()),
        retransmissions=sum(ep.retransmissions for ep in endpoints),
        strays=strays,
        outcomes_by_kind={op: dict(v) for op, v in sim.by_op.items() if v["requested"]},
        refusal_reasons=dict(sorted(sim.refusal_reasons.items())),
        observations=dict(sorted(sim.observations.items())),
        params={
            "sessions": p.sessions,
            "reconfigs": p.reconfigs,
            "loss": p.loss,
            "dup": p.dup,
            "reorder": p.reorder,
            "seed": p.seed,
        },
        trace=sim.first_trace,
    )
