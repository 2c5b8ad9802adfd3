"""An asyncio P4Runtime client built on stubs generated from the official protos.

What a daemon needs and nothing more: arbitration (election id) on the stream before any
write; pushing the pipeline only when the P4Info cookie changed; batched writes with
per-update error decoding; packet-in/packet-out with named metadata resolved from the P4Info;
reconnection with back-off; a wildcard read of table entries. p4runtime-shell is not used
(its pins clash with a modern stack, see ``docs/controller.md``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import grpc
from grpc import aio

from controller.p4rt.gen.google.rpc import status_pb2
from controller.p4rt.gen.p4.v1 import p4runtime_pb2 as p4r
from controller.p4rt.gen.p4.v1 import p4runtime_pb2_grpc as p4r_grpc
from controller.p4rt.p4info import P4InfoIndex, decode_uint, encode_uint, encode_varint
from controller.p4rt.tls import ClientTls, channel_credentials, channel_options, is_loopback

log = logging.getLogger(__name__)

GRPC_OPTIONS = [
    ("grpc.max_send_message_length", 64 * 1024 * 1024),
    ("grpc.max_receive_message_length", 64 * 1024 * 1024),
    # gRPC servers with default settings (ours, PI/bmv2, Stratum) answer pings more frequent
    # than every 5 minutes on a quiet channel with GOAWAY "too_many_pings"; a dead device is
    # noticed by the stream breaking anyway.
    ("grpc.keepalive_time_ms", 330_000),
    ("grpc.keepalive_permit_without_calls", 1),
    ("grpc.http2.max_pings_without_data", 0),
    # a server that reports every update of a large failed batch in grpc-status-details-bin
    # (PI, Stratum) exceeds the 8 KiB default: take up to 1 MiB of response metadata
    ("grpc.max_metadata_size", 1 << 20),
    ("grpc.absolute_max_metadata_size", 1 << 20),
]

# google.rpc.Code names, for messages
_CODE_NAMES = {c.value[0]: c.name for c in grpc.StatusCode}


class P4RuntimeError(Exception):
    """A P4Runtime call failed. ``code`` is the gRPC status code name."""

    def __init__(self, message: str, code: str = "UNKNOWN") -> None:
        super().__init__(message)
        self.code = code


class DeviceUnavailable(P4RuntimeError):
    """The device cannot be reached (or did not make us primary) in time."""


@dataclass(frozen=True, slots=True)
class UpdateError:
    """Why one update of a write batch failed (a decoded ``p4.v1.Error``)."""

    index: int
    code: str  # canonical code name, e.g. ALREADY_EXISTS, NOT_FOUND
    message: str

    def __str__(self) -> str:
        return f"update {self.index}: {self.code}: {self.message}"


class WriteError(P4RuntimeError):
    """A write failed; ``errors[i]`` is the error of update ``i`` (``None``: it succeeded)."""

    def __init__(
        self, message: str, code: str, errors: list[UpdateError | None], detailed: bool = True
    ) -> None:
        super().__init__(message, code)
        self.errors = errors
        #: False: the server did not say which updates failed (``errors`` then marks every
        #: update as failed); :meth:`P4RuntimeClient.write` retries in halves to find out
        self.detailed = detailed


@dataclass(frozen=True, slots=True)
class DevicePacketIn:
    """One packet-in received from the device on the P4Runtime stream: payload and metadata by
    name (values as integers). The protocol's event is :class:`dysco_proto.events.PacketIn`."""

    payload: bytes
    metadata: dict[str, int]


def decode_write_error(err: aio.AioRpcError | grpc.RpcError, n_updates: int) -> WriteError:
    """Decode a failed Write into per-update errors (P4Runtime spec section 12.3)."""
    code = err.code().name if hasattr(err, "code") and err.code() else "UNKNOWN"
    details = err.details() if hasattr(err, "details") else str(err)
    errors: list[UpdateError | None] = [None] * n_updates
    status = None
    trailing = err.trailing_metadata() if hasattr(err, "trailing_metadata") else None
    for key, value in trailing or ():
        if key == "grpc-status-details-bin":
            status = status_pb2.Status()
            try:
                status.ParseFromString(value)
            except Exception:  # malformed details: fall back to the top-level status
                status = None
    if status is not None and len(status.details) == n_updates:
        for i, anyd in enumerate(status.details):
            e = p4r.Error()
            if anyd.Unpack(e) and e.canonical_code != 0:
                errors[i] = UpdateError(
                    i, _CODE_NAMES.get(e.canonical_code, str(e.canonical_code)), e.message
                )
        return _write_error(errors, code)
    # no per-update details: every update is marked failed with the call's status; with
    # several updates and UNKNOWN (a batch failed in part: details left out) or
    # RESOURCE_EXHAUSTED (details over our metadata limit) which ones failed is unknown
    errors = [UpdateError(i, code, details or "") for i in range(n_updates)]
    partial = n_updates > 1 and code in ("UNKNOWN", "RESOURCE_EXHAUSTED")
    return _write_error(errors, code, detailed=not partial)


def _write_error(errors: list[UpdateError | None], code: str, detailed: bool = True) -> WriteError:
    failed = [e for e in errors if e is not None]
    summary = f"{len(failed)} of {len(errors)} updates failed"
    if failed:
        summary += f" (first: {failed[0]})"
    return WriteError(summary, code, errors, detailed)


class P4RuntimeClient:
    """One P4Runtime session with one device, as primary controller.

    Use :meth:`start` to connect (arbitration, optional pipeline push); the client keeps the
    stream up in the background and reconnects with exponential back-off, calling
    ``on_connected`` after every (re)connection. Packet-ins go to ``on_packet_in``.

    Losing the primary role (another client arbitrated with a higher election id) clears
    :attr:`connected`, calls ``on_lost_primary`` and makes writes wait; the client re-sends
    its arbitration every ``reconnect_max`` seconds, and when it is primary again (the server
    says so on the stream) it calls ``on_connected(False)`` as after a reconnection.

    ``tls``: TLS (and mutual TLS with a client certificate) towards the device; without it
    the channel is insecure, which is only safe on loopback or a Unix socket.
    """

    def __init__(
        self,
        address: str,
        device_id: int,
        election_id: int,
        p4info: P4InfoIndex,
        *,
        device_config: bytes = b"",
        push_pipeline: str = "auto",
        on_packet_in: Callable[[DevicePacketIn], None] | None = None,
        on_connected: Callable[[bool], Awaitable[None]] | None = None,
        on_disconnected: Callable[[], None] | None = None,
        on_lost_primary: Callable[[], None] | None = None,
        reconnect_max: float = 5.0,
        tls: ClientTls | None = None,
    ) -> None:
        self.address = address
        self.device_id = device_id
        self.election_id = election_id
        self.p4info = p4info
        self.device_config = device_config
        self.push_mode = push_pipeline
        self.on_packet_in = on_packet_in
        self.on_connected = on_connected
        self.on_disconnected = on_disconnected
        self.on_lost_primary = on_lost_primary
        self.reconnect_max = reconnect_max
        self.tls = tls
        self.primary_lost = 0  # times another client took the primary role
        self.write_retries = 0  # halves re-sent to find the failed updates of a batch
        self._regain: asyncio.Task[None] | None = None
        self.channel: aio.Channel | None = None
        self.stub: p4r_grpc.P4RuntimeStub | None = None
        self._write_raw: Any = None  # Write taking a serialized request (bytes updates)
        self._stream: aio.StreamStreamCall | None = None
        self._stream_lock = asyncio.Lock()
        self._connected = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self.pipeline_pushed = False
        self.reconnects = 0
        self.packet_outs = 0
        self.packet_ins = 0
        self.idle_notifications = 0
        self._eid = p4r.Uint128(high=election_id >> 64, low=election_id & (2**64 - 1))
        self._pkt_out_ids = {name: (mid, bits) for name, (mid, bits) in p4info.packet_out.items()}

    # -- life cycle ---------------------------------------------------------------------------

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    async def start(self, timeout: float = 10.0) -> None:
        """Connect and become primary (raises :class:`DeviceUnavailable` after ``timeout``),
        then keep the session up in the background."""
        self.channel = self._channel()
        self.stub = p4r_grpc.P4RuntimeStub(self.channel)  # type: ignore[no-untyped-call]
        self._write_raw = None
        try:
            await asyncio.wait_for(self._connect_once(), timeout)
        except (TimeoutError, grpc.RpcError, P4RuntimeError) as e:
            await self.close()
            if isinstance(e, DeviceUnavailable):
                raise
            raise DeviceUnavailable(
                f"cannot reach P4Runtime device {self.address} (device id {self.device_id}): "
                f"{_describe(e)}",
                "UNAVAILABLE",
            ) from None
        self._task = asyncio.create_task(self._run(), name=f"p4rt:{self.address}")
        if self.on_connected is not None:
            await self.on_connected(True)

    def _channel(self) -> aio.Channel:
        if self.tls is not None:
            creds = channel_credentials(self.tls)
            return aio.secure_channel(
                self.address, creds, options=GRPC_OPTIONS + channel_options(self.tls)
            )
        if not is_loopback(self.address):
            log.warning(
                "P4Runtime to %s without TLS: anyone on the path can read and change the "
                "device's tables (configure device.tls)",
                self.address,
            )
        return aio.insecure_channel(self.address, options=GRPC_OPTIONS)

    async def close(self) -> None:
        """Stop the background task and close the channel."""
        self._closing = True
        if self._regain is not None:
            self._regain.cancel()
            self._regain = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
            self._task = None
        if self._stream is not None:
            self._stream.cancel()
            self._stream = None
        if self.channel is not None:
            await self.channel.close()
            self.channel = None
        self._connected.clear()

    async def wait_connected(self, timeout: float | None = None) -> None:
        """Wait until the session is up (raises :class:`DeviceUnavailable` on timeout)."""
        try:
            await asyncio.wait_for(self._connected.wait(), timeout)
        except TimeoutError:
            raise DeviceUnavailable(f"device {self.address} not connected", "UNAVAILABLE") from None

    def _arbitration(self) -> p4r.StreamMessageRequest:
        return p4r.StreamMessageRequest(
            arbitration=p4r.MasterArbitrationUpdate(device_id=self.device_id, election_id=self._eid)
        )

    async def _connect_once(self) -> None:
        assert self.stub is not None
        stream = self.stub.StreamChannel()
        await stream.write(self._arbitration())
        while True:
            resp = await stream.read()
            if resp is aio.EOF:
                raise DeviceUnavailable("stream closed during arbitration", "UNAVAILABLE")
            if resp.HasField("arbitration"):
                if resp.arbitration.status.code != 0:
                    stream.cancel()
                    raise DeviceUnavailable(
                        f"not primary for device {self.device_id} "
                        f"(election id {self.election_id}): {resp.arbitration.status.message}",
                        "ALREADY_EXISTS",
                    )
                break
        self._stream = stream
        await self._ensure_pipeline()
        self._connected.set()

    async def _run(self) -> None:
        backoff = 0.05
        while not self._closing:
            stream = self._stream
            try:
                assert stream is not None
                while True:
                    resp = await stream.read()
                    if resp is aio.EOF:
                        break
                    self._on_stream_message(resp)
            except asyncio.CancelledError:
                raise
            except Exception as e:  # stream broken
                log.warning("P4Runtime stream to %s broken: %s", self.address, _describe(e))
            if stream is not None:
                stream.cancel()  # the server then frees our election id for the reconnection
            if self._closing:
                return
            self._connected.clear()
            self._stream = None
            if self.on_disconnected is not None:
                self.on_disconnected()
            while not self._closing:
                await asyncio.sleep(backoff)
                backoff = min(self.reconnect_max, backoff * 2)
                try:
                    await asyncio.wait_for(self._connect_once(), 5.0)
                    self.reconnects += 1
                    backoff = 0.05
                    log.info("P4Runtime session to %s re-established", self.address)
                except asyncio.CancelledError:
                    raise
                except Exception as e:
                    log.info("reconnecting to %s: %s", self.address, _describe(e))
                    continue
                if self.on_connected is not None:
                    try:
                        await self.on_connected(False)
                    except Exception:
                        log.exception("reconnection handler failed")
                break

    def _on_stream_message(self, resp: p4r.StreamMessageResponse) -> None:
        which = resp.WhichOneof("update")
        if which == "packet":
            self.packet_ins += 1
            pkt = resp.packet
            md: dict[str, int] = {}
            for m in pkt.metadata:
                name = self.p4info.packet_in.get(m.metadata_id, (f"#{m.metadata_id}", 0))[0]
                md[name] = decode_uint(m.value)
            if self.on_packet_in is not None:
                try:
                    self.on_packet_in(DevicePacketIn(bytes(pkt.payload), md))
                except Exception:
                    log.exception("packet-in handler failed")
        elif which == "arbitration":
            self._on_arbitration(resp.arbitration)
        elif which == "idle_timeout_notification":
            # Session entries carry a TTL only so that the device tracks their idle time (see
            # translate.IDLE_TTL_NS); the daemon polls it, so the notification is only counted.
            self.idle_notifications += len(resp.idle_timeout_notification.table_entry)
        elif which == "error":
            err = resp.error
            log.warning(
                "stream error from %s: %s: %s",
                self.address,
                _CODE_NAMES.get(err.canonical_code, str(err.canonical_code)),
                err.message,
            )

    def _on_arbitration(self, arb: p4r.MasterArbitrationUpdate) -> None:
        """A change of primary on the device (sent to every client)."""
        primary = arb.status.code == 0
        if not primary and self._connected.is_set():
            self.primary_lost += 1
            self._connected.clear()
            who = (arb.election_id.high << 64) | arb.election_id.low
            log.warning(
                "lost the primary role on %s (primary election id now %d, ours %d)",
                self.address,
                who,
                self.election_id,
            )
            if self.on_lost_primary is not None:
                try:
                    self.on_lost_primary()
                except Exception:
                    log.exception("lost-primary handler failed")
            if self._regain is None or self._regain.done():
                self._regain = asyncio.get_running_loop().create_task(self._regain_primary())
        elif primary and not self._connected.is_set() and self._stream is not None:
            log.info("primary again on %s", self.address)
            self._connected.set()
            if self.on_connected is not None:
                asyncio.get_running_loop().create_task(self._after_regain())

    async def _regain_primary(self) -> None:
        """While a backup: re-send our arbitration now and then (a server that does not
        promote the highest remaining client by itself then makes us primary again)."""
        while not self._closing and not self._connected.is_set():
            await asyncio.sleep(self.reconnect_max)
            stream = self._stream
            if stream is None or self._connected.is_set():
                continue
            try:
                async with self._stream_lock:
                    await stream.write(self._arbitration())
            except (grpc.RpcError, asyncio.InvalidStateError) as e:
                log.debug("re-arbitration failed: %s", _describe(e))

    async def _after_regain(self) -> None:
        assert self.on_connected is not None
        try:
            await self.on_connected(False)
        except Exception:
            log.exception("reconnection handler failed")

    # -- pipeline -----------------------------------------------------------------------------

    async def _ensure_pipeline(self) -> None:
        assert self.stub is not None
        if self.push_mode == "never":
            return
        cookie = self.p4info.cookie
        if self.push_mode == "auto":
            try:
                got = await self.stub.GetForwardingPipelineConfig(
                    p4r.GetForwardingPipelineConfigRequest(
                        device_id=self.device_id,
                        response_type=p4r.GetForwardingPipelineConfigRequest.COOKIE_ONLY,
                    ),
                    timeout=10,
                )
                if got.config.HasField("cookie") and got.config.cookie.cookie == cookie:
                    return
            except grpc.RpcError as e:  # no pipeline yet: FAILED_PRECONDITION / NOT_FOUND
                log.debug("GetForwardingPipelineConfig: %s", _describe(e))
        await self.stub.SetForwardingPipelineConfig(
            p4r.SetForwardingPipelineConfigRequest(
                device_id=self.device_id,
                election_id=self._eid,
                action=p4r.SetForwardingPipelineConfigRequest.VERIFY_AND_COMMIT,
                config=p4r.ForwardingPipelineConfig(
                    p4info=self.p4info.p4info,
                    p4_device_config=self.device_config,
                    cookie=p4r.ForwardingPipelineConfig.Cookie(cookie=cookie),
                ),
            ),
            timeout=30,
        )
        self.pipeline_pushed = True
        log.info("pushed pipeline (cookie %016x) to %s", cookie, self.address)

    # -- writes and reads ---------------------------------------------------------------------

    def update(self, kind: int, entry: p4r.TableEntry) -> p4r.Update:
        """An ``Update`` of ``kind`` (``p4r.Update.INSERT``/``MODIFY``/``DELETE``)."""
        return p4r.Update(type=kind, entity=p4r.Entity(table_entry=entry))  # type: ignore[arg-type]

    async def write(self, updates: Sequence[p4r.Update | bytes], timeout: float = 30.0) -> None:
        """Write one batch (CONTINUE_ON_ERROR). Raises :class:`WriteError` with per-update
        errors, or :class:`DeviceUnavailable` when the device cannot be reached."""
        if not updates:
            return
        err = await self._write_find(updates, timeout)
        if err is not None:
            raise err

    async def _write_find(
        self, updates: Sequence[p4r.Update | bytes], timeout: float
    ) -> WriteError | None:
        """Write; when the server did not say which updates of a failed batch failed (too
        many to report), re-send the batch in halves until it does. The outcome of a re-sent
        update is that of the retry: an INSERT the first attempt applied reports
        ALREADY_EXISTS, a DELETE NOT_FOUND (the writer's repairs make both harmless)."""
        try:
            await self._write_once(updates, timeout)
            return None
        except WriteError as e:
            if e.detailed or len(updates) < 2:
                return e
            code = e.code
        self.write_retries += 1
        mid = len(updates) // 2
        errors: list[UpdateError | None] = []
        for part in (updates[:mid], updates[mid:]):
            sub = await self._write_find(part, timeout)
            base = len(errors)
            if sub is None:
                errors.extend([None] * len(part))
            else:
                errors.extend(
                    None if x is None else UpdateError(base + x.index, x.code, x.message)
                    for x in sub.errors
                )
        return _write_error(errors, code)

    async def _write_once(self, updates: Sequence[p4r.Update | bytes], timeout: float) -> None:
        if self.stub is None or self.channel is None:
            raise DeviceUnavailable("not connected", "UNAVAILABLE")
        try:
            if any(isinstance(u, bytes) for u in updates):
                # serialized updates (Translator.entry_update_raw): the request is their
                # concatenation behind its header, never parsed and re-serialized here
                head = p4r.WriteRequest(
                    device_id=self.device_id,
                    election_id=self._eid,
                    atomicity=p4r.WriteRequest.CONTINUE_ON_ERROR,
                ).SerializeToString()
                parts = [head]
                for u in updates:
                    b = u if isinstance(u, bytes) else u.SerializeToString()
                    parts.append(b"\x22" + encode_varint(len(b)) + b)
                if self._write_raw is None:
                    self._write_raw = self.channel.unary_unary(
                        "/p4.v1.P4Runtime/Write",
                        request_serializer=None,
                        response_deserializer=p4r.WriteResponse.FromString,
                    )
                await self._write_raw(b"".join(parts), timeout=timeout)
                return
            req = p4r.WriteRequest(
                device_id=self.device_id,
                election_id=self._eid,
                updates=[u for u in updates if not isinstance(u, bytes)],
                atomicity=p4r.WriteRequest.CONTINUE_ON_ERROR,
            )
            await self.stub.Write(req, timeout=timeout)
        except grpc.RpcError as e:
            code = e.code() if hasattr(e, "code") else None
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                raise DeviceUnavailable(_describe(e), code.name) from None
            if code == grpc.StatusCode.PERMISSION_DENIED:  # not (or no longer) the primary
                self._connected.clear()
                if not self._closing and (self._regain is None or self._regain.done()):
                    self._regain = asyncio.get_running_loop().create_task(self._regain_primary())
                raise DeviceUnavailable(_describe(e), code.name) from None
            raise decode_write_error(e, len(updates)) from None

    async def read_table_entries(
        self, table_id: int = 0, idle_times: bool = False
    ) -> AsyncIterator[p4r.TableEntry]:
        """Every table entry of ``table_id`` (0: of every table), as the device streams them.

        ``idle_times``: ask for each entry's ``time_since_last_hit``. Servers fill it only when
        the request sets it (P4Runtime spec; bmv2's PI server included), and refuse it for a
        table without idle-timeout support, wildcard reads included: give a session table."""
        if self.stub is None:
            raise DeviceUnavailable("not connected", "UNAVAILABLE")
        want = p4r.TableEntry(table_id=table_id)
        if idle_times:
            want.time_since_last_hit.elapsed_ns = 0
        req = p4r.ReadRequest(device_id=self.device_id, entities=[p4r.Entity(table_entry=want)])
        try:
            async for resp in self.stub.Read(req, timeout=120):
                for ent in resp.entities:
                    if ent.HasField("table_entry"):
                        yield ent.table_entry
        except grpc.RpcError as e:
            raise P4RuntimeError(f"read failed: {_describe(e)}", _code(e)) from None

    async def send_packet(self, payload: bytes, metadata: Mapping[str, int]) -> None:
        """Packet-out with named metadata (names from the P4Info ``packet_out`` header)."""
        md = []
        for name, value in metadata.items():
            ent = self._pkt_out_ids.get(name)
            if ent is None:
                raise P4RuntimeError(f"packet_out metadata {name!r} is not in the P4Info")
            md.append(p4r.PacketMetadata(metadata_id=ent[0], value=encode_uint(value, ent[1])))
        msg = p4r.StreamMessageRequest(packet=p4r.PacketOut(payload=payload, metadata=md))
        await self.send_stream(msg)

    async def send_stream(self, msg: p4r.StreamMessageRequest) -> None:
        """Write one message on the stream (waits for a connection)."""
        if not self._connected.is_set():
            await self.wait_connected(timeout=10.0)
        async with self._stream_lock:
            stream = self._stream
            if stream is None:
                raise DeviceUnavailable("stream down", "UNAVAILABLE")
            try:
                await stream.write(msg)
            except (grpc.RpcError, asyncio.InvalidStateError) as e:
                raise DeviceUnavailable(f"packet-out failed: {_describe(e)}", "UNAVAILABLE") from e
        self.packet_outs += 1

    async def send_packets(self, msgs: Iterable[p4r.StreamMessageRequest]) -> None:
        """Write several stream messages in order under one lock acquisition."""
        if not self._connected.is_set():
            await self.wait_connected(timeout=10.0)
        async with self._stream_lock:
            stream = self._stream
            if stream is None:
                raise DeviceUnavailable("stream down", "UNAVAILABLE")
            for m in msgs:
                try:
                    await stream.write(m)
                except (grpc.RpcError, asyncio.InvalidStateError) as e:
                    raise DeviceUnavailable(f"packet-out failed: {_describe(e)}") from e
                self.packet_outs += 1


def _code(e: BaseException) -> str:
    code = getattr(e, "code", None)
    if callable(code):
        with contextlib.suppress(Exception):
            c = code()
            if c is not None:
                return str(c.name)
    return "UNKNOWN"


def _describe(e: BaseException) -> str:
    if isinstance(e, grpc.RpcError) and hasattr(e, "details"):
        with contextlib.suppress(Exception):
            return f"{_code(e)}: {e.details()}"
    if isinstance(e, TimeoutError):
        return "timed out"
    return str(e) or type(e).__name__
