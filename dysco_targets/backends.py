"""P4Runtime server backends: the DPDK agent (C data plane over its control socket) and the
reference pipeline model (:mod:`dysco_pipeline.refmodel`, in-process)."""

from __future__ import annotations

import struct
import threading
import time
from collections.abc import Iterator, Sequence
from ipaddress import IPv4Address

from controller.p4rt.gen.p4.v1 import p4data_pb2
from controller.p4rt.gen.p4.v1 import p4runtime_pb2 as p4r
from controller.p4rt.p4info import P4InfoIndex
from dysco_pipeline.pipeline import (
    REGISTERS,
    TableEntry,
    Tbl,
    decode_packet_in,
    encode_packet_out,
)
from dysco_pipeline.refmodel import PipelineState, TableState
from dysco_proto.entries import Direction, MappingEntry
from dysco_proto.packet import FiveTuple
from dysco_targets.backend_api import (
    FAILED_PRECONDITION,
    INTERNAL,
    INVALID_ARGUMENT,
    OK_STATUS,
    UNIMPLEMENTED,
    Backend,
    BackendError,
    UpdateStatus,
)
from dysco_targets.dpdk_ctl import PKT_IN_HDR_LEN, AgentClient, AgentProcess, CtlTable
from dysco_targets.entities import (
    TABLE_CODE,
    CtlCodec,
    EntityError,
    P4RuntimeCodec,
    agent_schema,
    entry_from_ctl,
)

_STATUS_TEXT = {
    3: "invalid entry",
    12: "not supported by this pipeline",
    5: "no such entry",
    6: "entry exists",
    11: "value out of range",
    8: "table full",
    13: "internal error",
}
_REG_FIELD = {name: name.rsplit(".", 1)[-1] for name in REGISTERS}
#: a WriteRequest with one clone-session update (see DpdkBackend.set_pipeline)
_PROBE = p4r.WriteRequest(
    updates=[
        p4r.Update(
            type=p4r.Update.INSERT,
            entity=p4r.Entity(
                packet_replication_engine_entry=p4r.PacketReplicationEngineEntry(
                    clone_session_entry=p4r.CloneSessionEntry(session_id=1)
                )
            ),
        )
    ]
).SerializeToString()
_SESSION_TABLES = (Tbl.OUT_SESSION, Tbl.IN_SESSION)


def _matches(e: p4r.TableEntry, flt: p4r.TableEntry | None) -> bool:
    if flt is None or not flt.match:
        return True
    want = {m.field_id: m.SerializeToString(deterministic=True) for m in flt.match}
    have = {m.field_id: m.SerializeToString(deterministic=True) for m in e.match}
    return all(have.get(k) == v for k, v in want.items())


class DpdkBackend(Backend):
    """Drives ``dysco-dpdk-agent`` through its control socket.

    Give ``ctl_path`` of a running agent, or ``agent`` (an :class:`AgentProcess` this backend
    then owns and stops on :meth:`close`).
    """

    def __init__(self, ctl_path: str | None = None, agent: AgentProcess | None = None) -> None:
        self.agent = agent
        if agent is not None:
            self.client = agent.client
            self.client.on_packet_in = self._on_packet_in
        elif ctl_path is not None:
            self.client = AgentClient(ctl_path, on_packet_in=self._on_packet_in)
        else:
            raise ValueError("ctl_path or agent is required")
        self.client.subscribe_packet_ins()
        self.codec: P4RuntimeCodec | None = None
        self.ctl: CtlCodec | None = None
        #: the agent's C decoder checks entries (probed at set_pipeline)
        self.agent_checks = False
        self._lock = threading.Lock()

    def set_pipeline(self, p4info: P4InfoIndex, device_config: bytes) -> None:
        try:
            codec = P4RuntimeCodec(p4info)
        except EntityError as e:
            raise BackendError(INVALID_ARGUMENT, str(e)) from None
        with self._lock:
            self.client.clear()
            if self.client.schema(agent_schema(codec)) != 0:
                raise BackendError(INVALID_ARGUMENT, "the agent rejected the P4Info schema")
            self.codec = codec
            self.ctl = CtlCodec(codec)
            # an agent that checks entries leaves a request with another entity to the caller
            # (-1); an older one answers UNIMPLEMENTED for it: then the server checks them
            self.agent_checks = self.client.write_pb(_PROBE) is None

    def write(self, updates: Sequence[p4r.Update]) -> list[UpdateStatus]:
        ctl = self.ctl
        if ctl is None:
            raise BackendError(FAILED_PRECONDITION, "no pipeline")
        out: list[UpdateStatus | None] = [None] * len(updates)
        recs: list[bytes] = []
        where: list[int] = []
        pack = ctl.pack
        for i, u in enumerate(updates):
            if u.entity.WhichOneof("entity") != "table_entry":
                out[i] = UpdateStatus(UNIMPLEMENTED, "only table entries can be written")
                continue
            t = u.type
            if t not in (1, 2, 3):
                out[i] = UpdateStatus(INVALID_ARGUMENT, "update type UNSPECIFIED")
                continue
            try:
                recs.append(pack(u.entity.table_entry, t))
            except EntityError as e:
                out[i] = UpdateStatus(e.code, str(e))
                continue
            where.append(i)
        if recs:
            with self._lock:
                res = self.client.write_packed(recs)
            for i, code in zip(where, res, strict=True):
                out[i] = (
                    OK_STATUS if code == 0 else UpdateStatus(code, _STATUS_TEXT.get(code, "error"))
                )
        return [s if s is not None else OK_STATUS for s in out]

    #: :meth:`write_checked` refuses malformed table entries with the codes of
    #: :mod:`controller.p4rt.validate` (the agent's C decoder checks them before applying)
    validates_entries = True

    def write_checked(self, request: bytes) -> list[int] | None:
        """The serialized WriteRequest, decoded, checked (the P4Runtime entry rules) and applied
        by the agent (C): one google.rpc code per update. ``None`` with nothing applied when
        the agent leaves it to the caller's path: an update that is not a table entry or not
        in the plain form a protobuf serializer writes, a request larger than one control
        message, or an agent that does not check entries (an older binary)."""
        if self.ctl is None:
            raise BackendError(FAILED_PRECONDITION, "no pipeline")
        if not self.agent_checks or len(request) > self.client.max_msg - 64:
            return None
        with self._lock:
            return self.client.write_pb(request)

    def explain(self, u: p4r.Update, code: int) -> UpdateStatus:
        """The status of an update the agent refused with ``code``: the message :meth:`write`
        gives when it refuses the update with that code, else a short text per code."""
        ctl = self.ctl
        if ctl is not None and u.entity.WhichOneof("entity") == "table_entry":
            if u.type not in (1, 2, 3):
                if code == INVALID_ARGUMENT:
                    return UpdateStatus(code, "update type UNSPECIFIED")
            else:
                try:
                    ctl.pack(u.entity.table_entry, u.type)
                except EntityError as e:
                    if e.code == code:
                        return UpdateStatus(code, str(e))
                except (struct.error, ValueError, OverflowError):
                    pass  # a value the entry check refuses (write() never sees one)
        return UpdateStatus(code, _STATUS_TEXT.get(code, "error"))

    def write_raw(self, request: bytes, updates: Sequence[p4r.Update]) -> list[UpdateStatus] | None:
        """The serialized WriteRequest decoded by the agent itself (C). Requests larger than
        one control message are re-serialized in slices; a slice the agent leaves to the
        caller (see :meth:`write_checked`; nothing of it applied) and the ones after it go
        through :meth:`write`. ``None`` if nothing was applied that way."""
        if self.ctl is None:
            raise BackendError(FAILED_PRECONDITION, "no pipeline")
        n = len(updates)
        limit = self.client.max_msg - 64
        if len(request) <= limit:
            per = n
            parts = [request]
        else:
            per = max(1, n * limit // len(request) // 2)
            parts = [
                p4r.WriteRequest(updates=updates[i : i + per]).SerializeToString()
                for i in range(0, n, per)
            ]
        codes: list[int] = []
        with self._lock:
            for part in parts:
                res = self.client.write_pb(part)
                if res is None:
                    break
                if len(res) != min(per, n - len(codes)):
                    raise BackendError(INTERNAL, f"the agent answered {len(res)} updates")
                codes.extend(res)
        if not codes:
            return None
        rest = self.write(updates[len(codes) :]) if len(codes) < n else []
        ok = OK_STATUS
        out = [ok if c == 0 else self.explain(updates[i], c) for i, c in enumerate(codes)]
        return out + rest

    def read_table(
        self, table_id: int, match_filter: p4r.TableEntry | None
    ) -> Iterator[p4r.TableEntry]:
        codec = self.codec
        if codec is None:
            raise BackendError(FAILED_PRECONDITION, "no pipeline")
        if table_id == 0:
            code = CtlTable.ALL
        else:
            try:
                code = TABLE_CODE[codec.table_of(table_id)]
            except EntityError as e:
                raise BackendError(e.code, str(e)) from None
        with self._lock:
            recs = list(self.client.read(code))
        out = []
        for rec in recs:
            entry = entry_from_ctl(rec)
            te = codec.to_p4r(entry)
            if entry.table in _SESSION_TABLES:
                te.time_since_last_hit.elapsed_ns = int(rec["idle_ms"]) * 1_000_000  # type: ignore[call-overload]
            if _matches(te, match_filter):
                out.append(te)
        return iter(out)

    def read_register(self, register_id: int, index: int | None) -> Iterator[p4r.RegisterEntry]:
        codec = self.codec
        if codec is None:
            raise BackendError(FAILED_PRECONDITION, "no pipeline")
        name = next((n for n, rid in codec.idx.registers.items() if rid == register_id), None)
        full = next((n for n in REGISTERS if n == name or n.rsplit(".", 1)[-1] == name), None)
        if full is None:
            raise BackendError(INVALID_ARGUMENT, f"unknown register {register_id}")
        field = _REG_FIELD[full]
        if index is None:
            raise BackendError(UNIMPLEMENTED, "read one register cell at a time (give an index)")
        with self._lock:
            r = self.client.reg_read(index)
        v = getattr(r, field)
        data = p4data_pb2.P4Data(bitstring=v.to_bytes(max(1, (v.bit_length() + 7) // 8), "big"))
        return iter(
            [p4r.RegisterEntry(register_id=register_id, index=p4r.Index(index=index), data=data)]
        )

    def packet_out(self, payload: bytes, metadata: dict[str, int]) -> None:
        try:
            hdr = encode_packet_out(metadata)
        except ValueError as e:
            raise BackendError(INVALID_ARGUMENT, str(e)) from None
        self.client.packet_out(hdr, payload)

    def _on_packet_in(self, data: bytes) -> None:
        cb = self.packet_in_cb
        if cb is None or len(data) < PKT_IN_HDR_LEN:
            return
        meta, frame = decode_packet_in(data)
        cb(frame, meta)

    def close(self) -> None:
        if self.agent is not None:
            self.agent.stop()
        else:
            self.client.close()


_HitKey = tuple[Direction, int, FiveTuple]


class _TimedTables(TableState):
    """The model's tables with a clock on their session entries, as a device has: when each
    was inserted or last matched (the model itself has no clock)."""

    def __init__(self) -> None:
        super().__init__()
        self.hit_at: dict[_HitKey, float] = {}

    @staticmethod
    def hit_key(entry: TableEntry) -> _HitKey:
        """The clock's key of a session entry, from its match alone (a DELETE carries no
        action parameters)."""
        m = {k: v for k, v in entry.match.items() if isinstance(v, int)}
        t = FiveTuple(
            str(IPv4Address(m["src_addr"])),
            m["src_port"],
            str(IPv4Address(m["dst_addr"])),
            m["dst_port"],
            m["proto"],
        )
        if entry.table is Tbl.OUT_SESSION:
            return (Direction.OUT, m.get("agent_id", 0), t)
        return (Direction.IN, 0, t)

    def insert(self, entry: TableEntry) -> None:
        super().insert(entry)
        if entry.table in _SESSION_TABLES:
            self.hit_at[self.hit_key(entry)] = time.monotonic()

    def delete(self, entry: TableEntry) -> None:
        super().delete(entry)
        if entry.table in _SESSION_TABLES:
            self.hit_at.pop(self.hit_key(entry), None)

    def session(self, direction: Direction, agent_id: int, t: FiveTuple) -> MappingEntry | None:
        found = super().session(direction, agent_id, t)
        if found is not None:
            key = (direction, agent_id if direction is Direction.OUT else 0, t)
            self.hit_at[key] = time.monotonic()
        return found

    def idle_s(self, entry: TableEntry) -> float:
        """Seconds since ``entry`` was inserted or last matched."""
        return time.monotonic() - self.hit_at.get(self.hit_key(entry), time.monotonic())


class RefModelBackend(Backend):
    """The reference pipeline model (``dysco_pipeline.refmodel``) behind the server.

    No ports: :meth:`inject` runs a frame through the model as if it arrived on a port and
    returns the frames it sent out; packet-ins go to the server's callback.
    """

    def __init__(self) -> None:
        self.state = PipelineState(tables=_TimedTables())
        self.codec: P4RuntimeCodec | None = None
        self._lock = threading.Lock()
        self.outputs: list[tuple[int, bytes]] = []

    def set_pipeline(self, p4info: P4InfoIndex, device_config: bytes) -> None:
        try:
            codec = P4RuntimeCodec(p4info)
        except EntityError as e:
            raise BackendError(INVALID_ARGUMENT, str(e)) from None
        with self._lock:
            self.codec = codec
            self.state = PipelineState(tables=_TimedTables())

    def _find(self, e: TableEntry) -> TableEntry | None:
        for old in self.state.tables.entries():
            if old.table is e.table and old.key() == e.key():
                return old
        return None

    def write(self, updates: Sequence[p4r.Update]) -> list[UpdateStatus]:
        codec = self.codec
        if codec is None:
            raise BackendError(FAILED_PRECONDITION, "no pipeline")
        out: list[UpdateStatus] = []
        with self._lock:
            tables = self.state.tables
            keys = {(e.table, e.key()) for e in tables.entries()}
            for u in updates:
                if u.entity.WhichOneof("entity") != "table_entry":
                    out.append(UpdateStatus(UNIMPLEMENTED, "only table entries can be written"))
                    continue
                try:
                    e = codec.from_p4r(u.entity.table_entry)
                except EntityError as err:
                    out.append(UpdateStatus(err.code, str(err)))
                    continue
                k = (e.table, e.key())
                if u.type == p4r.Update.INSERT:
                    if k in keys:
                        out.append(UpdateStatus(6, "entry exists"))
                        continue
                    tables.insert(e)
                    keys.add(k)
                elif u.type == p4r.Update.MODIFY:
                    if k not in keys:
                        out.append(UpdateStatus(5, "no such entry"))
                        continue
                    tables.insert(e)
                elif u.type == p4r.Update.DELETE:
                    if k not in keys:
                        out.append(UpdateStatus(5, "no such entry"))
                        continue
                    tables.delete(e)
                    keys.discard(k)
                else:
                    out.append(UpdateStatus(INVALID_ARGUMENT, "update type UNSPECIFIED"))
                    continue
                out.append(OK_STATUS)
        return out

    def read_table(
        self, table_id: int, match_filter: p4r.TableEntry | None
    ) -> Iterator[p4r.TableEntry]:
        codec = self.codec
        if codec is None:
            raise BackendError(FAILED_PRECONDITION, "no pipeline")
        try:
            want = None if table_id == 0 else codec.table_of(table_id)
        except EntityError as e:
            raise BackendError(e.code, str(e)) from None
        with self._lock:
            items = [e for e in self.state.tables.entries() if want is None or e.table is want]
            tables = self.state.tables
            out = []
            for entry in items:
                te = codec.to_p4r(entry)
                if isinstance(tables, _TimedTables) and entry.table in _SESSION_TABLES:
                    te.time_since_last_hit.elapsed_ns = int(tables.idle_s(entry) * 1e9)
                out.append(te)
        return iter([te for te in out if _matches(te, match_filter)])

    def packet_out(self, payload: bytes, metadata: dict[str, int]) -> None:
        from dysco_pipeline.pipeline import CPU_PORT

        try:
            hdr = encode_packet_out(metadata)
        except ValueError as e:
            raise BackendError(INVALID_ARGUMENT, str(e)) from None
        self._run(hdr + payload, CPU_PORT)

    def inject(self, frame: bytes, port: int) -> list[tuple[int, bytes]]:
        """A frame arriving on ``port``: returns (egress port, frame) of what left."""
        return self._run(frame, port)

    def _run(self, frame: bytes, port: int) -> list[tuple[int, bytes]]:
        from dysco_pipeline.refmodel import process

        with self._lock:
            res = process(self.state, frame, port)
            self.state.registers = res.registers
            self.outputs.extend(res.outputs)
        cb = self.packet_in_cb
        if cb is not None:
            for pi in res.packet_ins:
                cb(pi.payload, dict(pi.metadata))
        return list(res.outputs)
