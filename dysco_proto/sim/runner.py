"""Run a simulation: build the scenario, drive sessions and reconfigurations, check, report.

:func:`run` is the entry point (``dysco sim`` calls it). A run is deterministic in its
parameters: all randomness comes from generators seeded by ``SimParams.seed``; the only
non-deterministic field of the report is ``wall_seconds``.

How a run proceeds:

1. Hosts get an agent (``dysco_proto.agent.Agent``), a data path
   (``dysco_proto.datapath.DataPath``) and an application: an endpoint stack on clients and
   servers, a box on middlebox hosts. Dead hosts are failed from the start.
2. Each session starts at its time: the client connects, each side writes its stream in paced
   chunks once established, then closes.
3. Each request slot, when it fires, is turned into a concrete request against the session's
   *planned* chain (kept up to date from ``reconfig.completed`` outcomes): insertion of a
   transparent or NAT box, removal or replacement of a box, a multi-box replacement, removal
   of a proxy (``RemoveMe`` at the proxy host), two concurrent overlapping requests from
   different left anchors, or insertion of a failed box (must end cancelled). A slot waits
   while its session has a request in flight, so most requests on a session are sequential.
4. Every 0.25 s of simulated time the data paths report idle entries to their agents. When all
   sessions have closed and every request has ended, the run continues ``quiesce`` seconds
   more (close and idle timers), then the final checks run (see
   :mod:`dysco_proto.sim.invariants`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from dysco_proto.actions import Action, Observe, SendControl
from dysco_proto.agent import LeftPhase
from dysco_proto.entries import Direction, EntryKey
from dysco_proto.events import Command, ControlIn, Event, ReconfigKind, Reconfigure, RemoveMe
from dysco_proto.packet import FiveTuple, Segment
from dysco_proto.sim.boxes import Box, Nat, OffsetBox, Proxy, Transparent
from dysco_proto.sim.engine import Engine
from dysco_proto.sim.hosts import (
    LOCK_RELEVANT,
    SIM_KEY,
    AgentFactory,
    DataPathFactory,
    default_agent,
    default_datapath,
    is_lock_message,
    locks_of,
    state_of,
)
from dysco_proto.sim.invariants import (
    Leftover,
    LockCheck,
    OutcomeCheck,
    RequestRecord,
    StreamCheck,
    Violations,
)
from dysco_proto.sim.network import (
    ChannelParams,
    Host,
    HostApp,
    Network,
)
from dysco_proto.sim.report import SimReport, build_report
from dysco_proto.sim.scenario import (
    CLIENT,
    DEAD,
    NAT,
    OFFSET,
    PROXY,
    SERVER,
    TRANSPARENT,
    HostSpec,
    Scenario,
    SessionSpec,
    SimParams,
    Slot,
    build_scenario,
)
from dysco_proto.sim.tcp import EndpointStack, TcpEndpoint

__all__ = [
    "OPS",
    "SIM_KEY",
    "AgentFactory",
    "DataPathFactory",
    "SimReport",
    "Simulation",
    "default_agent",
    "default_datapath",
    "run",
]

OPS = ("insert", "remove", "replace", "multi", "remove_proxy", "concurrent", "failure")
_KIND = {
    "insert": ReconfigKind.INSERT,
    "remove": ReconfigKind.REMOVE,
    "replace": ReconfigKind.REPLACE,
    "multi": ReconfigKind.REPLACE,
    "failure": ReconfigKind.INSERT,
}


@dataclass(slots=True)
class ChainHop:
    """One hop of a session's planned chain."""

    ip: str
    kind: str
    emit: FiveTuple | None = None  # tuple this hop emits rightwards (None: not yet known)


@dataclass(eq=False)
class SessionRun:
    """Runtime state of one session."""

    spec: SessionSpec
    tuple: FiveTuple
    c2s: StreamCheck
    s2c: StreamCheck
    hops: list[ChainHop]
    used: set[str]
    client: TcpEndpoint | None = None
    server: TcpEndpoint | None = None
    inflight: set[int] = field(default_factory=set)
    chain_known: bool = True

    @property
    def established(self) -> bool:
        return (
            self.client is not None
            and self.client.established
            and self.server is not None
            and self.server.established
        )

    @property
    def closing(self) -> bool:
        c, s = self.client, self.server
        return c is not None and s is not None and c.closing and s.closing

    @property
    def done(self) -> bool:
        c, s = self.client, self.server
        return c is not None and s is not None and c.done and s.done


class _Writer:
    """Writes a stream into an endpoint in paced chunks, then closes it."""

    __slots__ = ("chunk", "data", "engine", "ep", "interval", "pos")

    def __init__(
        self, engine: Engine, ep: TcpEndpoint, data: bytes, chunk: int, interval: float
    ) -> None:
        self.engine = engine
        self.ep = ep
        self.data = data
        self.chunk = chunk
        self.interval = interval
        self.pos = 0

    def step(self, _arg: object = None) -> None:
        end = min(len(self.data), self.pos + self.chunk)
        self.ep.write(self.data[self.pos : end])
        self.pos = end
        if self.pos >= len(self.data):
            self.ep.close()
        else:
            self.engine.after(self.interval, self.step)


class Simulation:
    """One simulation run (use :func:`run`)."""

    def __init__(
        self,
        params: SimParams,
        *,
        agent_factory: AgentFactory | None = None,
        datapath_factory: DataPathFactory | None = None,
    ) -> None:
        params.validate()
        self.params = params
        self.scenario: Scenario = build_scenario(params)
        self.engine = Engine()
        self.rng = random.Random(f"dysco-sim-run-{params.seed}")
        self.violations = Violations(on_first=self._first_violation)
        self.warnings = Violations(limit=50)
        self.outcomes = OutcomeCheck(self.violations)
        self.lock_check = LockCheck(self.violations)
        self.first_trace: list[str] = []
        self.net = Network(
            self.engine,
            random.Random(f"dysco-sim-net-{params.seed}"),
            channel=ChannelParams(
                params.loss, params.dup, params.reorder, reorder_delay=params.reorder_delay
            ),
            latency=params.latency,
            on_observe=self._on_observe,
            after_event=self._after_event,
            trace=params.trace,
            trace_filter=params.trace_filter,
        )
        self.observations: dict[str, int] = {}
        self.refusal_reasons: dict[str, int] = {}
        self.by_op: dict[str, dict[str, int]] = {
            op: {"requested": 0, "completed": 0, "refused": 0, "cancelled": 0} for op in OPS
        }
        self.boxes: dict[str, Box] = {}
        self.stacks: dict[str, EndpointStack] = {}
        self.pool_kind: dict[str, str] = {}
        self._next_tag = 1
        self._quiesce_at: float | None = None
        self._lock_dirty = False
        self._slots_pending = len(self.scenario.slots)
        make_agent = agent_factory or default_agent
        make_dp = datapath_factory or default_datapath
        for index, spec in enumerate(self.scenario.hosts):
            agent = make_agent(spec, self.scenario.policies.get(spec.ip, []), index, params)
            host = self.net.add_host(spec.ip, agent, make_dp(spec, params), spec.kind)
            host.app = self._make_app(host, spec)
            self.pool_kind[spec.ip] = spec.kind
            if spec.kind == DEAD:
                host.failed = True
        self.insertable = [
            h.ip for h in self.scenario.hosts if h.kind in (TRANSPARENT, NAT)
        ]  # new boxes must preserve sequence numbers
        self.dead = [h.ip for h in self.scenario.hosts if h.kind == DEAD]
        self.sessions = [self._make_session(s) for s in self.scenario.sessions]
        for run in self.sessions:
            self.engine.at(run.spec.start, self._start_session, run)
        for slot in self.scenario.slots:
            self.engine.at(slot.time, self._slot, (slot, slot.time + 2.0))
        self.engine.at(params.idle_scan, self._tick)

    # --- construction ----------------------------------------------------------------------

    def _make_app(self, host: Host, spec: HostSpec) -> HostApp:
        if spec.kind in (CLIENT, SERVER):
            stack = EndpointStack()
            self.stacks[spec.ip] = stack
            return stack
        box: Box
        if spec.kind == NAT:
            box = Nat(spec.ip, host.emit)
        elif spec.kind == OFFSET:
            box = OffsetBox(
                spec.ip, host.emit, self._command_sink(host), self.scenario.prefixes[spec.ip]
            )
        elif spec.kind == PROXY:
            box = Proxy(
                self.engine,
                spec.ip,
                host.emit,
                self._command_sink(host),
                random.Random(f"dysco-sim-proxy-{self.params.seed}-{spec.ip}"),
                self.violations.add,
                mss=self.params.chunk,
            )
        else:
            box = Transparent(spec.ip, host.emit)
        self.boxes[spec.ip] = box
        return box

    def _command_sink(self, host: Host) -> Callable[[Command], None]:
        def sink(cmd: Command) -> None:
            host.command(cmd)

        return sink

    def _make_session(self, spec: SessionSpec) -> SessionRun:
        t = FiveTuple(spec.client, spec.client_port, spec.server, spec.server_port)
        prefixes = b"".join(
            self.scenario.prefixes[ip]
            for ip in reversed(spec.chain)
            if ip in self.scenario.prefixes
        )
        hops = [ChainHop(spec.client, CLIENT, t)]
        hops += [ChainHop(ip, self.pool_kind[ip]) for ip in spec.chain]
        hops.append(ChainHop(spec.server, SERVER))
        run = SessionRun(
            spec=spec,
            tuple=t,
            c2s=StreamCheck(
                f"session {spec.index} client->server", prefixes + spec.c2s, self.violations
            ),
            s2c=StreamCheck(f"session {spec.index} server->client", spec.s2c, self.violations),
            hops=hops,
            used=set(spec.chain),
        )
        self.stacks[spec.server].listen(spec.server_port, lambda syn: self._accept(run, syn))
        return run

    def _endpoint(
        self, host: Host, local: tuple[str, int], remote: tuple[str, int], name: str
    ) -> TcpEndpoint:
        rng = self.rng
        return TcpEndpoint(
            self.engine,
            local=local,
            remote=remote,
            isn=rng.getrandbits(32),
            emit=host.emit,
            violation=self.violations.add,
            name=name,
            mss=self.params.chunk,
            wscale=rng.randint(0, 9),
            ts_offset=rng.getrandbits(32),
            peer_window=4 * 8 * self.params.chunk,
        )

    # --- sessions --------------------------------------------------------------------------

    def _start_session(self, run: SessionRun) -> None:
        spec = run.spec
        host = self.net.hosts[spec.client]
        ep = self._endpoint(
            host,
            (spec.client, spec.client_port),
            (spec.server, spec.server_port),
            f"session {spec.index} client",
        )
        ep.on_data = run.s2c.feed
        writer = _Writer(self.engine, ep, spec.c2s, spec.chunk, spec.c2s_interval)
        ep.on_established = writer.step
        run.client = ep
        self.stacks[spec.client].add(ep)
        ep.connect()

    def _accept(self, run: SessionRun, syn: Segment) -> TcpEndpoint | None:
        spec = run.spec
        if run.server is not None:
            self.warnings.add(
                f"session {spec.index}: second connection to its server port from "
                f"{syn.tuple.src_ip}:{syn.tuple.src_port} refused"
            )
            return None
        host = self.net.hosts[spec.server]
        ep = self._endpoint(
            host,
            (spec.server, spec.server_port),
            (syn.tuple.src_ip, syn.tuple.src_port),
            f"session {spec.index} server",
        )
        ep.on_data = run.c2s.feed
        ep.on_established = _Writer(self.engine, ep, spec.s2c, spec.chunk, spec.s2c_interval).step
        run.server = ep
        return ep

    # --- reconfiguration requests ----------------------------------------------------------

    def _resolve(self, run: SessionRun) -> bool:
        """Fill in the emitted tuple of every box hop; False if the chain is unknown."""
        if not run.chain_known:
            return False
        hops = run.hops
        for k in range(1, len(hops) - 1):
            hop = hops[k]
            if hop.emit is not None:
                continue
            prev = hops[k - 1].emit
            box = self.boxes.get(hop.ip)
            emitted = box.emitted_tuple(prev) if box is not None and prev is not None else None
            if emitted is None:
                return False
            hop.emit = emitted
        return True

    def _eligible(self, run: SessionRun) -> bool:
        return (
            run.chain_known
            and not run.inflight
            and run.established
            and not run.closing
            and self._resolve(run)
        )

    def _slot(self, arg: tuple[Slot, float]) -> None:
        slot, deadline = arg
        run = self.sessions[slot.session]
        now = self.engine.now
        target: SessionRun | None = None
        if self._eligible(run):
            target = run
        elif (run.inflight or not run.established) and now < slot.time + 0.25:
            # wait a little for the session's request in flight (or its handshake)
            self.engine.after(0.01 + 0.02 * self.rng.random(), self._slot, arg)
            return
        if target is None:
            others = [s for s in self.sessions if self._eligible(s)]
            if others:
                target = self.rng.choice(others)
            elif now < deadline:
                self.engine.after(0.02, self._slot, arg)
                return
            else:
                target = run  # nothing better: issue it anyway (it may well be refused)
        self._slots_pending -= 1
        if slot.pair and self._issue_pair(target):
            return
        self._issue_single(target)
        if slot.pair:
            self._issue_single(target)

    def _new_boxes(self, run: SessionRun, n: int) -> tuple[str, ...] | None:
        free = [ip for ip in self.insertable if ip not in run.used]
        if len(free) < n:
            return None
        return tuple(self.rng.sample(free, n))

    def _segments_ok(self, hops: list[ChainHop], i: int, j: int) -> bool:
        """A segment may not span a (not yet removed) proxy."""
        return all(h.kind != PROXY for h in hops[i + 1 : j])

    def _issue_single(self, run: SessionRun) -> None:
        rng = self.rng
        hops = run.hops
        n = len(hops)
        known = self._resolve(run)
        if not known:
            # Unknown chain (should not happen): still issue something at the client.
            self._reconfigure(run, "insert", 0, 1, self._new_boxes(run, 1) or ())
            return
        if self.dead and rng.random() < self.params.failure_fraction:
            i = rng.randrange(n - 1)
            self._reconfigure(run, "failure", i, i + 1, (rng.choice(self.dead),))
            return
        boxes = [k for k in range(1, n - 1) if hops[k].kind != PROXY]
        proxies = [
            k
            for k in range(1, n - 1)
            if hops[k].kind == PROXY
            and isinstance(box := self.boxes.get(hops[k].ip), Proxy)
            and hops[k - 1].emit in box.related
        ]
        multi = [(i, j) for i in range(n) for j in range(i + 3, n) if self._segments_ok(hops, i, j)]
        fresh = self._new_boxes(run, 1)
        ops: list[tuple[str, float]] = []
        if fresh:
            ops.append(("insert", 3.0))
        if boxes:
            ops.append(("remove", 2.5))
            if fresh:
                ops.append(("replace", 2.0))
        if multi:
            ops.append(("multi", 0.6))
        if proxies:
            ops.append(("remove_proxy", 4.0))
        if not ops:
            self._reconfigure(run, "insert", 0, 1, ())
            return
        op = rng.choices([o for o, _ in ops], weights=[w for _, w in ops])[0]
        if op == "insert":
            i = rng.randrange(n - 1)
            self._reconfigure(run, op, i, i + 1, fresh or ())
        elif op == "remove":
            k = rng.choice(boxes)
            self._reconfigure(run, op, k - 1, k + 1, ())
        elif op == "replace":
            k = rng.choice(boxes)
            self._reconfigure(run, op, k - 1, k + 1, fresh or ())
        elif op == "multi":
            i, j = rng.choice(multi)
            new = self._new_boxes(run, rng.randint(0, 2)) or ()
            self._reconfigure(run, op, i, j, new)
        else:
            self._remove_proxy(run, rng.choice(proxies))

    def _issue_pair(self, run: SessionRun) -> bool:
        """Two concurrent requests whose segments share a subsession, from different left
        anchors: A replaces/removes box k (anchors k-1, k+1), B inserts between k and k+1."""
        if not self._resolve(run):
            return False
        hops = run.hops
        cands = [k for k in range(1, len(hops) - 1) if hops[k].kind != PROXY]
        fresh = self._new_boxes(run, 2)
        if not cands or fresh is None:
            return False
        k = self.rng.choice(cands)
        a_new = fresh[:1] if self.rng.random() < 0.5 else ()
        self._reconfigure(run, "concurrent", k - 1, k + 1, a_new)
        self._reconfigure(run, "concurrent", k, k + 1, fresh[1:])
        return True

    def _reconfigure(
        self, run: SessionRun, op: str, i: int, j: int, new_boxes: tuple[str, ...]
    ) -> None:
        hops = run.hops
        left, right = hops[i], hops[j]
        session = left.emit or run.tuple
        tag = self._next_tag
        self._next_tag += 1
        rec = RequestRecord(
            tag=tag,
            session=run.spec.index,
            op=op,
            left=left.ip,
            right=right.ip,
            new_boxes=new_boxes,
            issued_at=self.engine.now,
            dead_box=any(ip in self.dead for ip in new_boxes),
            anchor_session=session,
        )
        self._issue(run, rec)
        run.used.update(ip for ip in new_boxes if ip not in self.dead)
        self.net.hosts[left.ip].command(
            Reconfigure(
                session=session,
                right_anchor=right.ip,
                new_boxes=new_boxes,
                kind=_KIND.get(op, ReconfigKind.REPLACE),
                request_tag=tag,
            )
        )

    def _remove_proxy(self, run: SessionRun, k: int) -> None:
        hops = run.hops
        inbound, outbound = hops[k - 1].emit, hops[k].emit
        assert inbound is not None and outbound is not None
        tag = self._next_tag
        self._next_tag += 1
        rec = RequestRecord(
            tag=tag,
            session=run.spec.index,
            op="remove_proxy",
            left=hops[k - 1].ip,
            right=hops[k + 1].ip,
            new_boxes=(),
            issued_at=self.engine.now,
            anchor_session=inbound,
        )
        self._issue(run, rec)
        self.net.hosts[hops[k].ip].command(
            RemoveMe(session=inbound, outbound=outbound, request_tag=tag)
        )

    def _issue(self, run: SessionRun, rec: RequestRecord) -> None:
        self.outcomes.issued(rec)
        run.inflight.add(rec.tag)
        self.by_op[rec.op]["requested"] += 1

    # --- outcomes --------------------------------------------------------------------------

    def _on_observe(self, host: Host, obs: Observe) -> None:
        kind = obs.kind
        self.observations[kind] = self.observations.get(kind, 0) + 1
        if not kind.startswith("reconfig."):
            return
        rec = self.outcomes.observe(host.ip, kind, obs.fields, self.engine.now)
        if kind == "reconfig.started":
            self._lock_dirty = True
        if rec is None:
            return
        self._lock_dirty = True
        run = self.sessions[rec.session]
        run.inflight.discard(rec.tag)
        self.by_op[rec.op][rec.outcome] += 1
        if rec.outcome == "refused":
            self.refusal_reasons[rec.reason] = self.refusal_reasons.get(rec.reason, 0) + 1
        if rec.outcome == "completed":
            self._apply(run, rec)

    def _apply(self, run: SessionRun, rec: RequestRecord) -> None:
        """Update the planned chain after a completed request."""
        hops = run.hops
        ips = [h.ip for h in hops]
        if rec.op == "remove_proxy":
            k = next((k for k, h in enumerate(hops) if h.kind == PROXY), -1)
            if k > 0 and ips[k - 1] == rec.left and ips[k + 1] == rec.right:
                del hops[k]
                return
        elif rec.left in ips and rec.right in ips:
            i, j = ips.index(rec.left), ips.index(rec.right)
            if i < j:
                hops[i + 1 : j] = [ChainHop(ip, self.pool_kind[ip]) for ip in rec.new_boxes]
                if not self._resolve(run):
                    self._unknown(run, rec, "a new box's emitted tuple is unknown")
                return
        self._unknown(run, rec, "its anchors are not in the planned chain")

    def _unknown(self, run: SessionRun, rec: RequestRecord, why: str) -> None:
        run.chain_known = False
        self.warnings.add(
            f"session {run.spec.index}: chain unknown after request tag {rec.tag} ({rec.op}) "
            f"completed: {why}"
        )

    # --- invariants ------------------------------------------------------------------------

    def _after_event(self, host: Host, event: Event, actions: list[Action]) -> None:
        """Called after every agent event. A lock table changes only when its agent receives
        or sends a lock message, or reports a reconfiguration outcome, a lock event or a
        session removal; only then is the agent's table refreshed. The lock-safety check
        re-runs whenever a table or the set of live requests changed."""
        if not self._lock_dirty and not (
            isinstance(event, ControlIn) and is_lock_message(event.data)
        ):
            for a in actions:
                if isinstance(a, SendControl):
                    if is_lock_message(a.data):
                        break
                elif isinstance(a, Observe) and a.kind.startswith(LOCK_RELEVANT):
                    break
            else:
                return
        now = self.engine.now
        changed = self.lock_check.update(host.ip, locks_of(host.agent), now)
        if changed or self._lock_dirty:
            self._lock_dirty = False
            self.lock_check.check(self.outcomes.live, self, now)

    def out_rewrite(self, ip: str, session: FiveTuple) -> FiveTuple | None:
        host = self.net.hosts.get(ip)
        if host is None:
            return None
        e = host.datapath.entries.get(EntryKey(Direction.OUT, session))
        return None if e is None else e.rewrite

    def in_rewrite(self, ip: str, sub: FiveTuple) -> FiveTuple | None:
        host = self.net.hosts.get(ip)
        if host is None:
            return None
        e = host.datapath.entries.get(EntryKey(Direction.IN, sub))
        return None if e is None else e.rewrite

    def left_ending(self, ip: str, request: Any) -> bool:
        host = self.net.hosts.get(ip)
        lefts = getattr(host.agent, "lefts", None) if host is not None else None
        la = lefts.get(request) if isinstance(lefts, dict) else None
        return la is not None and la.phase is LeftPhase.CANCELLING

    def box_emits(self, ip: str, received: FiveTuple) -> FiveTuple | None:
        box = self.boxes.get(ip)
        return None if box is None else box.emitted_tuple(received)

    def _first_violation(self, message: str) -> None:
        if self.net.trace is not None:
            self.first_trace = [*self.net.trace, f"VIOLATION {message}"]

    # --- main loop -------------------------------------------------------------------------

    def _tick(self, _arg: object = None) -> None:
        self.net.idle_scan()
        now = self.engine.now
        if self._quiesce_at is None:
            last_slot = self.scenario.slots[-1].time if self.scenario.slots else 0.0
            finished = (
                now > last_slot
                and not self.outcomes.live
                and all(s.done for s in self.sessions)
                and self._slots_pending == 0
            )
            if finished or now >= self.params.max_time:
                self._quiesce_at = now + self.params.quiesce
        elif now >= self._quiesce_at:
            self.engine.stop()
            return
        self.engine.after(self.params.idle_scan, self._tick)

    def run(self) -> SimReport:
        """Run to the end and return the report."""
        wall0 = time.perf_counter()
        self.engine.run(until=self.params.max_time + self.params.quiesce + 1.0)
        self.outcomes.finish()
        for run in self.sessions:
            self._final_session_check(run)
        leftovers = self._leftovers()
        leaked = sum(x.leaked for x in leftovers)
        for x in leftovers:
            if x.leaked:
                self.violations.add(f"state left after quiescence: {x.describe()}")
        for ip, box in self.boxes.items():
            ct = getattr(box, "ct", None)
            if ct is not None and ct.invalid:
                # a real stateful box drops these (a NAT passes them untranslated: a reset)
                self.violations.add(
                    f"box {ip}: {ct.invalid} segments invalid for connection tracking "
                    f"(first: {ct.detail})"
                )
        wall = time.perf_counter() - wall0
        return build_report(self, leftovers, leaked, wall)

    def _final_session_check(self, run: SessionRun) -> None:
        i = run.spec.index
        for check in (run.c2s, run.s2c):
            if not check.broken and not check.complete:
                self.violations.add(
                    f"{check.name}: only {check.pos} of {len(check.expected)} bytes delivered"
                )
        for name, ep in (("client", run.client), ("server", run.server)):
            if ep is None:
                self.violations.add(f"session {i}: {name} endpoint never created")
            elif not ep.done:
                self.violations.add(
                    f"session {i}: {name} not closed at the end (state={ep.state.value} "
                    f"fin_sent={ep.fin_sent} fin_rcvd={ep.fin_rcvd} "
                    f"unacked={ep.outstanding} {ep.abort_reason})"
                )

    def _leftovers(self) -> list[Leftover]:
        out = []
        for ip, host in self.net.hosts.items():
            st = state_of(host.agent)
            if st is None:
                continue
            x = Leftover(
                host=ip,
                sessions=st.sessions,
                sides=st.sides,
                pending=st.pending,
                entries=len(st.entries),
                ports_in_use=st.ports_in_use,
                active_reconfigs=st.active_reconfigs,
                timers=st.timers,
                datapath_entries=len(host.datapath.entries),
                keys=tuple(str(k) for k in sorted(host.datapath.entries)[:4]),
            )
            if x.leaked or x.timers or x.sides:
                out.append(x)
        return out

    def _endpoint_warnings(self, endpoints: list[TcpEndpoint]) -> None:
        """Weaker TCP properties, reported as warnings (count and first example)."""
        checks = (
            ("ts_echo_errors", "ts_echo_detail", "timestamp echoes newer than anything sent"),
            ("window_errors", "window_detail", "segments whose scaled window is off by 2x+"),
            ("ts_missing", "", "segments without timestamps on a timestamp connection"),
        )
        for count_attr, detail_attr, text in checks:
            hit = [ep for ep in endpoints if getattr(ep, count_attr)]
            if not hit:
                continue
            total = sum(getattr(ep, count_attr) for ep in hit)
            first = hit[0]
            detail = getattr(first, detail_attr) if detail_attr else ""
            self.warnings.add(
                f"{total} {text} ({len(hit)} endpoints; first: {first.name}"
                + (f": {detail}" if detail else "")
                + ")"
            )


def run(params: SimParams) -> SimReport:
    """Run one simulation with the real agent and data path."""
    return Simulation(params).run()
