"""Helpers for the controller tests: the contract's P4Info, a table-store backend for the
project's P4Runtime server, and daemon configurations on loopback."""

from __future__ import annotations

import asyncio
import secrets
import threading
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

from controller.p4rt.gen.p4.config.v1 import p4info_pb2
from controller.p4rt.gen.p4.v1 import p4runtime_pb2 as p4r
from controller.p4rt.p4info import P4InfoIndex
from dysco_pipeline import pipeline as pl
from dysco_targets.backend_api import (
    ALREADY_EXISTS,
    NOT_FOUND,
    OK_STATUS,
    UNIMPLEMENTED,
    Backend,
    UpdateStatus,
)
from dysco_targets.contract import CONTRACT_P4INFO, load_contract_p4info
from dysco_targets.server import P4RuntimeServer

#: a fresh control key per test run (a fixed, published key is refused by the config)
KEY_HEX = secrets.token_hex(16)


def contract_p4info() -> p4info_pb2.P4Info:
    """The compiled P4Info if the P4 build produced it, else one synthesised from
    :mod:`dysco_pipeline.pipeline` (same names, widths and match kinds)."""
    if CONTRACT_P4INFO.exists():
        return load_contract_p4info()
    p = p4info_pb2.P4Info()
    next_id = {"t": 0x02000000, "a": 0x01000000, "c": 0x0C000000, "r": 0x0E000000}

    def nid(kind: str) -> int:
        next_id[kind] += 1
        return next_id[kind]

    act_ids: dict[pl.Act, int] = {}
    for act in pl.Act:
        a = p.actions.add()
        a.preamble.id = act_ids[act] = nid("a")
        a.preamble.name = act.value
        a.preamble.alias = act.value.rsplit(".", 1)[-1]
        for i, (name, width) in enumerate(pl.ACTION_PARAMS[act], 1):
            q = a.params.add()
            q.id, q.name, q.bitwidth = i, name, width
    for tbl in pl.Tbl:
        t = p.tables.add()
        t.preamble.id = nid("t")
        t.preamble.name = tbl.value
        t.preamble.alias = tbl.value.rsplit(".", 1)[-1]
        for i, (name, width, kind) in enumerate(pl.MATCH_FIELDS[tbl], 1):
            m = t.match_fields.add()
            m.id, m.name, m.bitwidth = i, name, width
            m.match_type = (
                p4info_pb2.MatchField.LPM if kind == "lpm" else p4info_pb2.MatchField.EXACT
            )
        for act in pl.TABLE_ACTIONS[tbl]:
            t.action_refs.add().id = act_ids[act]
        t.size = pl.TABLE_SIZES[tbl]
    for hdr, fields in (("packet_in", pl.PACKET_IN_FIELDS), ("packet_out", pl.PACKET_OUT_FIELDS)):
        c = p.controller_packet_metadata.add()
        c.preamble.id = nid("c")
        c.preamble.name = hdr
        for i, (name, width) in enumerate(fields, 1):
            m = c.metadata.add()
            m.id, m.name, m.bitwidth = i, name, width
    return p


def write_p4info(path: Path) -> Path:
    """Write :func:`contract_p4info` as text to ``path``."""
    from google.protobuf import text_format

    path.write_text(text_format.MessageToString(contract_p4info()))
    return path


class TableBackend(Backend):
    """A backend that only stores entries and records packet-outs (no packet processing).

    No packet ever hits an entry, so it reports each entry idle since it was written (unless
    ``reports_idle`` is cleared: then, like a device without idle tracking, it reports none).

    ``log`` records ("write", n) and ("packet_out", metadata) in arrival order, so tests can
    check that a packet-out followed the writes it depends on.
    """

    def __init__(self) -> None:
        self.entries: dict[tuple[int, bytes], p4r.TableEntry] = {}
        self.written_at: dict[tuple[int, bytes], float] = {}
        self.reports_idle = True
        self.log: list[tuple[str, object]] = []
        self.packet_outs: list[tuple[bytes, dict[str, int]]] = []
        self.p4info: P4InfoIndex | None = None
        self.lock = threading.Lock()
        self.pipelines = 0

    def set_pipeline(self, p4info: P4InfoIndex, device_config: bytes) -> None:
        self.p4info = p4info
        self.pipelines += 1
        self.entries.clear()

    @staticmethod
    def _key(te: p4r.TableEntry) -> tuple[int, bytes]:
        ms = sorted(te.match, key=lambda m: m.field_id)
        return te.table_id, b"".join(m.SerializeToString(deterministic=True) for m in ms)

    def write(self, updates: Sequence[p4r.Update]) -> list[UpdateStatus]:
        out = []
        with self.lock:
            for u in updates:
                if not u.entity.HasField("table_entry"):  # the server handles clone sessions
                    out.append(UpdateStatus(UNIMPLEMENTED, "only table entries can be written"))
                    continue
                te = u.entity.table_entry
                k = self._key(te)
                if u.type == p4r.Update.INSERT:
                    if k in self.entries:
                        out.append(UpdateStatus(ALREADY_EXISTS, "entry exists"))
                        continue
                    self.entries[k] = p4r.TableEntry()
                    self.entries[k].CopyFrom(te)
                    self.written_at[k] = time.monotonic()
                elif u.type == p4r.Update.MODIFY:
                    if k not in self.entries:
                        out.append(UpdateStatus(NOT_FOUND, "no such entry"))
                        continue
                    self.entries[k].CopyFrom(te)
                    self.written_at[k] = time.monotonic()
                else:
                    if self.entries.pop(k, None) is None:
                        out.append(UpdateStatus(NOT_FOUND, "no such entry"))
                        continue
                out.append(OK_STATUS)
            self.log.append(("write", len(updates)))
        return out

    def read_table(
        self, table_id: int, match_filter: p4r.TableEntry | None
    ) -> Iterator[p4r.TableEntry]:
        idle = self.reports_idle and (
            match_filter is not None and match_filter.HasField("time_since_last_hit")
        )
        now = time.monotonic()
        items = []
        with self.lock:
            for k, e in self.entries.items():
                if table_id in (0, k[0]):
                    te = p4r.TableEntry()
                    te.CopyFrom(e)
                    if idle:
                        te.time_since_last_hit.elapsed_ns = int((now - self.written_at[k]) * 1e9)
                    items.append(te)
        return iter(items)

    def packet_out(self, payload: bytes, metadata: dict[str, int]) -> None:
        with self.lock:
            self.packet_outs.append((payload, metadata))
            self.log.append(("packet_out", metadata))

    def inject(self, payload: bytes, metadata: dict[str, int]) -> None:
        """Send a packet-in to the primary controller."""
        cb = self.packet_in_cb
        assert cb is not None
        cb(payload, metadata)


def daemon_yaml(
    tmp: Path,
    name: str,
    device: str,
    p4info: Path,
    host: tuple[str, int],
    listen: int,
    peers: list[tuple[str, int, list[str]]],
    policies: str = "",
    extra: str = "",
    timers: str = "{rto: 0.05, idle_scan: 0.2, idle_timeout: 30}",
) -> Path:
    """A daemon configuration file for tests (one host port 1, network port 2)."""
    peer_lines = "".join(
        f"  - {{name: {pn}, endpoint: 127.0.0.1:{pp}, addresses: [{', '.join(pa)}]}}\n"
        for pn, pp, pa in peers
    )
    text = f"""\
device:
  name: {name}
  address: {device}
  p4info: {p4info}
ports:
  hosts:
    - {{name: h-{name}, port: 1, address: {host[0]}, mac: "02:00:00:00:00:{host[1]:02x}"}}
  network: {{port: 2, mac: "02:00:00:00:00:fe"}}
control:
  listen: 127.0.0.1:{listen}
  key: "{KEY_HEX}"
peers:
{peer_lines or "  []"}
{policies}
timers: {timers}
management: {{socket: {tmp / (name + ".sock")}}}
{extra}
"""
    path = tmp / f"{name}.yaml"
    path.write_text(text)
    path.chmod(0o600)  # it holds the key inline
    return path


WEB_POLICY = "policies:\n  - {name: web, match: {dport: 80}, chain: [10.0.0.5]}\n"
"""A policy that chains port-80 sessions through one box, 10.0.0.5."""


def syn_frame(sport: int) -> bytes:
    """A first SYN from host 10.0.0.1 (port ``sport``) to 10.0.0.9:80, as a device sees it."""
    from dysco_pipeline.frames import build_frame
    from dysco_proto.packet import FiveTuple, Segment, TcpFlags, TcpOptions

    seg = Segment(
        FiveTuple("10.0.0.1", sport, "10.0.0.9", 80), 1000, 0, TcpFlags.SYN,
        options=TcpOptions(mss=1460, wscale=7, sack_permitted=True),
    )  # fmt: skip
    return build_frame(seg, "02:00:00:00:00:01", "02:d5:c0:00:00:01")


def synack_mirrored(d: Any, session: Any) -> None:
    """Hand daemon ``d`` the mirror of ``session``'s SYN-ACK reaching its initiating host
    (the record a left anchor needs before it may start a reconfiguration)."""
    from dysco_proto.entries import Direction, EntryKey
    from dysco_proto.events import PacketIn, PuntReason
    from dysco_proto.packet import Segment, TcpFlags, TcpOptions

    view = next(v for v in d.agent.sessions() if v.right is not None and v.right.session == session)
    synack = Segment(
        session.reversed(), 5000, 1001, TcpFlags.SYN | TcpFlags.ACK,
        options=TcpOptions(mss=1460, wscale=7, sack_permitted=True),
    )  # fmt: skip
    key = EntryKey(Direction.IN, view.right.subsession.reversed())
    d.dispatch(PacketIn(PuntReason.SYNACK_MIRROR, Direction.IN, synack, key))


async def until(cond: Callable[[], bool], timeout: float = 30.0) -> None:
    """Wait (on the running loop) until ``cond()`` holds; AssertionError after ``timeout``
    (generous: a loaded 2-core machine may take seconds; a passing run never waits for it)."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        if loop.time() > end:
            raise AssertionError("condition not reached")
        await asyncio.sleep(0.01)


def offline_daemon_yaml(tmp: Path) -> Path:
    """A daemon configuration whose device is never reached (127.0.0.1:9): host 10.0.0.1 on
    port 1, policy :data:`WEB_POLICY` through box 10.0.0.5 (for tests of the daemon's state
    without a device)."""
    p4info = write_p4info(tmp / "dysco.p4info.txtpb")
    return daemon_yaml(
        tmp, "sw1", "127.0.0.1:9", p4info, ("10.0.0.1", 1), 0,
        [("c5", 39999, ["10.0.0.5"])], WEB_POLICY,
    )  # fmt: skip


def one_box_device(
    tmp: Path, timers: str | None = None
) -> tuple[TableBackend, P4RuntimeServer, Path]:
    """A table-store device behind the project's P4Runtime server, and the configuration of
    its daemon: host 10.0.0.1 on port 1, policy :data:`WEB_POLICY` through box 10.0.0.5."""
    backend = TableBackend()
    srv = P4RuntimeServer(backend, "127.0.0.1:0", contract=contract_p4info()).start()
    p4info = write_p4info(tmp / "dysco.p4info.txtpb")
    kw = {} if timers is None else {"timers": timers}
    cfg_path = daemon_yaml(
        tmp, "sw1", srv.address, p4info, ("10.0.0.1", 1), 0,
        [("c5", 39999, ["10.0.0.5"])], WEB_POLICY, **kw,
    )  # fmt: skip
    return backend, srv, cfg_path


def run_daemon(cfg: Any, server: Any, body: Callable[[Any], Awaitable[None]]) -> None:
    """Start a daemon on ``cfg``, run ``body(daemon)``, stop the daemon, then ``server``
    (also when ``body`` fails)."""
    from controller.daemon import Daemon

    async def main() -> None:
        d = Daemon(cfg)
        await d.start(connect_timeout=10)
        try:
            await body(d)
        finally:
            await d.stop()

    try:
        asyncio.run(main())
    finally:
        server.stop()


def refmodel_device(tmp: Path, timers: str) -> tuple[Any, Any, Any]:
    """The reference pipeline behind the project's P4Runtime server, and the loaded
    configuration of its daemon (as :func:`one_box_device`'s): ``(backend, server, config)``."""
    from controller.config import load_config
    from dysco_targets.backends import RefModelBackend
    from dysco_targets.server import P4RuntimeServer

    backend = RefModelBackend()
    srv = P4RuntimeServer(backend, "127.0.0.1:0").start()
    p4info = write_p4info(tmp / "dysco.p4info.txtpb")
    cfg = load_config(
        daemon_yaml(
            tmp, "sw1", srv.address, p4info, ("10.0.0.1", 1), 0,
            [("c5", 39999, ["10.0.0.5"])], WEB_POLICY, timers=timers,
        )
    )  # fmt: skip
    return backend, srv, cfg
