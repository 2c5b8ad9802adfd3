"""A P4Runtime server with pluggable backends (the DPDK agent, the reference pipeline model).

It speaks the subset of P4Runtime the Dysco controller and p4runtime-shell use:

- ``StreamChannel``: client arbitration as the specification describes it (per role, the
  highest election id is primary; replies and change notifications with OK / ALREADY_EXISTS /
  NOT_FOUND; a duplicate election id is refused), packet-out (to the backend), packet-in
  (from the backend, to the primary's stream); each stream has its own thread, at most
  ``max_streams`` of them;
- ``SetForwardingPipelineConfig`` (VERIFY, VERIFY_AND_COMMIT, COMMIT, RECONCILE_AND_COMMIT):
  the P4Info must be the pipeline contract's (``docs/pipeline.md``; checked by name, type and
  bit width against ``p4src/build/dysco.p4info.txtpb``); ``GetForwardingPipelineConfig``;
- ``Write``: only from the primary's election id on the primary's connection; entries
  checked against the P4Info first (:mod:`controller.p4rt.validate`; a backend with
  ``validates_entries``, the DPDK agent, does it in C with the same rules and codes, and the
  server then parses only the request's header); batches applied in order, per-update
  errors in the standard ``google.rpc.Status`` details (``p4.v1.Error`` per update) like
  PI/Stratum, left out (summarised) when over :data:`DETAILS_BUDGET`;
- TLS and mutual TLS (:mod:`controller.p4rt.tls`); without TLS loopback only by default;
- ``Read``: table entries (one table or wildcard ``table_id = 0``), streamed in chunks so that a
  million-entry table never hits gRPC's message size limit;
- ``Capabilities``.

Why Python: with batches of 1,000 updates the server's cost per entry is the protobuf field
access plus packing one fixed 100-byte record for the agent; measured on this 2-core machine
in ``dpdk_agent/README.md`` (well above its 50k entries/s target). The C agent
applies a batch in one control message.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent import futures
from typing import Any, NoReturn

import grpc
from google.protobuf import any_pb2
from google.protobuf.message import DecodeError

from controller.p4rt.gen.google.rpc import status_pb2
from controller.p4rt.gen.p4.config.v1 import p4info_pb2
from controller.p4rt.gen.p4.v1 import p4runtime_pb2 as p4r
from controller.p4rt.gen.p4.v1 import p4runtime_pb2_grpc as p4r_grpc
from controller.p4rt.p4info import P4InfoIndex
from controller.p4rt.tls import ServerTls, check_listen_address, server_credentials
from controller.p4rt.validate import EntryValidator
from dysco_targets.backend_api import (
    ALREADY_EXISTS,
    INTERNAL,
    NOT_FOUND,
    OK,
    OK_STATUS,
    PERMISSION_DENIED,
    UNIMPLEMENTED,
    UNKNOWN,
    Backend,
    BackendError,
    UpdateStatus,
)
from dysco_targets.contract import CONTRACT_P4INFO, check_contract, load_contract_p4info
from dysco_targets.write_header import WriteHeader

log = logging.getLogger("dysco.p4rt.server")

API_VERSION = "1.5.0"
READ_CHUNK = 1000


# --- the service ----------------------------------------------------------------------------


def _eid(u: p4r.Uint128) -> int:
    return (u.high << 64) | u.low


class _Stream:
    """One StreamChannel: its outgoing queue, its arbitration and the connection it uses."""

    LIMIT = 65536  # queued responses (packet-ins) beyond this are dropped and counted

    def __init__(self, peer: str) -> None:
        self.out: queue.SimpleQueue[p4r.StreamMessageResponse | None] = queue.SimpleQueue()
        self.election_id: int | None = None  # None: no arbitration yet; -1: unset (backup)
        self.role: str = ""
        self.peer = peer
        self.dropped = 0
        self.closing: tuple[grpc.StatusCode, str] | None = None

    def put(self, msg: p4r.StreamMessageResponse) -> None:
        if self.out.qsize() >= self.LIMIT:
            self.dropped += 1
        else:
            self.out.put(msg)

    def end(self, status: tuple[grpc.StatusCode, str] | None = None) -> None:
        """Close the stream (with an error status, when given)."""
        if status is not None and self.closing is None:
            self.closing = status
        self.out.put(None)


class P4RuntimeServicer(p4r_grpc.P4RuntimeServicer):
    def __init__(
        self,
        backend: Backend,
        *,
        device_id: int = 1,
        contract: p4info_pb2.P4Info | None = None,
        max_streams: int = 64,
        arbitration_timeout: float = 10.0,
    ) -> None:
        self.backend = backend
        self.device_id = device_id
        self.contract = contract
        self.max_streams = max_streams
        #: a stream that has not arbitrated this long is closed (it would hold a slot and a
        #: thread for nothing: packet-ins go to the primary only)
        self.arbitration_timeout = arbitration_timeout
        self.lock = threading.RLock()  # writes, pipeline changes and arbitration
        self.streams: set[_Stream] = set()
        self.primaries: dict[str, tuple[_Stream, int]] = {}  # role -> (stream, election id)
        self.config: p4r.ForwardingPipelineConfig | None = None
        self.p4info: P4InfoIndex | None = None
        self.validator: EntryValidator | None = None
        self._pin_meta: dict[str, tuple[int, int]] = {}
        self.pre: dict[int, p4r.PacketReplicationEngineEntry] = {}
        self._pout_meta: dict[int, str] = {}
        backend.set_packet_in_callback(self._on_packet_in)

    @property
    def primary(self) -> _Stream | None:
        """The primary client's stream of the default role (it gets the packet-ins)."""
        p = self.primaries.get("")
        return p[0] if p is not None else None

    # -- arbitration (P4Runtime specification, "Client Arbitration and Controller Replication")
    #
    # Per role, the arbitrated stream with the highest election id is the primary. Every
    # change of primary (a higher id arrives, the primary leaves or lowers its id) is sent to
    # every arbitrated stream of the role: status OK to the primary, ALREADY_EXISTS to the
    # backups, NOT_FOUND to all when there is none; otherwise only the sender gets a reply.
    # An election id already used by another stream of the role ends the new stream with
    # INVALID_ARGUMENT, an unknown device id with NOT_FOUND. Writes and pipeline changes need
    # the primary's election id *and* its connection (the stream's peer): an election id alone,
    # from a client without the stream, is refused (PERMISSION_DENIED).

    def _elect(self, role: str, sender: _Stream | None) -> None:
        best: _Stream | None = None
        for s in self.streams:
            eid = s.election_id
            if s.role != role or eid is None or eid < 0:
                continue
            if best is None or eid > best.election_id:  # type: ignore[operator]
                best = s
        old = self.primaries.get(role)
        new = (best, best.election_id) if best is not None else None
        if new != old:
            if new is None:
                self.primaries.pop(role, None)
            else:
                self.primaries[role] = new  # type: ignore[assignment]
            for s in self.streams:
                if s.role == role and s.election_id is not None:
                    self._arb_reply(s)
        elif sender is not None:
            self._arb_reply(sender)

    def _arb_reply(self, s: _Stream) -> None:
        p = self.primaries.get(s.role)
        if p is None:
            code, eid, text = NOT_FOUND, 0, "no primary"
        else:
            code = OK if p[0] is s else ALREADY_EXISTS
            eid, text = p[1], "primary" if code == OK else "backup"
        arb = p4r.MasterArbitrationUpdate(
            device_id=self.device_id,
            election_id=p4r.Uint128(high=eid >> 64, low=eid & (2**64 - 1)),
            status=status_pb2.Status(code=code, message=text),
        )
        if s.role:
            arb.role.name = s.role
        s.put(p4r.StreamMessageResponse(arbitration=arb))

    def _check_primary(
        self, election_id: p4r.Uint128, role: str, context: grpc.ServicerContext
    ) -> None:
        p = self.primaries.get(role)
        if p is None or p[1] != _eid(election_id):
            _abort(context, grpc.StatusCode.PERMISSION_DENIED, "not the primary controller")
        if p[0].peer != context.peer():
            _abort(
                context,
                grpc.StatusCode.PERMISSION_DENIED,
                "the primary's election id, but not on the primary's connection",
            )

    def _check_device(self, device_id: int, context: grpc.ServicerContext) -> None:
        if device_id != self.device_id:
            _abort(context, grpc.StatusCode.NOT_FOUND, f"unknown device {device_id}")

    def StreamChannel(
        self, request_iterator: Iterator[p4r.StreamMessageRequest], context: grpc.ServicerContext
    ) -> Iterator[p4r.StreamMessageResponse]:
        with self.lock:
            if len(self.streams) >= self.max_streams:
                _abort(
                    context,
                    grpc.StatusCode.RESOURCE_EXHAUSTED,
                    f"too many open streams (limit {self.max_streams})",
                )
            s = _Stream(context.peer())
            self.streams.add(s)

        def reader() -> None:
            try:
                for req in request_iterator:
                    self._on_stream_request(s, req)
                    if s.closing is not None:
                        return
            except grpc.RpcError:
                pass
            except Exception:
                log.exception("stream reader")
            finally:
                s.end()

        t = threading.Thread(target=reader, name="p4rt-stream", daemon=True)
        t.start()
        try:
            while True:
                if s.election_id is None:
                    try:
                        msg = s.out.get(timeout=self.arbitration_timeout)
                    except queue.Empty:
                        if s.election_id is not None:
                            continue
                        s.closing = (
                            grpc.StatusCode.DEADLINE_EXCEEDED,
                            f"no arbitration within {self.arbitration_timeout:g} s",
                        )
                        break
                else:
                    msg = s.out.get()
                if msg is None:
                    break
                yield msg
            if s.closing is not None:
                context.set_code(s.closing[0])
                context.set_details(s.closing[1])
        finally:
            with self.lock:
                self.streams.discard(s)
                p = self.primaries.get(s.role)
                if p is not None and p[0] is s:
                    self._elect(s.role, None)

    def _on_stream_request(self, s: _Stream, req: p4r.StreamMessageRequest) -> None:
        kind = req.WhichOneof("update")
        if kind == "arbitration":
            self._on_arbitration(s, req.arbitration)
        elif kind == "packet":
            if s is not self.primary:
                s.put(
                    p4r.StreamMessageResponse(
                        error=p4r.StreamError(
                            canonical_code=PERMISSION_DENIED,
                            message="packet-out from a client that is not the primary",
                            packet_out=p4r.PacketOutError(packet_out=req.packet),
                        )
                    )
                )
                return
            md = {
                self._pout_meta.get(m.metadata_id, str(m.metadata_id)): int.from_bytes(
                    m.value, "big"
                )
                for m in req.packet.metadata
            }
            try:
                self.backend.packet_out(req.packet.payload, md)
            except BackendError as e:
                self._packet_out_error(s, req.packet, e.code, str(e))
            except Exception as e:  # a backend bug: one error, the stream stays up
                log.exception("packet-out")
                self._packet_out_error(s, req.packet, INTERNAL, f"packet-out failed: {e}")
        # digest acks and others: ignored

    @staticmethod
    def _packet_out_error(s: _Stream, pkt: p4r.PacketOut, code: int, message: str) -> None:
        s.put(
            p4r.StreamMessageResponse(
                error=p4r.StreamError(
                    canonical_code=code,
                    message=message,
                    packet_out=p4r.PacketOutError(packet_out=pkt),
                )
            )
        )

    def _on_arbitration(self, s: _Stream, arb: p4r.MasterArbitrationUpdate) -> None:
        with self.lock:
            if arb.device_id != self.device_id:
                s.end((grpc.StatusCode.NOT_FOUND, f"unknown device {arb.device_id}"))
                return
            role = arb.role.name
            if s.election_id is not None and role != s.role:
                s.end((grpc.StatusCode.FAILED_PRECONDITION, "a stream cannot change its role"))
                return
            eid = _eid(arb.election_id) if arb.HasField("election_id") else -1
            if eid >= 0:
                for o in self.streams:
                    if o is not s and o.role == role and o.election_id == eid:
                        s.end(
                            (
                                grpc.StatusCode.INVALID_ARGUMENT,
                                f"election id {eid} is already used by another client",
                            )
                        )
                        return
            s.election_id = eid
            s.role = role
            self._elect(role, s)

    def _on_packet_in(self, payload: bytes, metadata: dict[str, int]) -> None:
        p = self.primary
        if p is None:
            return
        md = []
        for name, value in metadata.items():
            ent = self._pin_meta.get(name)
            if ent is None:
                continue
            mid, _bits = ent
            nbytes = max(1, (value.bit_length() + 7) // 8)
            md.append(p4r.PacketMetadata(metadata_id=mid, value=value.to_bytes(nbytes, "big")))
        p.put(p4r.StreamMessageResponse(packet=p4r.PacketIn(payload=payload, metadata=md)))

    # -- pipeline -----------------------------------------------------------------------------
    def SetForwardingPipelineConfig(
        self, request: p4r.SetForwardingPipelineConfigRequest, context: grpc.ServicerContext
    ) -> p4r.SetForwardingPipelineConfigResponse:
        self._check_device(request.device_id, context)
        A = p4r.SetForwardingPipelineConfigRequest
        with self.lock:
            self._check_primary(request.election_id, request.role, context)
            if request.action == A.COMMIT:
                if self.config is None:
                    _abort(context, grpc.StatusCode.FAILED_PRECONDITION, "nothing to commit")
                return p4r.SetForwardingPipelineConfigResponse()
            if request.action not in (
                A.VERIFY,
                A.VERIFY_AND_COMMIT,
                A.RECONCILE_AND_COMMIT,
                A.VERIFY_AND_SAVE,
            ):
                _abort(context, grpc.StatusCode.UNIMPLEMENTED, f"action {request.action}")
            cfg = request.config
            why = check_contract(cfg.p4info, self.contract)
            if why:
                _abort(context, grpc.StatusCode.INVALID_ARGUMENT, why)
            if request.action in (A.VERIFY, A.VERIFY_AND_SAVE):
                return p4r.SetForwardingPipelineConfigResponse()
            idx = P4InfoIndex(cfg.p4info)
            if (
                request.action == A.RECONCILE_AND_COMMIT
                and self.config is not None
                and (check_contract(cfg.p4info, self.config.p4info) is None)
            ):
                pass  # same pipeline: keep the state
            else:
                try:
                    self.backend.set_pipeline(idx, cfg.p4_device_config)
                except BackendError as e:
                    _abort(context, grpc.StatusCode.INVALID_ARGUMENT, str(e))
            self.config = p4r.ForwardingPipelineConfig()
            self.config.CopyFrom(cfg)
            self.p4info = idx
            self.validator = EntryValidator(cfg.p4info)
            self._pin_meta = {}
            self.pre = {}
            self._pout_meta = {}
            for c in cfg.p4info.controller_packet_metadata:
                if c.preamble.name == "packet_in":
                    self._pin_meta = {m.name: (m.id, m.bitwidth) for m in c.metadata}
                elif c.preamble.name == "packet_out":
                    self._pout_meta = {m.id: m.name for m in c.metadata}
        return p4r.SetForwardingPipelineConfigResponse()

    def GetForwardingPipelineConfig(
        self, request: p4r.GetForwardingPipelineConfigRequest, context: grpc.ServicerContext
    ) -> p4r.GetForwardingPipelineConfigResponse:
        self._check_device(request.device_id, context)
        cfg = self.config
        if cfg is None:
            _abort(context, grpc.StatusCode.FAILED_PRECONDITION, "no forwarding pipeline set")
        R = p4r.GetForwardingPipelineConfigRequest
        out = p4r.ForwardingPipelineConfig()
        if request.response_type == R.COOKIE_ONLY:
            out.cookie.CopyFrom(cfg.cookie)
        elif request.response_type == R.P4INFO_AND_COOKIE:
            out.p4info.CopyFrom(cfg.p4info)
            out.cookie.CopyFrom(cfg.cookie)
        elif request.response_type == R.DEVICE_CONFIG_AND_COOKIE:
            out.p4_device_config = cfg.p4_device_config
            out.cookie.CopyFrom(cfg.cookie)
        else:
            out.CopyFrom(cfg)
        return p4r.GetForwardingPipelineConfigResponse(config=out)

    # -- write and read -----------------------------------------------------------------------
    def write_raw(self, raw: bytes, context: grpc.ServicerContext) -> p4r.WriteResponse:
        """``Write`` with the request still serialized. A backend that checks entries itself
        (``validates_entries``, ``write_checked``: the DPDK agent's C decoder) gets it as it
        is, and only its header is parsed here; if the backend leaves the request to this
        server (nothing applied), or for other backends, the request is parsed and checked
        here (:meth:`Write`)."""
        checked = (
            getattr(self.backend, "write_checked", None) if self.backend.validates_entries else None
        )
        if checked is not None:
            try:
                head = WriteHeader.FromString(raw)
            except DecodeError:
                head = None  # WriteRequest.FromString below raises the usual error
            if head is not None:
                done = self._write_checked(head, raw, checked, context)
                if done is not None:
                    return done
        request = p4r.WriteRequest.FromString(raw)
        return self.Write(request, context, raw)

    def _write_checked(
        self,
        head: Any,
        raw: bytes,
        checked: Callable[[bytes], list[int] | None],
        context: grpc.ServicerContext,
    ) -> p4r.WriteResponse | None:
        """The backend checks and applies the updates (one code per update); this server
        checks the request's header as :meth:`Write` does and runs its own entry check only
        on updates that failed (for the message, and the code the specification names).
        ``None`` (nothing applied) when the backend leaves the request to :meth:`Write`."""
        with self.lock:
            self._check_write(head, context)
            assert self.validator is not None  # _check_write
            try:
                codes = checked(raw)
            except BackendError as e:
                _abort(context, grpc.StatusCode(_grpc_code(e.code)), str(e))
            if codes is None:
                return None
            if not any(codes):
                return p4r.WriteResponse()
            results: list[UpdateStatus] = [OK_STATUS] * len(codes)
            check = self.validator.check
            explain = self.backend.explain  # type: ignore[attr-defined]
            for i, c in enumerate(codes):
                if c:
                    # only table entries take this path
                    u = p4r.Update.FromString(head.updates[i])
                    why = check(u.entity.table_entry)
                    results[i] = UpdateStatus(*why) if why is not None else explain(u, c)
        details = write_error_details(results)
        context.set_trailing_metadata((("grpc-status-details-bin", details.SerializeToString()),))
        _abort(context, grpc.StatusCode.UNKNOWN, details.message)

    def _check_write(
        self, req: WriteHeader | p4r.WriteRequest, context: grpc.ServicerContext
    ) -> None:
        """The request-level checks of a Write (device, atomicity, primary, a pipeline set);
        the caller holds the lock. Aborts the RPC on the first that fails."""
        self._check_device(req.device_id, context)
        if req.atomicity not in (p4r.WriteRequest.CONTINUE_ON_ERROR,):
            _abort(context, grpc.StatusCode.UNIMPLEMENTED, "only CONTINUE_ON_ERROR atomicity")
        self._check_primary(req.election_id, req.role, context)
        if self.p4info is None or self.validator is None:
            _abort(context, grpc.StatusCode.FAILED_PRECONDITION, "no forwarding pipeline set")

    def Write(
        self, request: p4r.WriteRequest, context: grpc.ServicerContext, raw: bytes | None = None
    ) -> p4r.WriteResponse:
        with self.lock:
            self._check_write(request, context)
            assert self.validator is not None  # _check_write
            updates: Sequence[p4r.Update] = request.updates
            # malformed entries never reach the backend (their status is set here)
            bad: dict[int, UpdateStatus] = {}
            check = self.validator.check
            for i, u in enumerate(updates):
                if u.entity.WhichOneof("entity") == "table_entry":
                    why = check(u.entity.table_entry)
                    if why is not None:
                        bad[i] = UpdateStatus(*why)
            if bad:
                good = [i for i in range(len(updates)) if i not in bad]
                results = self._apply([updates[i] for i in good], None, context)
                merged: list[UpdateStatus] = [OK_STATUS] * len(updates)
                for i, r in zip(good, results, strict=True):
                    merged[i] = r
                for i, r in bad.items():
                    merged[i] = r
                results = merged
            else:
                results = self._apply(updates, raw, context)
        if all(r.code == OK for r in results):
            return p4r.WriteResponse()
        details = write_error_details(results)
        context.set_trailing_metadata((("grpc-status-details-bin", details.SerializeToString()),))
        _abort(context, grpc.StatusCode.UNKNOWN, details.message)

    def _apply(
        self, updates: Sequence[p4r.Update], raw: bytes | None, context: grpc.ServicerContext
    ) -> list[UpdateStatus]:
        """Hand well-formed updates to the backend (under the lock); one status per update."""
        if not updates:
            return []
        try:
            results = None
            fast = getattr(self.backend, "write_raw", None)
            if raw is not None and fast is not None:
                results = fast(raw, updates)
            if results is None:
                results = self.backend.write(updates)
        except BackendError as e:
            _abort(context, grpc.StatusCode(_grpc_code(e.code)), str(e))
        if any(r.code == UNIMPLEMENTED for r in results):
            results = list(results)
            for i, r in enumerate(results):
                if r.code == UNIMPLEMENTED and updates[i].entity.HasField(
                    "packet_replication_engine_entry"
                ):
                    results[i] = self._write_pre(updates[i])
        return list(results)

    def _write_pre(self, u: p4r.Update) -> UpdateStatus:
        """Clone sessions (the mirror-to-CPU session of the contract): accepted and stored, so
        a controller written for bmv2 runs unchanged; the backends always mirror to the CPU."""
        pre = u.entity.packet_replication_engine_entry
        if not pre.HasField("clone_session_entry"):
            return UpdateStatus(UNIMPLEMENTED, "only clone sessions")
        sid = pre.clone_session_entry.session_id
        if u.type == p4r.Update.INSERT:
            if sid in self.pre:
                return UpdateStatus(ALREADY_EXISTS, "clone session exists")
        elif sid not in self.pre:
            return UpdateStatus(NOT_FOUND, "no such clone session")
        if u.type == p4r.Update.DELETE:
            del self.pre[sid]
        else:
            e = p4r.PacketReplicationEngineEntry()
            e.CopyFrom(pre)
            self.pre[sid] = e
        return OK_STATUS

    def Read(
        self, request: p4r.ReadRequest, context: grpc.ServicerContext
    ) -> Iterator[p4r.ReadResponse]:
        self._check_device(request.device_id, context)
        if self.p4info is None:
            _abort(context, grpc.StatusCode.FAILED_PRECONDITION, "no forwarding pipeline set")
        batch: list[p4r.Entity] = []
        for ent in request.entities:
            kind = ent.WhichOneof("entity")
            if kind == "table_entry":
                te = ent.table_entry
                bad = self.validator.check_table_id(te.table_id) if self.validator else None
                if bad is not None:
                    _abort(context, grpc.StatusCode.NOT_FOUND, bad[1])
                try:
                    with self.lock:
                        items = list(self.backend.read_table(te.table_id, te))
                except BackendError as e:
                    _abort(context, grpc.StatusCode(_grpc_code(e.code)), str(e))
                for item in items:
                    batch.append(p4r.Entity(table_entry=item))
                    if len(batch) >= READ_CHUNK:
                        yield p4r.ReadResponse(entities=batch)
                        batch = []
            elif kind == "packet_replication_engine_entry":
                batch.extend(
                    p4r.Entity(packet_replication_engine_entry=e) for e in self.pre.values()
                )
            elif kind == "register_entry":
                re_ = ent.register_entry
                idx = re_.index.index if re_.HasField("index") else None
                try:
                    with self.lock:
                        regs = list(self.backend.read_register(re_.register_id, idx))
                except BackendError as e:
                    _abort(context, grpc.StatusCode(_grpc_code(e.code)), str(e))
                batch.extend(p4r.Entity(register_entry=r) for r in regs)
            else:
                _abort(context, grpc.StatusCode.UNIMPLEMENTED, f"read of {kind}")
        if batch:
            yield p4r.ReadResponse(entities=batch)

    def Capabilities(
        self, request: p4r.CapabilitiesRequest, context: grpc.ServicerContext
    ) -> p4r.CapabilitiesResponse:
        return p4r.CapabilitiesResponse(p4runtime_api_version=API_VERSION)


#: grpc-status-details-bin of a failed Write is at most this long: clients (grpcio and most
#: others) refuse response metadata over 8 KiB by default, and then get no status at all
DETAILS_BUDGET = 4096
#: per-update error messages are cut to this many characters
MESSAGE_MAX = 120


def write_error_details(results: Sequence[UpdateStatus]) -> status_pb2.Status:
    """The ``google.rpc.Status`` of a Write in which some updates failed: one ``p4.v1.Error``
    per update (P4Runtime specification, "Error Reporting"). When those would exceed
    :data:`DETAILS_BUDGET` the per-update details are left out and the message summarises
    (count, first failure): the client then cannot tell which updates failed and retries
    them in smaller batches."""
    failed = [(i, r) for i, r in enumerate(results) if r.code != OK]
    first_i, first = failed[0]
    first_text = f"update {first_i}: {_code_name(first.code)}: {first.message[:MESSAGE_MAX]}"
    summary = f"{len(failed)} of {len(results)} updates failed (first: {first_text})"
    details = status_pb2.Status(code=UNKNOWN, message=summary)
    size = 0
    for r in results:
        err = p4r.Error(canonical_code=r.code, message=r.message[:MESSAGE_MAX])
        a = any_pb2.Any()
        a.Pack(err)
        size += a.ByteSize() + 3
        if size > DETAILS_BUDGET:
            return status_pb2.Status(
                code=UNKNOWN,
                message=summary + "; per-update details omitted (too many for the metadata limit)",
            )
        details.details.append(a)
    return details


def _code_name(code: int) -> str:
    for c in grpc.StatusCode:
        if c.value[0] == code:
            return str(c.name)
    return str(code)


def _abort(context: grpc.ServicerContext, code: grpc.StatusCode, message: str) -> NoReturn:
    """``context.abort`` (which raises) with the type checker told so."""
    context.abort(code, message)
    raise AssertionError("unreachable")


def _grpc_code(code: int) -> tuple[int, str]:
    for c in grpc.StatusCode:
        if c.value[0] == code:
            return c.value
    return grpc.StatusCode.UNKNOWN.value


def _register(sv: P4RuntimeServicer, server: grpc.Server) -> None:
    """The generated registration, except that Write takes the request still serialized (the
    DPDK backend's fast path decodes it in C; see ``P4RuntimeServicer.write_raw``)."""
    P = p4r
    handlers = {
        "Write": grpc.unary_unary_rpc_method_handler(
            sv.write_raw,
            request_deserializer=None,
            response_serializer=P.WriteResponse.SerializeToString,
        ),
        "Read": grpc.unary_stream_rpc_method_handler(
            sv.Read,
            request_deserializer=P.ReadRequest.FromString,
            response_serializer=P.ReadResponse.SerializeToString,
        ),
        "SetForwardingPipelineConfig": grpc.unary_unary_rpc_method_handler(
            sv.SetForwardingPipelineConfig,
            request_deserializer=P.SetForwardingPipelineConfigRequest.FromString,
            response_serializer=P.SetForwardingPipelineConfigResponse.SerializeToString,
        ),
        "GetForwardingPipelineConfig": grpc.unary_unary_rpc_method_handler(
            sv.GetForwardingPipelineConfig,
            request_deserializer=P.GetForwardingPipelineConfigRequest.FromString,
            response_serializer=P.GetForwardingPipelineConfigResponse.SerializeToString,
        ),
        "StreamChannel": grpc.stream_stream_rpc_method_handler(
            sv.StreamChannel,
            request_deserializer=P.StreamMessageRequest.FromString,
            response_serializer=P.StreamMessageResponse.SerializeToString,
        ),
        "Capabilities": grpc.unary_unary_rpc_method_handler(
            sv.Capabilities,
            request_deserializer=P.CapabilitiesRequest.FromString,
            response_serializer=P.CapabilitiesResponse.SerializeToString,
        ),
    }
    server.add_generic_rpc_handlers(
        (grpc.method_handlers_generic_handler("p4.v1.P4Runtime", handlers),)
    )
    add_registered = getattr(server, "add_registered_method_handlers", None)
    if add_registered is not None:
        add_registered("p4.v1.P4Runtime", handlers)


class P4RuntimeServer:
    """The gRPC server around one backend. ``address`` like ``127.0.0.1:9559``.

    Without ``tls`` the address must be a loopback one (or a Unix socket) unless
    ``allow_insecure`` is set (:func:`controller.p4rt.tls.check_listen_address`). Each open
    StreamChannel holds a thread of its own: the pool has ``workers`` threads for the unary
    RPCs plus ``max_streams`` for streams, and a stream beyond ``max_streams`` is refused
    (RESOURCE_EXHAUSTED), so idle streams never starve Write and Read.
    """

    def __init__(
        self,
        backend: Backend,
        address: str = "127.0.0.1:9559",
        *,
        device_id: int = 1,
        contract: p4info_pb2.P4Info | str | None = "default",
        workers: int = 8,
        max_streams: int = 64,
        tls: ServerTls | None = None,
        allow_insecure: bool = False,
    ) -> None:
        check_listen_address(address, tls, allow_insecure=allow_insecure)
        creds = server_credentials(tls) if tls is not None else None
        if contract == "default":
            contract = load_contract_p4info() if CONTRACT_P4INFO.exists() else None
        self.servicer = P4RuntimeServicer(
            backend,
            device_id=device_id,
            contract=contract,  # type: ignore[arg-type]
            max_streams=max_streams,
        )
        opts = [
            ("grpc.max_receive_message_length", 64 << 20),
            ("grpc.max_send_message_length", 64 << 20),
        ]
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=workers + max_streams), options=opts
        )
        _register(self.servicer, self.server)
        if creds is not None:
            self.port = self.server.add_secure_port(address, creds)
        else:
            self.port = self.server.add_insecure_port(address)
        host = address.rsplit(":", 1)[0]
        self.address = f"{host}:{self.port}"
        self.tls = tls

    def start(self) -> P4RuntimeServer:
        self.server.start()
        return self

    def stop(self, grace: float = 0.5) -> None:
        self.server.stop(grace).wait()
        self.servicer.backend.close()

    def __enter__(self) -> P4RuntimeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
