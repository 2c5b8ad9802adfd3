"""The Dysco daemon: one sans-IO agent bound to one data-plane device over P4Runtime.

Event flow (all on one asyncio loop, the agent is never re-entered)::

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
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import ipaddress
import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controller.config import Config
from controller.metrics import Metrics
from controller.mgmt import MgmtError, MgmtServer, Progress
from controller.p4rt.client import P4RuntimeClient, PacketInMsg
from controller.p4rt.gen.p4.v1 import p4runtime_pb2 as p4r
from controller.p4rt.p4info import P4InfoIndex, load_p4info
from controller.p4rt.tofino import device_config as tofino_device_config
from controller.peers import Impairments, PeerChannel, RejectLog
from controller.store import Change, StateStore, StoreError
from controller.translate import Translator
from controller.writer import OrderedWriter
from dysco_pipeline import pipeline as pl
from dysco_proto.actions import (
    Action,
    CancelTimer,
    InstallEntry,
    ModifyEntry,
    Observe,
    Probe,
    RemoveEntry,
    SendControl,
    SendPacket,
    StartTimer,
)
from dysco_proto.agent import Agent, AgentConfig, SessionView, SideView
from dysco_proto.checkpoint import (
    CheckpointError,
    Tracker,
    dropped_requests,
    export_cursor,
    export_hop,
    export_meta,
    restore_parts,
)
from dysco_proto.entries import Direction, EntryKey, MappingEntry
from dysco_proto.events import (
    BoxOffset,
    ControlIn,
    EntryIdle,
    Event,
    ReconfigKind,
    Reconfigure,
    RelateProxy,
    TimerFired,
)
from dysco_proto.packet import FiveTuple
from dysco_proto.policy import ConfigError, PolicyTable, parse_policies

log = logging.getLogger(__name__)
#: the protocol trace: every event and the actions it produced (``--log-level debug``)
trace = logging.getLogger("controller.trace")

IDLE_SCAN_COST_FACTOR = 20.0
"""The idle scan and the reconciler wait at least this many times their previous read-back's
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


class Daemon:
    """One controller: an :class:`Agent` bound to one device, its peers and its operators."""

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
        tofino = config.device.tofino
        self.p4info = p4info or load_p4info(
            config.device.p4info, pipe=tofino.pipe if tofino is not None else None
        )
        if device_config is None and tofino is not None:
            device_config = tofino_device_config(tofino)  # Stratum's or the SDE's form
        elif device_config is None and config.device.device_config is not None:
            device_config = config.device.device_config.read_bytes()
        self.device_config = device_config or b""
        self.agent = self._new_agent()
        self._static_queued = False
        self.translator = Translator(self.p4info, config, self._lookup_entry)
        self.metrics = Metrics(config.device.name)
        self.counters = Counters()
        self.client = P4RuntimeClient(
            config.device.address,
            config.device.device_id,
            config.device.election_id,
            self.p4info,
            device_config=self.device_config,
            push_pipeline=config.device.push_pipeline,
            on_packet_in=self._on_packet_in,
            on_connected=self._on_connected,
            on_lost_primary=self._on_lost_primary,
            reconnect_max=config.timers["reconnect_max"],
            tls=config.device.tls,
        )
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
        self.mgmt = (
            MgmtServer(config.management.socket, config.management.token_file, self._mgmt_durable)
            if management
            else None
        )
        # shadow of what this controller has installed: key -> entry, last-hit time
        self.shadow: dict[EntryKey, MappingEntry] = {}
        self.last_hit: dict[EntryKey, float] = {}
        self.foreign: dict[EntryKey, MappingEntry] = {}  # read back, not ours (restart)
        self._timers: dict[str, asyncio.TimerHandle] = {}
        self._outcomes: dict[int, _Outcome] = {}
        self._next_tag = 1
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self.started_at = time.time()
        self.control_addr: tuple[str, int] | None = None
        self.observers: list[Callable[[str, dict[str, Any]], None]] = []
        self.ready = asyncio.Event()
        # the device holds what this daemon installed, as far as the last read-back showed
        # (false after losing the primary role or finding entries missing, until repaired)
        self.in_sync = True
        # the agent's persistent state (controller restarts): an SQLite store next to the
        # management token by default, written after every event (controller/store.py)
        self.checkpoint_path = checkpoint_path or config.management.token_file.with_name(
            config.management.token_file.stem + ".state.sqlite"
        )
        self.store = StateStore(self.checkpoint_path)
        tf = config.management.token_file
        self.lock_path = tf.with_name(tf.stem + ".lock")
        self._lock_fd: int | None = None
        self._saved_meta: tuple[Any, ...] | None = None
        self._saved_replay: dict[str, tuple[int, int]] = {}
        self._store_failed = False
        # noted by persist(), committed by flush_store() before anything leaves the process
        self._unsaved = False
        # notes taken (persist) and the last one committed: a send carries the count at its
        # emission and flushes only if that is not committed yet (a send deferred behind a
        # Write finds its state committed by that Write's flush)
        self._noted = 0
        self._committed = 0
        self._dirty_hops: set[int] = set()
        self._dirty_pairs: set[tuple[str, str]] = set()
        self._dirty_entries: dict[EntryKey, MappingEntry | None] = {}
        self._pending_replay: dict[str, tuple[int, int]] = {}
        self._restored_actions: list[Action] | None = None
        self._restored_entries: dict[EntryKey, MappingEntry] = {}
        self._q: asyncio.Queue[tuple[int, p4r.StreamMessageRequest]] | None = None

    def _lookup_entry(self, key: EntryKey) -> MappingEntry | None:
        """The entry with ``key`` as this controller believes the device holds it."""
        e = self.shadow.get(key)
        return e if e is not None else self.foreign.get(key)

    def _shadow_set(self, e: MappingEntry) -> None:
        self.shadow[e.key] = e

    def _shadow_del(self, key: EntryKey) -> None:
        self.shadow.pop(key, None)
        self.last_hit.pop(key, None)

    def _new_agent(self) -> Agent:
        c = self.config
        agent = Agent(
            AgentConfig(
                addresses=c.addresses,
                key=c.control.key,
                policies=c.policy_table(),
                port_low=c.port_low,
                port_high=c.port_high,
                seed=c.seed,
                msg_id_base=int(time.time() * 1000) << 16,  # ids keep growing across restarts
                rto=c.timers["rto"],
                max_retries=c.counts["max_retries"],
                syn_retries=c.counts["syn_retries"],
                close_timeout=c.timers["close_timeout"],
                pending_timeout=c.timers["pending_timeout"],
                anchor_timeout=c.timers["anchor_timeout"],
                hold_timeout=c.timers["hold_timeout"],
                done_linger=c.timers["done_linger"],
                max_backoff=c.timers["max_backoff"],
                # register slots wrap within what the pipeline has (slot 0 is never used)
                slot_limit=pl.NUM_SLOTS,
            )
        )
        agent.trace = trace.isEnabledFor(logging.DEBUG)
        self.tracker = Tracker(agent)  # which sessions each event touched (persistence)
        return agent

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
            "dysco agent %s: device %s, peer channel %s, %d policies",
            self.config.device.name,
            self.config.device.address,
            self.control_addr,
            len(self.agent.policies),
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
        self.flush_store()
        self.store.close()
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

    def dispatch(self, event: Event) -> list[Action]:
        """Feed one event to the agent and execute its actions (in order)."""
        self.counters.events += 1
        now = asyncio.get_running_loop().time()
        self.tracker.active = True  # record the sessions this event touches (persistence)
        try:
            actions = self.agent.handle(event, now)
        except Exception:
            self.counters.handler_errors += 1
            self.metrics.errors.labels(self.config.device.name, "agent").inc()
            log.exception("agent failed on %r", event)
            return []
        finally:
            self.tracker.active = False
        if trace.isEnabledFor(logging.DEBUG):
            trace.debug("%s -> %s", _brief(event), "; ".join(_brief(a) for a in actions) or "-")
        self.persist(actions)  # before any write, packet or message of this event leaves
        self.execute(actions)
        return actions

    def execute(self, actions: list[Action]) -> None:
        """Execute one action list: writes batched, sends after the writes before them."""
        w = self.writer
        w.begin_scope()
        tr = self.translator
        need = self._noted  # the state these sends follow
        dev = self.config.device.name
        for a in actions:
            if isinstance(a, InstallEntry):
                # encode first: an entry the pipeline cannot hold never enters the shadow
                update = tr.entry_update_raw(p4r.Update.INSERT, a.entry)  # bytes: unparsed
                self._shadow_set(a.entry)
                self.last_hit[a.entry.key] = time.monotonic()
                self._forget_foreign(a.entry.key)
                w.write(update, a.entry.key)
                self.metrics.writes.labels(dev).inc()
            elif isinstance(a, ModifyEntry):
                update = tr.entry_update_raw(p4r.Update.MODIFY, a.entry)
                self._shadow_set(a.entry)
                w.write(update, a.entry.key)
                self.metrics.writes.labels(dev).inc()
            elif isinstance(a, RemoveEntry):
                self._shadow_del(a.key)
                w.write(tr.delete_update_raw(a.key), a.key)
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
                old = self._timers.pop(a.timer_id, None)
                if old is not None:
                    old.cancel()
                self._timers[a.timer_id] = asyncio.get_running_loop().call_later(
                    a.delay, self._fire, a.timer_id
                )
            elif isinstance(a, CancelTimer):
                h = self._timers.pop(a.timer_id, None)
                if h is not None:
                    h.cancel()
            elif isinstance(a, Observe):
                self._observe(a.kind, a.fields)

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

    def _fire(self, timer_id: str) -> None:
        self._timers.pop(timer_id, None)
        self.counters.timers_fired += 1
        self.dispatch(TimerFired(timer_id))

    def _on_peer_message(self, src: str, dst: str, data: bytes) -> None:
        if dst not in self.agent.addresses:
            return
        self.counters.control_in += 1
        self.metrics.control.labels(self.config.device.name, "in").inc()
        self.dispatch(ControlIn(src, dst, data))

    def _on_packet_in(self, msg: PacketInMsg) -> None:
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
        if tr.entry is not None and tr.entry in self.shadow:
            self.last_hit[tr.entry] = time.monotonic()
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
            self.dispatch(event)

    def _on_write_error(self, code: str, update: p4r.Update) -> None:
        self.metrics.errors.labels(self.config.device.name, f"write_{code.lower()}").inc()

    def _observe(self, kind: str, fields: dict[str, Any]) -> None:
        self.metrics.observe(kind, fields)
        for cb in self.observers:
            cb(kind, fields)
        if kind.startswith("reconfig.") and kind != "reconfig.started":
            outcome = kind.split(".", 1)[1]
            self.counters.reconfig_outcomes[outcome] = (
                self.counters.reconfig_outcomes.get(outcome, 0) + 1
            )
            tag = fields.get("tag")
            if isinstance(tag, int) and outcome in ("completed", "cancelled", "refused"):
                o = self._outcomes.pop(tag, None)
                if o is not None and not o.future.done():
                    o.future.set_result(
                        {
                            "session": str(o.session),
                            "outcome": outcome,
                            "reason": fields.get("reason", ""),
                            "elapsed": fields.get("elapsed"),
                        }
                    )
        level = logging.DEBUG
        if kind == "control.rejected":
            self._control_rejects.note(str(fields.get("code")), str(fields.get("src")))
        elif kind == "setup.ports_exhausted":
            level = logging.INFO
        log.log(level, "%s %s", kind, fields)

    # -- idle entries and reconciliation ----------------------------------------------------

    async def _idle_scan(self) -> None:
        """Report entries unused for ``idle_timeout`` (old paths' retired entries:
        ``retired_timeout``) to the agent, and drop foreign ones unused for ``idle_timeout``.

        Idleness comes from the device (idle time read back with the entries, when the target
        reports it) or, failing that, from the last packet-in that matched the entry.

        The read-back costs about as much as the entries it reads: the scan waits at least
        ``IDLE_SCAN_COST_FACTOR`` times the duration of the previous one, so it never takes
        more than about 1/20 of the event loop (with 1M entries it runs every few minutes).
        """
        period = self.config.timers["idle_scan"]
        timeout = self.config.timers["idle_timeout"]
        retired_timeout = self.config.timers["retired_timeout"]
        took = 0.0
        while True:
            await asyncio.sleep(max(period, IDLE_SCAN_COST_FACTOR * took))
            if not self.client.connected:
                continue
            t0 = time.monotonic()
            try:
                idle_dev = await self._device_idle_times()
            except Exception as e:
                log.debug("idle read failed: %s", e)
                continue
            finally:
                took = time.monotonic() - t0
            now = time.monotonic()
            for key in list(self.shadow):
                dev_idle = idle_dev.get(key)
                idle = dev_idle if dev_idle is not None else now - self.last_hit.get(key, now)
                limit = retired_timeout if self.agent.is_retired(key) else timeout
                if idle >= limit:
                    self.counters.idle_reports += 1
                    self.last_hit[key] = now  # report at most once per timeout
                    self.dispatch(EntryIdle(key))
            for key in list(self.foreign):
                dev_idle = idle_dev.get(key)
                if dev_idle is not None and dev_idle >= timeout:
                    self._remove_foreign(key)

    async def _device_idle_times(self) -> dict[EntryKey, float]:
        out: dict[EntryKey, float] = {}
        # read even before the first entry showed idle times: the read is what tells
        async for te in self.client.read_table_entries(0):
            got = self.translator.entry_from_p4(te)
            if got is not None and got[1] is not None:
                out[got[0].key] = got[1]
        return out

    def _forget_foreign(self, key: EntryKey) -> None:
        self.foreign.pop(key, None)

    def _remove_foreign(self, key: EntryKey) -> None:
        if self.foreign.pop(key, None) is not None:
            self.counters.orphans_removed += 1
            self.writer.write(self.translator.delete_update(key), key)

    async def _on_connected(self, first: bool) -> None:
        """After every (re)connection: make the device hold exactly what we installed.

        First connection (controller start): entries already on the device belong to sessions
        of a previous controller instance; they are adopted by the agent when it supports it
        (``Agent.adopt``), else kept running as *foreign* entries (traffic keeps flowing) and
        removed when idle. Later connections (device or channel restarted): entries we
        installed but the device lost are re-installed, entries we did not install removed.
        """
        await self._install_static()
        self._static_queued = True
        device: dict[EntryKey, MappingEntry] = {}
        async for te in self.client.read_table_entries(0):
            got = self.translator.entry_from_p4(te)
            if got is not None:
                device[got[0].key] = got[0]
        if first:
            if self._restored_actions is not None:
                self._reconcile_restored(device)
                return
            for e in device.values():
                self.foreign[e.key] = e
            self._reserve_foreign()
            return
        for key, entry in self.shadow.items():
            have = device.get(key)
            if have is None:
                self.counters.reconciled_added += 1
                self.writer.write(self.translator.entry_update(p4r.Update.INSERT, entry), key)
            elif not self.translator.same(have, entry):
                self.counters.reconciled_added += 1
                self.writer.write(self.translator.entry_update(p4r.Update.MODIFY, entry), key)
        for key in device:
            if key not in self.shadow and key not in self.foreign:
                self.counters.reconciled_removed += 1
                self.writer.write(self.translator.delete_update(key), key)

    # -- losing the device: primary role taken, entries removed behind our back ---------------

    def _on_lost_primary(self) -> None:
        """Another client became primary: writes wait, ``status`` says not ready, and the
        client keeps trying to be primary again (then ``_on_connected`` repairs the device)."""
        self.in_sync = False
        self.metrics.errors.labels(self.config.device.name, "lost_primary").inc()
        log.warning("device %s: another controller is primary", self.config.device.name)

    async def _reconciler(self) -> None:
        """Every ``timers.reconcile`` seconds, and at least ``IDLE_SCAN_COST_FACTOR`` times
        the previous check's duration apart: read the device back and repair it."""
        period = self.config.timers["reconcile"]
        took = 0.0
        while True:
            await asyncio.sleep(max(period, IDLE_SCAN_COST_FACTOR * took))
            if not self.client.connected:
                continue
            t0 = time.monotonic()
            try:
                await self.check_device()
            except Exception as e:  # device gone meanwhile: the next round retries
                log.info("device check failed: %s", e)
            took = time.monotonic() - t0

    async def check_device(self) -> int:
        """Read every entry back; reinstall the static entries and the session entries the
        device lost or holds differently, delete session entries nobody installed. Returns the
        number of repairs queued; ``in_sync`` is true once a read-back needed none."""
        static = self.translator.static_entries()
        have_static: list[pl.TableEntry] = []
        device: dict[EntryKey, MappingEntry] = {}
        known = dict(self.shadow)  # installed when the read began (later ones: in flight)
        async for te in self.client.read_table_entries(0):
            got = self.translator.entry_from_p4(te)
            if got is not None:
                device[got[0].key] = got[0]
                continue
            ce = self.translator.contract_entry(te)
            if ce is not None and ce in static:
                have_static.append(ce)
        repairs = 0
        if any(e not in have_static for e in static):
            repairs += len(static)
            await self._install_static()
        same = self.translator.same
        for n, (key, entry) in enumerate(known.items(), 1):
            if n % 4096 == 0:
                await asyncio.sleep(0)  # a large table: let packet-ins through meanwhile
            if self.shadow.get(key) is not entry:
                continue  # changed or removed since the read began: its own write is queued
            have = device.get(key)
            if have is None or (have != entry and not same(have, entry)):
                repairs += 1
                kind = p4r.Update.INSERT if have is None else p4r.Update.MODIFY
                self.writer.write(self.translator.entry_update(kind, entry), key)
        for key in device:
            if key not in known and key not in self.shadow and key not in self.foreign:
                repairs += 1
                self.writer.write(self.translator.delete_update(key), key)
        if repairs:
            self.counters.reconciled_added += repairs
            log.warning(
                "device %s: %d entries missing or different, repaired",
                self.config.device.name,
                repairs,
            )
        self.in_sync = repairs == 0 and self.client.connected
        return repairs

    # -- checkpoint and restart ---------------------------------------------------------------

    def persist(self, actions: list[Action]) -> None:
        """Note what the last event changed (the sessions it touched, the entries its actions
        write or remove, the replay window of the peer it heard from); :meth:`flush_store`
        commits it. Called before the event's actions are executed; the store is flushed
        before anything leaves the process (a Write RPC, a packet-out, a control message, a
        management reply), so nothing on the device or told to a peer or operator is unknown
        to a restarted daemon, and one transaction covers every event since the last one."""
        hop_ids, pairs = self.tracker.take()
        self._dirty_hops |= hop_ids
        self._dirty_pairs |= pairs
        for a in actions:
            if isinstance(a, InstallEntry | ModifyEntry):
                self._dirty_entries[a.entry.key] = a.entry
            elif isinstance(a, RemoveEntry):
                self._dirty_entries[a.key] = None
        last = self.agent.codec.replay.latest()
        if last is not None and self._saved_replay.get(last[0]) != last[1:]:
            self._pending_replay[last[0]] = (last[1], last[2])
        self._unsaved = True
        self._noted += 1

    def _flush_for(self, need: int) -> None:
        """Commit unless the notes up to ``need`` are already committed."""
        if need > self._committed:
            self.flush_store()

    def flush_store(self) -> None:
        """Commit everything noted by :meth:`persist` since the last flush (one SQLite
        transaction; ``controller/store.py``). Its cost follows the number of sessions and
        entries changed since then, never the total."""
        if not self._unsaved:
            return
        agent = self.agent
        c = Change()
        hop_ids = self._dirty_hops
        if hop_ids:
            dropped = dropped_requests(agent)
            for hid in hop_ids:
                hop = agent.hops.get(hid)
                if hop is None:
                    c.hops_del.append(hid)
                else:
                    c.hops_put.append((hid, _dumps(export_hop(agent, hop, dropped))))
            self.tracker.take()  # the export's own reads
        for pair in self._dirty_pairs:
            cur = export_cursor(agent, pair)
            if cur is not None:
                c.cursors.append((pair[0], pair[1], cur))
        aid = self.config.agent_id
        for key, entry in self._dirty_entries.items():
            if entry is None:
                c.entries_del.append(_key_text(key))
            else:
                c.entries_put.append((_key_text(key), _dumps(_entry_json(entry, aid))))
        marks = (
            agent._next_hop_id,
            agent._next_slot,
            agent._next_token,
            agent._msg_id,
            agent._req_number,
            agent._rng.getstate(),
            tuple(agent.right_done),
        )
        if marks != self._saved_meta:
            c.meta = _dumps(export_meta(agent))
        c.replay = [(s, t, b) for s, (t, b) in self._pending_replay.items()]
        try:
            self.store.commit(c)
        except (sqlite3.Error, StoreError) as e:
            self.metrics.errors.labels(self.config.device.name, "checkpoint").inc()
            if not self._store_failed:
                log.warning("cannot write the state store %s: %s", self.checkpoint_path, e)
            self._store_failed = True
            return
        self._store_failed = False
        self._saved_meta = marks
        self._saved_replay.update(self._pending_replay)
        self._dirty_hops = set()
        self._dirty_pairs = set()
        self._dirty_entries = {}
        self._pending_replay = {}
        self._unsaved = False
        self._committed = self._noted
        self.counters.checkpoints += 1

    def _load_checkpoint(self) -> None:
        """Restore the previous instance's agent from the state store (before connecting).

        An unusable store (not a regular file, not a database, malformed or out-of-range
        content, another device's) is moved aside with one log line and the daemon starts
        clean: the device's entries are then kept as foreign ones (traffic keeps flowing)."""
        path = self.checkpoint_path
        try:
            self.store.open()
            loaded = self.store.load()
            if loaded is None:
                self.store.reset(self.config.device.name)
                return
            if loaded.device != self.config.device.name:
                raise CheckpointError(f"state of device {loaded.device!r}")
            actions = restore_parts(self.agent, loaded.meta, loaded.hops, loaded.cursors)
            entries = {}
            for item in loaded.entries:
                try:
                    e = _entry_from_json(item)
                except Exception as err:  # any shape error of one stored entry
                    raise CheckpointError(f"malformed entry {str(item)[:80]}: {err}") from None
                entries[e.key] = e
            for sender, top, bits in loaded.replay:
                self.agent.codec.replay.load(sender, top, bits)
                self._saved_replay[sender] = (top, bits)
        except (StoreError, CheckpointError, ValueError) as e:
            bad = self.store.move_aside()
            log.warning(
                "ignoring state store %s (%s); moved to %s, starting clean from the device",
                path,
                e,
                bad.name,
            )
            self.agent = self._new_agent()
            self._saved_replay = {}
            try:
                self.store.open()
                self.store.reset(self.config.device.name)
            except (StoreError, sqlite3.Error) as e2:
                log.warning("cannot create the state store %s: %s", path, e2)
            return
        self.tracker.take()
        self._restored_actions = actions
        self._restored_entries = entries
        self.counters.restored_sessions = len(self.agent.hops)
        log.info("restored %d sessions from %s", len(self.agent.hops), path)

    def _reconcile_restored(self, device: dict[EntryKey, MappingEntry]) -> None:
        """First connection after a restore: checkpointed entries missing or different on the
        device are reinstalled, entries the checkpoint does not know are foreign (kept until
        idle, their ports and slots reserved), then the restore actions run (timers, reverts
        of dropped reconfigurations)."""
        for key, entry in self._restored_entries.items():
            self._shadow_set(entry)
            self.last_hit[key] = time.monotonic()
            have = device.get(key)
            if have is None:
                self.counters.reconciled_added += 1
                self.writer.write(self.translator.entry_update(p4r.Update.INSERT, entry), key)
            elif not self.translator.same(have, entry):
                self.counters.reconciled_added += 1
                self.writer.write(self.translator.entry_update(p4r.Update.MODIFY, entry), key)
            else:
                self.counters.reconciled_adopted += 1
        for key, e in device.items():
            if key not in self._restored_entries:
                self.foreign[key] = e
        self._reserve_foreign()
        actions, self._restored_actions = self._restored_actions or [], None
        self._restored_entries = {}
        self.persist(actions)
        self.execute(actions)

    def _reserve_foreign(self) -> None:
        """Keep the new agent from reusing the ports and slots of foreign entries."""
        top_slot = 0
        for e in self.foreign.values():
            top_slot = max(top_slot, e.slot)
            m = e.key.match
            if m.dst_ip in self.agent.addresses:
                self.agent.ports.reserve(m.dst_ip, m.src_ip, m.dst_port)
        # No public API for the slot counter yet (proposed: Agent.adopt); avoid slot reuse.
        if top_slot >= getattr(self.agent, "_next_slot", 0):
            self.agent._next_slot = top_slot + 1 if top_slot + 1 < pl.NUM_SLOTS else 1
        self.persist([])

    async def _install_static(self) -> None:
        """Install the device-wide entries the pipeline needs (e.g. local addresses)."""
        for key, update in self.translator.static_updates():
            self.writer.write(update, key)

    # -- management API -----------------------------------------------------------------------

    async def _mgmt_durable(self, method: str, params: dict[str, Any], progress: Progress) -> Any:
        """:meth:`handle_mgmt`, its effects persisted before the reply acknowledges them."""
        try:
            return await self.handle_mgmt(method, params, progress)
        finally:
            self.flush_store()

    async def handle_mgmt(self, method: str, params: dict[str, Any], progress: Progress) -> Any:
        """Dispatch one management request (see :mod:`controller.mgmt`)."""
        if method == "sessions":
            return self._mgmt_sessions(params)
        if method == "session":
            return self._mgmt_session(params)
        if method == "reconfig":
            return await self._mgmt_reconfig(params, progress)
        if method == "policy.list":
            return [_policy_dict(p) for p in self.agent.policies]
        if method == "policy.add":
            return self._mgmt_policy_add(params)
        if method == "policy.remove":
            name = _param(params, "name", str)
            try:
                self.agent.policies.remove(name)
            except KeyError:
                raise MgmtError("not_found", f"no policy named {name!r}") from None
            return {"removed": name}
        if method == "relate":  # a local TCP-terminating proxy spliced inbound to outbound
            inbound = _parse_tuple(_param(params, "inbound", str))
            outbound = _parse_tuple(_param(params, "outbound", str))
            acts = self.dispatch(RelateProxy(inbound, outbound))
            kinds = [a.kind for a in acts if isinstance(a, Observe)]
            return {"observed": kinds}
        if method == "box_offset":  # a local box declares the byte offset it applies
            session = _parse_tuple(_param(params, "session", str))
            acts = self.dispatch(
                BoxOffset(session, int(params.get("lr") or 0), int(params.get("rl") or 0))
            )
            return {"observed": [a.kind for a in acts if isinstance(a, Observe)]}
        if method == "status":
            return self.status()
        if method == "counters":
            return self.counter_dict()
        raise MgmtError("unknown_method", f"unknown method {method!r}")

    def status(self) -> dict[str, Any]:
        """Status summary of this daemon."""
        st = self.agent.state()
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
            "peer_channel": f"{self.control_addr[0]}:{self.control_addr[1]}"
            if self.control_addr
            else None,
            "peers": [p.name for p in self.config.peers],
            "sessions": st.sessions,
            "entries": len(self.shadow),
            "foreign_entries": len(self.foreign),
            "pending_writes": self.writer.pending,
            "active_reconfigs": st.active_reconfigs,
            "policies": len(self.agent.policies),
            "uptime": round(time.time() - self.started_at, 3),
        }

    def counter_dict(self) -> dict[str, Any]:
        """All counters: daemon, writer, peer channel, agent observations."""
        c = self.counters
        out: dict[str, Any] = {k: v for k, v in c.__dict__.items()}
        out["writer"] = dict(self.writer.stats.__dict__)
        out["peers"] = dict(self.peers.stats.__dict__)
        out["agent"] = dict(self.agent.counters)
        out["p4rt"] = {
            "packet_ins": self.client.packet_ins,
            "packet_outs": self.client.packet_outs,
            "reconnects": self.client.reconnects,
        }
        return out

    def _views(self) -> list[SessionView]:
        return self.agent.sessions()

    def _mgmt_sessions(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        sel = _selector(params)
        out = [_session_dict(v, brief=True) for v in self._views() if _matches(v, sel)]
        limit = params.get("limit")
        if isinstance(limit, int) and limit >= 0:
            out = out[:limit]
        return out

    def _mgmt_session(self, params: dict[str, Any]) -> dict[str, Any]:
        ident = params.get("id")
        views = self._views()
        found: SessionView | None = None
        if isinstance(ident, int):
            found = next((v for v in views if v.id == ident), None)
        elif isinstance(ident, str):
            t = _parse_tuple(ident)
            found = next(
                (v for v in views if t in {s.session for s in _sides(v)} | {_sv_sub(v)}), None
            )
            if found is None and ident.isdigit():
                found = next((v for v in views if v.id == int(ident)), None)
        else:
            raise MgmtError("bad_request", "session: 'id' (number or five-tuple) is required")
        if found is None:
            raise MgmtError("not_found", f"no session {ident}")
        d = _session_dict(found, brief=False)
        keys = {k for s in _sides(found) for k in self._side_keys(s)}
        d["entries"] = [_entry_dict(self.shadow[k]) for k in sorted(keys) if k in self.shadow]
        d["reconfigs"] = [
            {
                "request": f"{r.request.anchor}/{r.request.number}",
                "role": r.role,
                "phase": r.phase,
                "peer_anchor": r.peer_anchor,
            }
            for r in self.agent.reconfigs()
            if r.session in {s.session for s in _sides(found)}
        ]
        return d

    def _side_keys(self, s: SideView) -> list[EntryKey]:
        if s.which == "left":
            return [
                EntryKey(Direction.IN, s.subsession),
                EntryKey(Direction.OUT, s.session.reversed()),
            ]
        return [EntryKey(Direction.IN, s.subsession.reversed()), EntryKey(Direction.OUT, s.session)]

    async def _mgmt_reconfig(self, params: dict[str, Any], progress: Progress) -> dict[str, Any]:
        kind_text = _param(params, "kind", str)
        try:
            kind = ReconfigKind(kind_text)
        except ValueError:
            raise MgmtError("bad_request", f"unknown reconfiguration kind {kind_text!r}") from None
        boxes = tuple(_ipv4(b, "boxes") for b in params.get("boxes") or [])
        right_anchor = params.get("right_anchor")
        if right_anchor is not None:
            right_anchor = _ipv4(right_anchor, "right_anchor")
        timeout = float(params.get("timeout") or 10.0)
        if kind is ReconfigKind.INSERT and not boxes:
            raise MgmtError("bad_request", "insert needs at least one box")
        if kind is ReconfigKind.REPLACE and not boxes:
            raise MgmtError("bad_request", "replace needs at least one new box")
        if kind is ReconfigKind.REPLACE and right_anchor is None:
            raise MgmtError("bad_request", "replace needs the right anchor")
        if "session" in params:
            t = _parse_tuple(_param(params, "session", str))
            targets = [t]
            if t not in self.agent.right_by_stuple:
                raise MgmtError("not_found", f"no session {t} with a right side at this agent")
        else:
            sel = _selector(params)
            if not sel and not params.get("all"):
                raise MgmtError("bad_request", "give a session, a selector or all=true")
            targets = [
                v.right.session
                for v in self._views()
                if v.right is not None and not v.closing and _matches(v, sel)
            ]
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[dict[str, Any]]] = []
        for t in targets:
            side = self.agent.right_by_stuple.get(t)
            if side is None:
                continue
            anchor = right_anchor
            if anchor is None:
                if kind is ReconfigKind.INSERT:
                    anchor = side.peer
                else:  # remove: splice out the next box; needs the hop after it
                    anchor = self._hop_after(t, side.peer)
                    if anchor is None:
                        fut: asyncio.Future[dict[str, Any]] = loop.create_future()
                        fut.set_result(
                            {
                                "session": str(t),
                                "outcome": "refused",
                                "reason": "right anchor unknown: pass right_anchor",
                            }
                        )
                        futures.append(fut)
                        continue
            tag = self._next_tag
            self._next_tag = (self._next_tag + 1) % (1 << 32) or 1
            fut = loop.create_future()
            self._outcomes[tag] = _Outcome(fut, t)
            futures.append(fut)
            self.dispatch(Reconfigure(t, anchor, boxes, kind, tag))
        total = len(futures)
        done = 0
        results: list[dict[str, Any]] = []
        deadline = loop.time() + timeout
        pending = set(futures)
        while pending:
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            finished, pending = await asyncio.wait(
                pending, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
            )
            done += len(finished)
            with contextlib.suppress(Exception):
                await progress({"done": done, "total": total})
        for f in futures:
            if f.done() and not f.cancelled():
                results.append(f.result())
        for tag, o in list(self._outcomes.items()):
            if o.future in pending:
                del self._outcomes[tag]
                results.append({"session": str(o.session), "outcome": "timeout", "reason": ""})
        summary: dict[str, int] = {}
        for r in results:
            summary[r["outcome"]] = summary.get(r["outcome"], 0) + 1
        return {"total": total, "summary": summary, "results": results}

    def _hop_after(self, session: FiveTuple, peer: str) -> str | None:
        side = self.agent.right_by_stuple.get(session)
        msg = getattr(side, "syn_msg", None)
        hops = tuple(getattr(msg, "hops", ()) or ())
        # the chain sent to `peer` lists the hops after it
        return hops[0] if hops else None

    def _mgmt_policy_add(self, params: dict[str, Any]) -> dict[str, Any]:
        text = params.get("yaml")
        if not isinstance(text, str):
            raise MgmtError("bad_request", "policy.add needs 'yaml' (a policy document)")
        try:
            policies = parse_policies(
                text, filename=str(params.get("filename") or "<policy>"), names=self.config.names
            )
        except ConfigError as e:
            raise MgmtError("bad_request", str(e)) from None
        index = params.get("index")
        table: PolicyTable = self.agent.policies
        for p in policies:
            if p.name in table:
                raise MgmtError("refused", f"a policy named {p.name!r} already exists")
        for i, p in enumerate(policies):
            table.add(p, None if not isinstance(index, int) else index + i)
        return {"added": [p.name for p in policies]}


# -- helpers ------------------------------------------------------------------------------------


def _brief(obj: object) -> str:
    """A one-line rendering of an event or action for the trace (control bytes elided)."""
    if isinstance(obj, ControlIn | SendControl):
        return f"{type(obj).__name__}({obj.src_ip}->{obj.dst_ip}, {len(obj.data)} bytes)"
    return repr(obj)


def _param(params: dict[str, Any], name: str, typ: type) -> Any:
    v = params.get(name)
    if not isinstance(v, typ):
        raise MgmtError("bad_request", f"parameter {name!r} ({typ.__name__}) is required")
    return v


def _ipv4(v: Any, what: str) -> str:
    try:
        return str(ipaddress.IPv4Address(str(v)))
    except ValueError:
        raise MgmtError("bad_request", f"{what}: not an IPv4 address: {v!r}") from None


def _parse_tuple(text: str) -> FiveTuple:
    """Parse ``a.b.c.d:p->e.f.g.h:q[/proto]`` (the form :class:`FiveTuple` prints)."""
    try:
        body, _, proto = text.partition("/")
        left, right = body.split("->")
        sip, sport = left.rsplit(":", 1)
        dip, dport = right.rsplit(":", 1)
        return FiveTuple(
            str(ipaddress.IPv4Address(sip.strip())),
            int(sport),
            str(ipaddress.IPv4Address(dip.strip())),
            int(dport),
            int(proto) if proto else 6,
        )
    except ValueError:
        raise MgmtError(
            "bad_request", f"not a session five-tuple (a.b.c.d:p->e.f.g.h:q): {text!r}"
        ) from None


def _selector(params: dict[str, Any]) -> dict[str, Any]:
    sel: dict[str, Any] = {}
    for k in ("src", "dst"):
        if params.get(k):
            try:
                sel[k] = ipaddress.IPv4Network(str(params[k]), strict=False)
            except ValueError:
                raise MgmtError("bad_request", f"{k}: not an IPv4 prefix: {params[k]!r}") from None
    for k in ("sport", "dport"):
        if params.get(k) is not None:
            try:
                sel[k] = int(params[k])
            except (TypeError, ValueError):
                raise MgmtError("bad_request", f"{k}: not a port: {params[k]!r}") from None
    if params.get("peer"):
        sel["peer"] = _ipv4(params["peer"], "peer")
    if params.get("state"):
        sel["state"] = str(params["state"])
    return sel


def _sides(v: SessionView) -> list[SideView]:
    return [s for s in (v.left, v.right) if s is not None]


def _sv_sub(v: SessionView) -> FiveTuple | None:
    side = v.right or v.left
    return side.subsession if side else None


def _matches(v: SessionView, sel: dict[str, Any]) -> bool:
    if not sel:
        return True
    t = v.session
    if "src" in sel and ipaddress.IPv4Address(t.src_ip) not in sel["src"]:
        return False
    if "dst" in sel and ipaddress.IPv4Address(t.dst_ip) not in sel["dst"]:
        return False
    if "sport" in sel and t.src_port != sel["sport"]:
        return False
    if "dport" in sel and t.dst_port != sel["dport"]:
        return False
    if "peer" in sel and sel["peer"] not in {s.peer for s in _sides(v)}:
        return False
    return not ("state" in sel and _state(v) != sel["state"])


def _state(v: SessionView) -> str:
    if v.closing:
        return "closing"
    if v.pending:
        return "pending"
    if any(s.busy is not None for s in _sides(v)):
        return "reconfiguring"
    return "established"


def _deltas(d: Any) -> dict[str, int]:
    return {
        "seq": d.seq,
        "ack": d.ack,
        "tsval": d.tsval,
        "tsecr": d.tsecr,
        "win_shift": d.win_shift,
    }


def _side_dict(s: SideView) -> dict[str, Any]:
    return {
        "local": s.local,
        "peer": s.peer,
        "subsession": str(s.subsession),
        "session": str(s.session),
        "in_deltas": _deltas(s.in_deltas),
        "out_deltas": _deltas(s.out_deltas),
        "lock": s.lock,
        "lock_request": f"{s.lock_request.anchor}/{s.lock_request.number}"
        if s.lock_request
        else None,
        "busy": f"{s.busy.anchor}/{s.busy.number}" if s.busy else None,
        "entries": s.entries,
    }


def _session_dict(v: SessionView, brief: bool) -> dict[str, Any]:
    left, right = v.left, v.right
    local = left.local if left else (right.local if right else None)
    path = [x for x in (left.peer if left else None, local, right.peer if right else None) if x]
    d: dict[str, Any] = {
        "id": v.id,
        "session": str(v.session),
        "state": _state(v),
        "left_peer": left.peer if left else None,
        "right_peer": right.peer if right else None,
        "path": path,
    }
    if not brief:
        d["left"] = _side_dict(left) if left else None
        d["right"] = _side_dict(right) if right else None
        d["pending"] = v.pending
        d["closing"] = v.closing
        d["fin"] = {"left_to_right": v.fin_lr, "right_to_left": v.fin_rl}
    return d


def _entry_dict(e: MappingEntry) -> dict[str, Any]:
    return {
        "key": str(e.key),
        "rewrite": str(e.rewrite),
        "deltas": _deltas(e.deltas),
        "slot": e.slot,
        "role": e.role.value,
        "epoch": e.epoch,
        "new_rewrite": str(e.new_rewrite) if e.new_rewrite else None,
    }


def _entry_json(e: MappingEntry, agent_id: int) -> list[Any]:
    te = pl.entry_to_table(e, agent_id)
    return [te.table.value, dict(te.match), te.action.value, dict(te.params)]


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


def _key_text(k: EntryKey) -> str:
    return f"{k.direction.value}|{k.match}"


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def _entry_from_json(item: list[Any]) -> MappingEntry:
    return pl.entry_from_table(pl.TableEntry.build(item[0], item[1], item[2], item[3]))[1]


def _policy_dict(p: Any) -> dict[str, Any]:
    return {
        "name": p.name,
        "src": str(p.src) if p.src else None,
        "dst": str(p.dst) if p.dst else None,
        "sport": str(p.sport) if p.sport else None,
        "dport": str(p.dport) if p.dport else None,
        "proto": p.proto,
        "chain": list(p.chain),
    }


__all__ = ["Counters", "Daemon"]
