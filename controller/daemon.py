"""The Dysco daemon: the sans-IO agents of one data-plane device's hosts over P4Runtime
(one per host with per-host agent ids, or one for all hosts; :mod:`controller.agents`).

Event flow (all on one asyncio loop, no agent is ever re-entered; each event goes to one
agent: a packet-in by its host port or local address, a register report by the slot's owner,
a control message by its destination, a timer or idle entry to the agent that owns it)::

    packet-in (P4Runtime stream) -> PacketIn / SlotSnapshot / ControlIn -+
    peer channel datagram -------> ControlIn ----------------------------+-> Agent.handle
    timer (loop.call_later, keyed by timer id) -> TimerFired ------------+
    idle scan of the shadow table -> EntryIdle --------------------------+
    management API -> Reconfigure ... -----------------------------------+

    actions --> entry writes (OrderedWriter: micro-batched, ordered)
            --> packet-outs / probes / control messages (after the writes emitted before them)
            --> timers, observations (metrics, reconfiguration outcomes)

After a (re)connection the device's entries are read back and reconciled with the
controller's shadow of what it installed (``docs/controller.md``).

This module is that glue; around it: :mod:`controller.device_sync` (read-back, repair, idle
entries), :mod:`controller.checkpointer` (what each event changed, committed to the state
store), :mod:`controller.mgmt_handlers` (the management methods; :mod:`controller.mgmt_json`
renders their answers, :mod:`controller.mgmt` carries them).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.agent_stores import AgentStores
from controller.agents import Agents, AgentUnit, HostAgent, SlotPool, store_path
from controller.checkpointer import Checkpointer
from controller.config import Config
from controller.device_sync import DeviceSync
from controller.held_prefix import HeldPrefix
from controller.metrics import Metrics
from controller.mgmt import MgmtServer, Progress
from controller.mgmt_handlers import MgmtHandlers
from controller.p4rt.client import DevicePacketIn, P4RuntimeClient
from controller.p4rt.gen.p4.v1 import p4runtime_pb2 as p4r
from controller.p4rt.p4info import P4InfoIndex, load_p4info, slot_capacity
from controller.p4rt.tofino import device_config as tofino_device_config
from controller.peers import Impairments, PeerChannel, RejectLog
from controller.store import StateStore
from controller.translate import Translator
from controller.unit_sync import AgentView
from controller.writer import OrderedWriter
from dysco_proto.actions import (
    Action,
    CancelTimer,
    InstallEntry,
    ModifyEntry,
    Observe,
    Probe,
    ReconfigFinished,
    RemoveEntry,
    SendControl,
    SendPacket,
    StartTimer,
    Toward,
)
from dysco_proto.agent import AgentConfig
from dysco_proto.checkpoint import Tracker
from dysco_proto.events import (
    ControlIn,
    Event,
    ReconfigKind,
    Reconfigure,
    SlotSnapshot,
    TimerFired,
)
from dysco_proto.packet import FiveTuple
from dysco_proto.timers import TimerKey

log = logging.getLogger(__name__)
#: the protocol trace: every event and the actions it produced (``--log-level debug``)
trace = logging.getLogger("controller.trace")

IDLE_SCAN_COST_FACTOR = 20.0
"""The idle scan and the reconciler wait at least this many times their previous round's
duration (a full-table read costs about as much as the entries it reads)."""


@dataclass
class Counters:
    """Daemon-level counters (the agent keeps its own per observation kind)."""

    events: int = 0
    packet_ins: int = 0
    punts: dict[str, int] = field(default_factory=dict)
    packet_outs: int = 0
    probes: int = 0
    control_out: int = 0
    control_in: int = 0
    control_no_route: int = 0
    untranslatable_packet_ins: int = 0
    punts_completed: int = 0
    checkpoints: int = 0
    restored_sessions: int = 0
    punts_dropped: dict[str, int] = field(default_factory=dict)
    timers_fired: int = 0
    idle_reports: int = 0
    orphans_removed: int = 0
    reconciled_added: int = 0
    reconciled_removed: int = 0
    reconciled_adopted: int = 0
    handler_errors: int = 0
    reconfig_outcomes: dict[str, int] = field(default_factory=dict)


@dataclass
class _Outcome:
    future: asyncio.Future[dict[str, Any]]
    session: FiveTuple


class Daemon(Agents, AgentStores):
    """One controller: the agents of one device's hosts (:class:`AgentUnit`), the device,
    their peers and their operators.

    ``agent``, ``shadow``, ``foreign``, ``store``, ... are the first agent's (the only one in
    the single-agent configuration); ``units`` holds every agent by its agent id."""

    def __init__(
        self,
        config: Config,
        *,
        impairments: Impairments | None = None,
        p4info: P4InfoIndex | None = None,
        device_config: bytes | None = None,
        management: bool = True,
        checkpoint_path: Path | None = None,
    ) -> None:
        self.config = config
        self.impairments = impairments
        self._load_pipeline(p4info, device_config)
        # one device-wide register slot allocator for every agent (slot 0 is never used)
        self.slots = SlotPool(1, slot_capacity(self.p4info, config.device.slots))
        self.policies = config.policy_table()
        self.units: dict[int, AgentUnit] = {}
        self.held = HeldPrefix()  # HOLD punts until their hold ends
        self._unit_by_addr: dict[str, AgentUnit] = {}
        self._noted = 0  # events noted for the store, and how many of them are committed
        self._committed = 0
        self._init_persistence(checkpoint_path)
        self._static_queued = False
        self.translator = Translator(self.p4info, config, self._lookup_entry)
        self.translator.lookup_agent_entry = self._lookup_agent_entry
        self.metrics = Metrics(config.device.name)
        self.counters = Counters()
        self.client = self._new_client()
        self.writer = OrderedWriter(
            _Durable(self.client, self.flush_store),  # type: ignore[arg-type]  # a proxy
            config.max_batch,
            self._on_write_error,
        )
        routes = {a: (p.host, p.port) for p in config.peers for a in p.addresses}
        self.peers = PeerChannel(
            routes,
            frozenset(config.addresses),
            self._on_peer_message,
            impairments,
            key=config.control.key,
        )
        # rejected control messages: one summary line per interval, not one per message
        self._control_rejects = RejectLog(log, "control messages")
        self.handlers = MgmtHandlers(self)
        self.sync = DeviceSync(self, self.first.agent_id)
        # per-host agents: one read-back and idle scan per agent, each on its own shadow
        self.syncs = (
            [DeviceSync(AgentView(self, u), u.agent_id) for u in self.units.values()]  # type: ignore[arg-type]
            if len(self.units) > 1
            else [self.sync]
        )
        self.mgmt = (
            MgmtServer(config.management.socket, config.management.token_file, self._mgmt_durable)
            if management
            else None
        )
        self._timers: dict[tuple[int, TimerKey], asyncio.TimerHandle] = {}
        self._outcomes: dict[int, _Outcome] = {}
        self._next_tag = 1
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.started_at = time.time()
        self.control_addr: tuple[str, int] | None = None
        self.observers: list[Callable[[str, dict[str, Any]], None]] = []
        self.ready = asyncio.Event()
        self.in_sync = True
        self._q: asyncio.Queue[tuple[int, p4r.StreamMessageRequest]] | None = None

    def _load_pipeline(self, p4info: P4InfoIndex | None, device_config: bytes | None) -> None:
        """The P4Info and the device configuration pushed with it (given, or from the
        configuration's files; a Tofino device's in Stratum's or the SDE's form)."""
        device = self.config.device
        tofino = device.tofino
        self.p4info = p4info or load_p4info(
            device.p4info, pipe=tofino.pipe if tofino is not None else None
        )
        if device_config is None and tofino is not None:
            device_config = tofino_device_config(tofino)
        elif device_config is None and device.device_config is not None:
            device_config = device.device_config.read_bytes()
        self.device_config = device_config or b""

    def _new_client(self) -> P4RuntimeClient:
        device = self.config.device
        return P4RuntimeClient(
            device.address,
            device.device_id,
            device.election_id,
            self.p4info,
            device_config=self.device_config,
            push_pipeline=device.push_pipeline,
            on_packet_in=self._on_packet_in,
            on_connected=self._on_connected,
            on_lost_primary=self._on_lost_primary,
            reconnect_max=self.config.timers["reconnect_max"],
            tls=device.tls,
        )

    def _init_persistence(self, checkpoint_path: Path | None) -> None:
        """The agents and their persistent state (controller restarts): an SQLite store per
        agent next to the management token by default (``<token stem>.state.sqlite``; with
        per-host agents ``<token stem>.state.agent<id>.sqlite``), written after every event
        (``controller/store.py``), and the lock that keeps a second daemon off them."""
        tf = self.config.management.token_file
        base = checkpoint_path or tf.with_name(tf.stem + ".state.sqlite")
        for spec in self.config.agent_specs():
            path = store_path(base, spec.agent_id, self.config.per_host)
            store = StateStore(path)
            agent, tracker = self._new_agent(spec.agent_id, spec.addresses)
            unit = AgentUnit(
                spec.agent_id,
                spec.addresses,
                agent,
                tracker,
                store,
                # notes what each event changed; flush_store() commits it before anything leaves
                Checkpointer(store, spec.agent_id),
                path,
            )
            self.units[spec.agent_id] = unit
            for a in spec.addresses:
                self._unit_by_addr[a] = unit
        self.lock_path = tf.with_name(tf.stem + ".lock")
        self._lock_fd: int | None = None

    def _new_agent(self, agent_id: int, addresses: tuple[str, ...]) -> tuple[HostAgent, Tracker]:
        c = self.config
        agent = HostAgent(
            AgentConfig(
                addresses=addresses,
                key=c.control.key,
                policies=self.policies,  # one table for the device's agents (policy.add)
                port_low=c.port_low,
                port_high=c.port_high,
                seed=c.seed + (agent_id if c.per_host else 0),
                msg_id_base=int(time.time() * 1000) << 16,  # ids keep growing across restarts
                rto=c.timers["rto"],
                max_retries=c.counts["max_retries"],
                syn_retries=c.counts["syn_retries"],
                close_timeout=c.timers["close_timeout"],
                close_linger=c.timers["close_linger"],
                pending_timeout=c.timers["pending_timeout"],
                anchor_timeout=c.timers["anchor_timeout"],
                hold_timeout=c.timers["hold_timeout"],
                done_linger=c.timers["done_linger"],
                max_backoff=c.timers["max_backoff"],
                # register slots wrap within what the device holds (slot 0 is never used);
                # handed out by the device's pool, shared by its agents
                slot_limit=self.slots.limit,
            ),
            self.slots,
        )
        agent.trace = trace.isEnabledFor(logging.DEBUG)
        return agent, Tracker(agent)  # which sessions each event touched (persistence)

    # -- life cycle ---------------------------------------------------------------------------

    async def start(self, connect_timeout: float = 10.0) -> None:
        """Bind the peer channel, connect to the device, open the management API.

        On any failure everything already started is stopped again before the exception
        propagates (a daemon never half-starts).
        """
        self._take_lock()  # before touching anything: socket, token, state store
        try:
            self.control_addr = await self.peers.start(
                self.config.control.host, self.config.control.port
            )
            self.writer.start()
            self._load_checkpoint()
            await self.client.start(timeout=connect_timeout)
            if self.mgmt is not None:
                await self.mgmt.start()
            m = self.config.management
            if m.metrics_port is not None and m.metrics_host is not None:
                self.metrics.serve(m.metrics_host, m.metrics_port)
            self._tasks.append(asyncio.create_task(self._idle_scan(), name="idle-scan"))
            self._tasks.append(asyncio.create_task(self._reconciler(), name="reconcile"))
        except BaseException:
            await self.stop()
            raise
        self.ready.set()
        log.info(
            "dysco agent %s: device %s, peer channel %s, %d policies, %s",
            self.config.device.name,
            self.config.device.address,
            self.control_addr,
            len(self.agent.policies),
            "; ".join(u.label for u in self.units.values()),
        )

    async def stop(self) -> None:
        """Stop everything (entries stay on the device; a restarted daemon reconciles)."""
        self._stop.set()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks.clear()
        if self._flush_soon is not None:  # committed here instead (AgentStores.persist)
            self._flush_soon.cancel()
            self._flush_soon = None
        self.flush_store()
        for u in self.units.values():
            u.store.close()
        for h in self._timers.values():
            h.cancel()
        self._timers.clear()
        if self.mgmt is not None and self._lock_fd is not None:
            await self.mgmt.close()
        self.metrics.close()
        self.peers.close()
        await self.writer.close()
        await self.client.close()
        for o in self._outcomes.values():
            if not o.future.done():
                o.future.cancel()
        if self._lock_fd is not None:
            os.close(self._lock_fd)  # releases the lock (the file stays: no unlink race)
            self._lock_fd = None

    def _take_lock(self) -> None:
        """Hold an exclusive ``flock`` on ``<token stem>.lock`` next to the token file for
        the daemon's life: a second daemon on the same configuration stops here, before it
        could replace the first one's socket, token or state store."""
        if self._lock_fd is not None:
            return
        path = self.lock_path
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise OSError(
                f"another dysco agent runs with this configuration (it holds {path})"
            ) from None
        self._lock_fd = fd

    async def run_until_stopped(self) -> None:
        """Wait until :meth:`request_stop` is called."""
        await self._stop.wait()

    def request_stop(self) -> None:
        """Ask :meth:`run_until_stopped` to return."""
        self._stop.set()

    # -- the event path -----------------------------------------------------------------------

    def dispatch(self, event: Event, unit: AgentUnit | None = None) -> list[Action]:
        """Feed one event to an agent (``unit``, default :meth:`unit_for_event`) and execute
        its actions (in order)."""
        u = unit or self.unit_for_event(event)
        self.counters.events += 1
        now = asyncio.get_running_loop().time()
        u.tracker.active = True  # record the sessions this event touches (persistence)
        try:
            actions = u.agent.handle(event, now)
        except Exception:
            self.counters.handler_errors += 1
            self.metrics.errors.labels(self.config.device.name, "agent").inc()
            log.exception("agent %d failed on %r", u.agent_id, event)
            return []
        finally:
            u.tracker.active = False
        if trace.isEnabledFor(logging.DEBUG):
            trace.debug(
                "%d: %s -> %s",
                u.agent_id,
                _brief(event),
                "; ".join(_brief(a) for a in actions) or "-",
            )
        self.persist(actions, u)  # before any write, packet or message of this event leaves
        self.execute(actions, u)
        return actions

    def execute(self, actions: list[Action], unit: AgentUnit | None = None) -> None:
        """Execute one action list of an agent (default: the first): writes batched, sends
        after the writes before them."""
        u = unit or self.first
        aid = u.agent_id
        w = self.writer
        w.begin_scope()
        tr = self.translator
        need = self._noted  # the state these sends follow
        dev = self.config.device.name
        for a in actions:
            if isinstance(a, InstallEntry):
                # encode first: an entry the pipeline cannot hold never enters the shadow
                update = tr.entry_update_raw(p4r.Update.INSERT, a.entry, aid)  # bytes: unparsed
                u.shadow[a.entry.key] = a.entry
                u.last_hit[a.entry.key] = time.monotonic()
                u.foreign.pop(a.entry.key, None)
                w.write(update, (aid, a.entry.key))
                self.metrics.writes.labels(dev).inc()
            elif isinstance(a, ModifyEntry):
                update = tr.entry_update_raw(p4r.Update.MODIFY, a.entry, aid)
                for piece in self.held.release(aid, a.entry):
                    # the hold ends: its prefix goes first, ahead of the host's next bytes
                    msg = tr.packet_out(piece, Toward.NETWORK, None)
                    self.counters.packet_outs += 1
                    w.send(lambda m=msg: self._stream_send(m, need))  # type: ignore[misc]
                u.shadow[a.entry.key] = a.entry
                w.write(update, (aid, a.entry.key))
                self.metrics.writes.labels(dev).inc()
            elif isinstance(a, RemoveEntry):
                self.held.forget(aid, a.key)
                u.shadow.pop(a.key, None)
                u.last_hit.pop(a.key, None)
                w.write(tr.delete_update_raw(a.key, aid), (aid, a.key))
                self.metrics.writes.labels(dev).inc()
            elif isinstance(a, SendPacket):
                msg = tr.packet_out(a.segment, a.toward, a.host)
                self.counters.packet_outs += 1
                w.send(lambda m=msg: self._stream_send(m, need))  # type: ignore[misc]
            elif isinstance(a, Probe):
                msg = tr.probe_out(a)
                self.counters.probes += 1
                w.send(lambda m=msg: self._stream_send(m, need))  # type: ignore[misc]
            elif isinstance(a, SendControl):
                w.send(lambda a=a: self._control_send(a, need))  # type: ignore[misc]
            elif isinstance(a, StartTimer):
                old = self._timers.pop((aid, a.timer_id), None)
                if old is not None:
                    old.cancel()
                self._timers[(aid, a.timer_id)] = asyncio.get_running_loop().call_later(
                    a.delay, self._fire, aid, a.timer_id
                )
            elif isinstance(a, CancelTimer):
                h = self._timers.pop((aid, a.timer_id), None)
                if h is not None:
                    h.cancel()
            elif isinstance(a, Observe):
                self._observe(a.kind, a.fields)
            elif isinstance(a, ReconfigFinished):
                self._finished(a)

    def _stream_send(self, msg: p4r.StreamMessageRequest, need: int | None = None) -> None:
        """Queue a packet-out; ``need``: the notes it follows (default: all so far)."""
        self._sendq.put_nowait((self._noted if need is None else need, msg))
        self.metrics.packet_outs.labels(self.config.device.name).inc()

    @property
    def _sendq(self) -> asyncio.Queue[tuple[int, p4r.StreamMessageRequest]]:
        q = self._q
        if q is None:
            q = self._q = asyncio.Queue()
            self._tasks.append(asyncio.create_task(self._stream_sender(), name="packet-out"))
        return q

    async def _stream_sender(self) -> None:
        q = self._sendq
        while True:
            items = [await q.get()]
            while not q.empty() and len(items) < 256:
                items.append(q.get_nowait())
            self._flush_for(max(n for n, _m in items))  # a packet-out follows its state
            try:
                await self.client.send_packets([m for _n, m in items])
            except Exception as e:
                self.metrics.errors.labels(self.config.device.name, "packet_out").inc()
                log.warning("packet-out failed: %s", e)

    def _control_send(self, a: SendControl, need: int | None = None) -> None:
        # what the message tells a peer is persisted first
        self._flush_for(self._noted if need is None else need)
        self.counters.control_out += 1
        self.metrics.control.labels(self.config.device.name, "out").inc()
        if not self.peers.send(a.src_ip, a.dst_ip, a.data):
            self.counters.control_no_route += 1
            self.metrics.errors.labels(self.config.device.name, "control_no_route").inc()
            log.debug("no peer controller for %s", a.dst_ip)

    def _fire(self, agent_id: int, timer_id: TimerKey) -> None:
        self._timers.pop((agent_id, timer_id), None)
        self.counters.timers_fired += 1
        u = self.units.get(agent_id)
        if u is not None:
            self.dispatch(TimerFired(timer_id), u)

    def _on_peer_message(self, src: str, dst: str, data: bytes) -> None:
        u = self.unit_for(dst)
        if u is None:
            return
        self.counters.control_in += 1
        self.metrics.control.labels(self.config.device.name, "in").inc()
        self.dispatch(ControlIn(src, dst, data), u)

    def _on_packet_in(self, msg: DevicePacketIn) -> None:
        self.counters.packet_ins += 1
        try:
            tr = self.translator.packet_in(msg)
        except Exception as e:
            self.counters.untranslatable_packet_ins += 1
            log.debug("untranslatable packet-in: %s", e)
            return
        dev = self.config.device.name
        if tr.kind:
            self.counters.punts[tr.kind] = self.counters.punts.get(tr.kind, 0) + 1
            self.metrics.punts.labels(dev, tr.kind).inc()
        if tr.dropped:
            self.counters.untranslatable_packet_ins += 1
            self.counters.punts_dropped[tr.dropped] = (
                self.counters.punts_dropped.get(tr.dropped, 0) + 1
            )
        unit = self.units.get(tr.agent_id) if tr.agent_id is not None else None
        if unit is None and len(self.units) == 1:
            unit = self.first
        if tr.entry is not None and unit is not None and tr.entry in unit.shadow:
            unit.last_hit[tr.entry] = time.monotonic()
        if tr.held is not None and tr.entry is not None and unit is not None:
            self.held.keep(unit.agent_id, tr.entry, *tr.held)
        if tr.sends:
            # pieces of a completed SPLIT / UNSUPPORTED_OPTIONS punt: after pending writes
            self.counters.punts_completed += 1
            self.writer.begin_scope()
            for m in tr.sends:
                self.counters.packet_outs += 1
                self.writer.send(lambda m=m: self._stream_send(m))  # type: ignore[misc]
        for event in tr.events:
            if isinstance(event, ControlIn):
                self.counters.control_in += 1
            elif isinstance(event, SlotSnapshot):
                self.held.note_ack_hi(event.slot, event.ack_hi)
            # a register report goes to its slot's owner, the rest to the packet's agent
            self.dispatch(event, None if isinstance(event, SlotSnapshot) else unit)

    def _on_write_error(self, code: str, update: p4r.Update) -> None:
        self.metrics.errors.labels(self.config.device.name, f"write_{code.lower()}").inc()

    def _finished(self, a: ReconfigFinished) -> None:
        """A reconfiguration ended: resolve the waiter of its tag, then count and log it."""
        o = self._outcomes.pop(a.tag, None)
        if o is not None and not o.future.done():
            o.future.set_result(
                {
                    "session": str(o.session),
                    "outcome": a.outcome.value,
                    "reason": a.reason,
                    "elapsed": a.elapsed,
                }
            )
        out = self.counters.reconfig_outcomes
        out[a.outcome.value] = out.get(a.outcome.value, 0) + 1
        self.metrics.finished(a.outcome, a.elapsed)
        self._observe(a.kind, a.fields())

    def _observe(self, kind: str, fields: dict[str, Any]) -> None:
        self.metrics.observe(kind, fields)
        for cb in self.observers:
            cb(kind, fields)
        level = logging.DEBUG
        if kind == "control.rejected":
            self._control_rejects.note(str(fields.get("code")), str(fields.get("src")))
        elif kind == "setup.ports_exhausted" or kind.startswith("reconfig."):
            # a reconfiguration's steps at each anchor: few per request, and what an
            # operator (or a failed test's report) needs to see which step stalled
            level = logging.INFO
        log.log(level, "%s %s", kind, fields)

    # -- idle entries and reconciliation ----------------------------------------------------

    async def _paced(
        self, period: str, round_: Callable[[], Awaitable[object]], what: str, level: int
    ) -> None:
        """Run ``round_`` every ``timers.<period>`` seconds while the device is connected, and
        at least ``IDLE_SCAN_COST_FACTOR`` times the previous round's duration apart (a
        full-table read costs about as much as the entries it reads). A failed round is
        logged at ``level`` (``what`` failed: ...) and the next round retries."""
        took = 0.0
        while True:
            await asyncio.sleep(max(self.config.timers[period], IDLE_SCAN_COST_FACTOR * took))
            if not self.client.connected:
                continue
            t0 = time.monotonic()
            try:
                await round_()
            except Exception as e:  # device gone meanwhile: the next round retries
                log.log(level, "%s failed: %s", what, e)
            took = time.monotonic() - t0

    async def _idle_scan(self) -> None:
        """Every ``timers.idle_scan`` seconds (paced by :meth:`_paced`, so it never takes
        more than about 1/20 of the event loop: with 1M entries it runs every few minutes):
        report idle entries to the agent, drop idle foreign ones (:meth:`DeviceSync.idle_round`)."""
        await self._paced("idle_scan", self._idle_rounds, "idle read", logging.DEBUG)

    async def _idle_rounds(self) -> None:
        # several agents: one read of the session tables serves them all
        rows = await self.syncs[0].session_rows() if len(self.syncs) > 1 else None
        for s in self.syncs:
            await s.idle_round(rows)

    async def _on_connected(self, first: bool) -> None:
        """After every (re)connection: make the device hold exactly what we installed
        (:meth:`DeviceSync.on_connected`)."""
        for s in self.syncs:
            await s.on_connected(first)

    # -- losing the device: primary role taken, entries removed behind our back ---------------

    def _on_lost_primary(self) -> None:
        """Another client became primary: writes wait, ``status`` says not ready, and the
        client keeps trying to be primary again (then ``_on_connected`` repairs the device)."""
        self.in_sync = False
        self.metrics.errors.labels(self.config.device.name, "lost_primary").inc()
        log.warning("device %s: another controller is primary", self.config.device.name)

    async def _reconciler(self) -> None:
        """Every ``timers.reconcile`` seconds, paced by :meth:`_paced`: read the device back
        and repair it (:meth:`check_device`)."""
        await self._paced("reconcile", self.check_device, "device check", logging.INFO)

    async def check_device(self) -> int:
        """Read the device back and repair it (:meth:`DeviceSync.check`); returns the number
        of repairs queued."""
        repairs = 0
        for s in self.syncs:
            repairs += await s.check()
        return repairs

    # -- management API -----------------------------------------------------------------------

    async def _mgmt_durable(self, method: str, params: dict[str, Any], progress: Progress) -> Any:
        """:meth:`handle_mgmt`, its effects persisted before the reply acknowledges them."""
        try:
            return await self.handle_mgmt(method, params, progress)
        finally:
            self.flush_store()

    async def handle_mgmt(self, method: str, params: dict[str, Any], progress: Progress) -> Any:
        """Answer one management request (:mod:`controller.mgmt_handlers`)."""
        return await self.handlers.handle(method, params, progress)

    def start_reconfig(
        self,
        session: FiveTuple,
        anchor: str,
        boxes: tuple[str, ...],
        kind: ReconfigKind,
        agent: str | None = None,
    ) -> tuple[int, asyncio.Future[dict[str, Any]]]:
        """Start one reconfiguration as its left anchor (the agent of local address ``agent``,
        default the agent holding the session's right side); returns its tag and the future that
        :meth:`_observe` resolves with its outcome (``completed``, ``cancelled``,
        ``refused``). A caller that stops waiting calls :meth:`abandon_reconfig`."""
        tag = self._next_tag
        self._next_tag = (self._next_tag + 1) % (1 << 32) or 1
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._outcomes[tag] = _Outcome(fut, session)
        u = (self.unit_for(agent) if agent else None) or self.unit_for_session(session, True)
        self.dispatch(Reconfigure(session, anchor, boxes, kind, tag), u or self.first)
        return tag, fut

    def abandon_reconfig(self, tag: int) -> None:
        """Stop tracking the outcome of the reconfiguration ``tag`` (its waiter gave up)."""
        self._outcomes.pop(tag, None)

    def status(self) -> dict[str, Any]:
        """Status summary of this daemon."""
        states = [u.agent.state() for u in self.units.values()]
        return {
            "device": self.config.device.name,
            "address": self.config.device.address,
            "device_id": self.config.device.device_id,
            "connected": self.client.connected,
            # the device holds the pipeline-wide entries (routes, clone session, ...) and
            # every write so far: new sessions can start
            "ready": self.client.connected
            and self.in_sync
            and self._static_queued
            and self.writer.pending == 0,
            "primary": self.client.connected,
            "in_sync": self.in_sync,
            "primary_lost": self.client.primary_lost,
            "pipeline_pushed": self.client.pipeline_pushed,
            "reconnects": self.client.reconnects,
            "agent_addresses": list(self.config.addresses),
            "agents": [
                {
                    "agent_id": u.agent_id,
                    "addresses": list(u.addresses),
                    "sessions": st.sessions,
                    "entries": len(u.shadow),
                    "active_reconfigs": st.active_reconfigs,
                }
                for u, st in zip(self.units.values(), states, strict=True)
            ],
            "peer_channel": f"{self.control_addr[0]}:{self.control_addr[1]}"
            if self.control_addr
            else None,
            "peers": [p.name for p in self.config.peers],
            "sessions": sum(st.sessions for st in states),
            "entries": self.entry_count(),
            "foreign_entries": sum(len(u.foreign) for u in self.units.values()),
            "pending_writes": self.writer.pending,
            "active_reconfigs": sum(st.active_reconfigs for st in states),
            "policies": len(self.agent.policies),
            "uptime": round(time.time() - self.started_at, 3),
        }

    def counter_dict(self) -> dict[str, Any]:
        """All counters: daemon, writer, peer channel, agent observations."""
        c = self.counters
        out: dict[str, Any] = {k: v for k, v in c.__dict__.items()}
        out["writer"] = dict(self.writer.stats.__dict__)
        out["peers"] = dict(self.peers.stats.__dict__)
        total: dict[str, int] = {}
        for u in self.units.values():
            for k, v in u.agent.counters.items():
                total[k] = total.get(k, 0) + v
        out["agent"] = total  # every agent's observations, summed
        if len(self.units) > 1:
            out["agents"] = {str(u.agent_id): dict(u.agent.counters) for u in self.units.values()}
        h = self.held
        out["held_prefix"] = {"kept": h.kept, "sent": h.sent, "discarded": h.discarded,
                              "pending": len(h)}  # fmt: skip
        out["p4rt"] = {
            "packet_ins": self.client.packet_ins,
            "packet_outs": self.client.packet_outs,
            "reconnects": self.client.reconnects,
        }
        return out


# -- helpers ------------------------------------------------------------------------------------


def _brief(obj: object) -> str:
    """A one-line rendering of an event or action for the trace (control bytes elided)."""
    if isinstance(obj, ControlIn | SendControl):
        return f"{type(obj).__name__}({obj.src_ip}->{obj.dst_ip}, {len(obj.data)} bytes)"
    return repr(obj)


class _Durable:
    """The device client as the writer sees it: the state store is flushed before every
    Write RPC, so an entry never reaches the device before the state that explains it."""

    def __init__(self, client: P4RuntimeClient, flush: Callable[[], None]) -> None:
        self._client = client
        self._flush = flush

    async def write(self, updates: list[p4r.Update | bytes], timeout: float = 30.0) -> None:
        self._flush()
        await self._client.write(updates, timeout=timeout)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


__all__ = ["Counters", "Daemon"]
