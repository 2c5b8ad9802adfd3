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
``internal``.
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

    def __init__(self, socket_path: Path, token_path: Path, handler: Handler) -> None:
        self.socket_path = Path(socket_path)
        self.token_path = Path(token_path)
        self.handler = handler
        self.token = ""
        self._server: asyncio.AbstractServer | None = None
        self._owns_files = False  # only a server that wrote the token removes socket and token
        self.requests = 0

    async def start(self) -> None:
        """Write a fresh token file and listen (an existing stale socket is replaced)."""
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
        self.token_path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.token_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.token + "\n")
        os.chmod(self.token_path, 0o600)
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
        try:
            while True:
                try:
                    line = await reader.readline()
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
            with contextlib.suppress(Exception):
                writer.close()

    async def _one(self, line: bytes, writer: asyncio.StreamWriter) -> None:
        self.requests += 1
        rid: Any = None
        try:
            req = json.loads(line)
            if not isinstance(req, dict):
                raise MgmtError("bad_request", "a request must be a JSON object")
            rid = req.get("id")
            token = req.get("token")
            if not isinstance(token, str) or not hmac.compare_digest(token, self.token):
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
        except json.JSONDecodeError as e:
            await _send(writer, {"id": rid, "ok": False, "error": _err("bad_request", str(e))})
        except ConnectionError:
            raise
        except Exception as e:
            log.exception("management request failed")
            await _send(
                writer,
                {"id": rid, "ok": False, "error": _err("internal", f"{type(e).__name__}: {e}")},
            )


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
            token = Path(token_path).read_text(encoding="ascii").strip()
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
