"""The management API: JSON lines over a local Unix socket, authenticated by a token.

The daemon creates the socket and a token file next to it, both mode 0600 (only the user
running the daemon, normally root, can use the API). A client sends one request per line::

    {"id": 1, "token": "<hex>", "method": "sessions", "params": {...}}

and receives zero or more progress lines and exactly one final line::

    {"id": 1, "progress": {"done": 3, "total": 10, ...}}
    {"id": 1, "ok": true, "result": ...}
    {"id": 1, "ok": false, "error": {"code": "not_found", "message": "..."}}

Methods (see ``docs/controller.md``): ``sessions``, ``session``, ``reconfig``, ``policy.list``,
``policy.add``, ``policy.remove``, ``status``, ``counters``. Error codes: ``unauthorized``,
``bad_request``, ``unknown_method``, ``not_found``, ``refused``, ``failed``, ``timeout``,
``busy``, ``internal``.

Hardening (``docs/controller.md``, Security): at most :data:`MAX_CONNECTIONS` connections at
once (more are answered ``busy`` and closed), a connection silent for :data:`IDLE_TIMEOUT`
seconds is closed, a request line is at most :data:`MAX_LINE` bytes. Before the token is
checked a request is only decoded: strict UTF-8, JSON nested at most :data:`MAX_DEPTH` deep,
integers of at most :data:`MAX_INT_DIGITS` digits; anything else is a ``bad_request``, never
an ``internal`` error. The token file lives in the socket's directory and is written and read
without following symbolic links.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import os
import secrets
import socket
import stat
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

MAX_LINE = 1 << 20
MAX_CONNECTIONS = 64
IDLE_TIMEOUT = 60.0
MAX_DEPTH = 32
MAX_INT_DIGITS = 40

Progress = Callable[[dict[str, Any]], Awaitable[None]]
Handler = Callable[[str, dict[str, Any], Progress], Awaitable[Any]]


class MgmtError(Exception):
    """A management request failed; ``code`` is one of the documented error codes."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class MgmtServer:
    """Serves the management API on a Unix socket; ``handler(method, params, progress)``."""

    def __init__(
        self,
        socket_path: Path,
        token_path: Path,
        handler: Handler,
        *,
        max_connections: int = MAX_CONNECTIONS,
        idle_timeout: float = IDLE_TIMEOUT,
    ) -> None:
        self.socket_path = Path(socket_path)
        self.token_path = Path(token_path)
        self.handler = handler
        self.max_connections = max_connections
        self.idle_timeout = idle_timeout
        self.connections = 0
        self.refused_busy = 0
        self.idle_closed = 0
        self.token = ""
        self._server: asyncio.AbstractServer | None = None
        self._owns_files = False  # only a server that wrote the token removes socket and token
        self.requests = 0

    async def start(self) -> None:
        """Write a fresh token file and listen (an existing stale socket is replaced)."""
        if self.token_path.parent.resolve() != self.socket_path.parent.resolve():
            raise MgmtError(
                "failed",
                f"the token file {self.token_path} must be in the socket's directory "
                f"{self.socket_path.parent}",
            )
        self.socket_path.parent.mkdir(parents=True, exist_ok=True)
        if self.socket_path.exists() or self.socket_path.is_symlink():
            if not stat.S_ISSOCK(self.socket_path.lstat().st_mode):
                raise MgmtError("failed", f"{self.socket_path} exists and is not a socket")
            if _socket_alive(self.socket_path):
                raise MgmtError(
                    "failed", f"another daemon is already listening on {self.socket_path}"
                )
            self.socket_path.unlink()
        self.token = secrets.token_hex(16)
        self._owns_files = True
        # a new file of ours: whatever was at the path (a stale token, a planted symlink) is
        # removed, never followed or written through
        with contextlib.suppress(FileNotFoundError):
            self.token_path.unlink()
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        fd = os.open(self.token_path, flags, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.token + "\n")
        old = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(
                self._serve, path=str(self.socket_path), limit=MAX_LINE
            )
        finally:
            os.umask(old)
        os.chmod(self.socket_path, 0o600)

    async def close(self) -> None:
        """Stop listening; remove the socket and the token file."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1.0)
            self._server = None
        if not self._owns_files:
            return
        self._owns_files = False
        for p in (self.socket_path, self.token_path):
            with contextlib.suppress(OSError):
                p.unlink()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.connections >= self.max_connections:
            self.refused_busy += 1
            with contextlib.suppress(Exception):
                await asyncio.wait_for(
                    _send(
                        writer,
                        {"id": None, "ok": False, "error": _err("busy", "too many connections")},
                    ),
                    1.0,
                )
            writer.close()
            return
        self.connections += 1
        try:
            while True:
                try:
                    line = await asyncio.wait_for(reader.readline(), self.idle_timeout)
                except TimeoutError:
                    self.idle_closed += 1
                    return
                except (ValueError, asyncio.LimitOverrunError):
                    await _send(
                        writer,
                        {
                            "id": None,
                            "ok": False,
                            "error": _err("bad_request", "request line too long"),
                        },
                    )
                    return
                if not line:
                    return
                await self._one(line, writer)
        except (ConnectionError, asyncio.IncompleteReadError):
            return
        finally:
            self.connections -= 1
            with contextlib.suppress(Exception):
                writer.close()

    async def _one(self, line: bytes, writer: asyncio.StreamWriter) -> None:
        self.requests += 1
        rid: Any = None
        try:
            req = decode_request(line)
            rid = req.get("id")
            if not isinstance(rid, int | str | None) or isinstance(rid, bool):
                rid = None
            token = req.get("token")
            if (
                not isinstance(token, str)
                or not token.isascii()
                or not hmac.compare_digest(token, self.token)
            ):
                raise MgmtError("unauthorized", "missing or wrong management token")
            method = req.get("method")
            params = req.get("params") or {}
            if not isinstance(method, str) or not isinstance(params, dict):
                raise MgmtError("bad_request", "method must be a string and params an object")

            async def progress(p: dict[str, Any]) -> None:
                await _send(writer, {"id": rid, "progress": p})

            result = await self.handler(method, params, progress)
            await _send(writer, {"id": rid, "ok": True, "result": result})
        except MgmtError as e:
            await _send(writer, {"id": rid, "ok": False, "error": _err(e.code, e.message)})
        except ConnectionError:
            raise
        except (TypeError, ValueError, KeyError, OverflowError, RecursionError) as e:
            # parameters of the wrong type or range that a handler did not check itself
            log.info("management request refused: %s: %s", type(e).__name__, e)
            await _send(
                writer,
                {"id": rid, "ok": False, "error": _err("bad_request", f"{type(e).__name__}: {e}")},
            )
        except Exception as e:
            log.exception("management request failed")
            await _send(
                writer,
                {"id": rid, "ok": False, "error": _err("internal", f"{type(e).__name__}: {e}")},
            )


def _depth_ok(text: str, limit: int) -> bool:
    """Whether the JSON text nests at most ``limit`` arrays/objects deep (brackets inside
    strings ignored); an iterative scan, so a hostile line cannot exhaust the stack."""
    depth = 0
    in_str = esc = False
    for ch in text:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            if depth > limit:
                return False
        elif ch in "]}":
            depth -= 1
    return True


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise MgmtError("bad_request", f"integer with more than {MAX_INT_DIGITS} digits")
    return int(text)


def decode_request(line: bytes) -> dict[str, Any]:
    """Decode one request line (the only work done before the token is checked); raises
    :class:`MgmtError` ``bad_request`` on anything but a small, plain JSON object."""
    try:
        text = line.decode("utf-8", errors="strict")
    except UnicodeDecodeError:
        raise MgmtError("bad_request", "a request must be UTF-8") from None
    if not _depth_ok(text, MAX_DEPTH):
        raise MgmtError("bad_request", f"request nested deeper than {MAX_DEPTH} levels")
    try:
        req = json.loads(text, parse_int=_bounded_int, parse_constant=_no_constant)
    except json.JSONDecodeError as e:
        raise MgmtError("bad_request", f"not JSON: {e}") from None
    except (ValueError, RecursionError) as e:
        raise MgmtError("bad_request", f"not acceptable JSON: {e}") from None
    if not isinstance(req, dict):
        raise MgmtError("bad_request", "a request must be a JSON object")
    return req


def _no_constant(name: str) -> Any:
    raise MgmtError("bad_request", f"{name} is not a JSON number")


def _err(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message}


async def _send(writer: asyncio.StreamWriter, obj: dict[str, Any]) -> None:
    writer.write(json.dumps(obj, default=str).encode() + b"\n")
    await writer.drain()


def _socket_alive(path: Path) -> bool:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(0.5)
    try:
        s.connect(str(path))
        return True
    except OSError:
        return False
    finally:
        s.close()


class Unreachable(Exception):
    """The daemon's management socket cannot be reached (or its token read)."""


class MgmtClient:
    """A blocking client of the management API (used by the CLI)."""

    def __init__(self, socket_path: Path, token: str, timeout: float = 30.0) -> None:
        self.socket_path = Path(socket_path)
        self.token = token
        self.timeout = timeout
        self._next_id = 1

    @classmethod
    def from_files(cls, socket_path: Path, token_path: Path, timeout: float = 30.0) -> MgmtClient:
        """A client whose token is read from ``token_path``."""
        try:
            fd = os.open(token_path, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
            with os.fdopen(fd, "rb") as f:
                token = f.read(4096).decode("ascii").strip()
        except FileNotFoundError:
            raise Unreachable(
                f"no token file {token_path} (is the daemon running? "
                "pass --socket/--token-file or --config)"
            ) from None
        except (OSError, UnicodeDecodeError) as e:
            raise Unreachable(f"cannot read token file {token_path}: {e}") from None
        return cls(socket_path, token, timeout)

    def call(
        self,
        method: str,
        params: dict[str, Any] | None = None,
        progress: Callable[[dict[str, Any]], None] | None = None,
        timeout: float | None = None,
    ) -> Any:
        """Call ``method``; returns its result or raises :class:`MgmtError`/:class:`Unreachable`."""
        rid = self._next_id
        self._next_id += 1
        req = {"id": rid, "token": self.token, "method": method, "params": params or {}}
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(timeout or self.timeout)
        try:
            try:
                s.connect(str(self.socket_path))
            except OSError as e:
                raise Unreachable(
                    f"cannot connect to the daemon at {self.socket_path}: {e.strerror or e}"
                ) from None
            s.sendall(json.dumps(req).encode() + b"\n")
            f = s.makefile("rb")
            while True:
                try:
                    line = f.readline(MAX_LINE)
                except TimeoutError:
                    raise MgmtError("timeout", f"no answer from the daemon to {method}") from None
                if not line:
                    raise Unreachable("the daemon closed the connection")
                msg = json.loads(line)
                if "progress" in msg:
                    if progress is not None:
                        progress(msg["progress"])
                    continue
                if msg.get("ok"):
                    return msg.get("result")
                err = msg.get("error") or {}
                raise MgmtError(str(err.get("code", "failed")), str(err.get("message", "")))
        finally:
            s.close()
